"""Reading one key of each of many campaigns in a few replies.

A pipeline of N GETs costs the client N replies to parse (redis-py spends tens of
µs of Python on each); one MGET of N keys is one reply. On a Redis Cluster the keys
of different campaigns live in different slots, which one MGET cannot span: redis-py's
`mget_nonatomic` splits them by slot there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio.cluster import RedisCluster

from warroom.adapters.redis.client import Redis

KEYS_PER_MGET = 1000


async def mget(redis: Redis, names: Sequence[str]) -> list[Any]:
    """The value of each key, in order (None where missing)."""
    out: list[Any] = []
    cluster = isinstance(redis, RedisCluster)
    for i in range(0, len(names), KEYS_PER_MGET):
        part = list(names[i : i + KEYS_PER_MGET])
        if cluster:
            out += await redis.mget_nonatomic(part)  # type: ignore[attr-defined]
        else:
            out += await redis.mget(part)
    return out
