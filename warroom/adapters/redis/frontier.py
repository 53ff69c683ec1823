"""How far each campaign's stream has been applied, read for many campaigns in a few
round trips: the watermark's Redis half (services/watermark.py says what it means).

One campaign's answer takes three reads (the newest entry, the group's last delivered
id, the oldest pending) and sometimes a fourth (the oldest entry not yet delivered).
Reading them one campaign at a time cost a round trip each: a scrape of /metrics with
10,000 live campaigns was 40,000 of them. Here they go in pipelines of `CHUNK`
campaigns, so the cost is in Redis's work, not in waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis

from warroom.adapters.redis import keys
from warroom.adapters.redis.bulk import mget
from warroom.adapters.redis.streams import group_name, id_tuple

CHUNK = 500  # campaigns per pipeline: about 2,000 commands, a bounded reply


async def applied_before_real_ms(redis: Redis, slug: str, now_real_ms: int) -> int | None:
    """Real time (Redis clock) before which every stream entry of the campaign has been
    applied; None when that cannot be known (no stream or no consumer group: the hot
    state was lost and is being restored)."""
    return (await applied_before_many(redis, [slug], now_real_ms))[0]


async def applied_before_many(
    redis: Redis, slugs: Sequence[str], now_real_ms: int
) -> list[int | None]:
    """`applied_before_real_ms` of each campaign, in order."""
    out: list[int | None] = []
    for i in range(0, len(slugs), CHUNK):
        out += await _chunk(redis, slugs[i : i + CHUNK], now_real_ms)
    return out


async def _chunk(redis: Redis, slugs: Sequence[str], now_real_ms: int) -> list[int | None]:
    pipe = redis.pipeline(transaction=False)
    for slug in slugs:
        name = keys.stream(slug)
        pipe.xrevrange(name, count=1)
        pipe.xinfo_groups(name)
        pipe.xpending(name, keys.AGG_GROUP)
    got = await pipe.execute(raise_on_error=False)
    frontiers: list[int | None] = []
    unread_after: dict[int, bytes] = {}  # campaign index -> last delivered id
    for n in range(len(slugs)):
        newest_res, groups_res, pending_res = got[3 * n : 3 * n + 3]
        frontier, last = _frontier(now_real_ms, newest_res, groups_res, pending_res)
        frontiers.append(frontier)
        if last is not None:
            unread_after[n] = last
    if unread_after:
        # Entries the group has not delivered yet: the oldest of them bounds the frontier.
        pipe = redis.pipeline(transaction=False)
        for n, last in unread_after.items():
            pipe.xrange(keys.stream(slugs[n]), min=b"(" + last, count=1)
        for n, unread in zip(unread_after, await pipe.execute(), strict=True):
            frontier = frontiers[n]
            if unread and frontier is not None:  # XRANGE answers ids
                frontiers[n] = min(frontier, id_tuple(cast(bytes, unread[0][0]))[0])
    return frontiers


def _frontier(
    now_real_ms: int, newest_res: Any, groups_res: Any, pending_res: Any
) -> tuple[int | None, bytes | None]:
    """The frontier from the three reads, and the last delivered id when entries newer
    than it wait undelivered (their oldest must be read too)."""
    if not isinstance(groups_res, list):
        return None, None
    group = next((g for g in groups_res if group_name(g.get("name")) == keys.AGG_GROUP), None)
    if group is None:
        return None, None
    frontier = now_real_ms
    if isinstance(pending_res, dict) and pending_res.get("pending"):
        frontier = min(frontier, id_tuple(pending_res["min"])[0])
    if isinstance(newest_res, list) and newest_res:
        last = group["last-delivered-id"]
        if id_tuple(newest_res[0][0]) > id_tuple(last):
            return frontier, last if isinstance(last, bytes) else str(last).encode()
    return frontier, None


async def restoring_many(redis: Redis, slugs: Sequence[str]) -> list[bool]:
    """`HotState.restoring` of each campaign (its live-generation pointer missing)."""
    return [gen is None for gen in await mget(redis, [keys.generation(s) for s in slugs])]
