"""Hot state in Redis: apply a batch plan atomically, read the raw figures back."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson
from redis.asyncio import Redis

from warroom.adapters import keys
from warroom.core.aggregate import BOARDS, plan_batch

log = logging.getLogger(__name__)
_APPLY_LUA = resources.files("warroom.adapters").joinpath("lua/apply.lua").read_text()


@dataclass
class RawState:
    """What the snapshot is computed from, as read from Redis."""

    totals: dict[str, int]
    minutes: dict[str, dict[int, int]]
    boards: dict[str, dict[str, int]]  # board -> entity -> net gmv
    board_orders: dict[str, dict[str, int]]
    board_names: dict[str, dict[str, str]]
    board_minutes: dict[str, dict[int, dict[str, int]]] = field(default_factory=dict)


def _ints(mapping: dict[bytes, bytes]) -> dict[int, int]:
    return {int(k): int(v) for k, v in mapping.items()}


def _text_ints(mapping: dict[bytes, bytes]) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in mapping.items()}


class HotState:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._apply = redis.register_script(_APPLY_LUA)

    async def apply(self, slug: str, events: list[dict[str, Any]], now_ms: int) -> int:
        """Apply events (each with a `lid`) at most once each; returns how many were new."""
        pending = {e["lid"]: e for e in events}
        while pending:
            plan = plan_batch(pending.values())
            payload = orjson.dumps(plan.as_payload(now_ms))
            result = await self._apply(keys=[keys.prefix(slug)], args=[payload])
            if result in (b"ok", "ok"):
                return len(pending)
            # Some were applied already (redelivery after a crash): drop them, re-plan.
            for lid in orjson.loads(result):
                pending.pop(int(lid), None)
        return 0

    async def read(self, slug: str, recent_from_ms: int) -> RawState:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.totals(slug))
        metrics = ("gmv", "orders", "messages", "buyers")
        for m in metrics:
            pipe.hgetall(keys.minute_metric(slug, m))
        for b in BOARDS:
            pipe.zrange(keys.board(slug, b), 0, -1, withscores=True, score_cast_func=int)
            pipe.hgetall(keys.board_orders(slug, b))
            pipe.hgetall(keys.board_names(slug, b))
        res = await pipe.execute()
        totals = {k.decode(): int(v) for k, v in res[0].items()}
        minutes = {m: _ints(res[1 + i]) for i, m in enumerate(metrics)}
        raw = RawState(totals=totals, minutes=minutes, boards={}, board_orders={}, board_names={})
        for i, b in enumerate(BOARDS):
            zs, orders, names = res[5 + 3 * i : 8 + 3 * i]
            raw.boards[b] = {k.decode(): int(v) for k, v in zs}
            raw.board_orders[b] = _text_ints(orders)
            raw.board_names[b] = {k.decode(): v.decode() for k, v in names.items()}
        recent = sorted(m for m in minutes["gmv"] if m >= recent_from_ms)
        if recent:
            pipe = self.redis.pipeline(transaction=False)
            for b in BOARDS:
                for m in recent:
                    pipe.zrange(keys.board_minute(slug, b, m), 0, -1, withscores=True)
            res = iter(await pipe.execute())
            for b in BOARDS:
                raw.board_minutes[b] = {
                    m: {k.decode(): int(v) for k, v in next(res)} for m in recent
                }
        return raw

    async def push_feed(self, slug: str, kind: str, item: dict[str, Any]) -> None:
        """Append a report or stimulus to the live feed and hint every web process."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(keys.feed(slug, kind), orjson.dumps(item))
        pipe.ltrim(keys.feed(slug, kind), -keys.FEED_KEEP, -1)
        pipe.publish(keys.CHANGED_CHANNEL, slug)
        await pipe.execute()

    async def replace_feed(self, slug: str, kind: str, items: list[dict[str, Any]]) -> None:
        """Rewrite a feed whose entries changed (a fire's uplift became known)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.feed(slug, kind))
        if items:
            pipe.rpush(keys.feed(slug, kind), *(orjson.dumps(i) for i in items[-keys.FEED_KEEP :]))
        pipe.publish(keys.CHANGED_CHANNEL, slug)
        await pipe.execute()

    async def read_feed(
        self, slug: str, kind: str, newest: int = keys.FEED_KEEP
    ) -> list[dict[str, Any]]:
        items = await self.redis.lrange(keys.feed(slug, kind), -newest, -1)
        return [orjson.loads(i) for i in items]

    async def restoring(self, slug: str) -> bool:
        """True while the campaign's figures are lost or being restored (no report,
        rule or screen may use them). Interface first; generations fill it in."""
        return False

    async def last_applied_ms(self, slug: str) -> int | None:
        v = await self.redis.hget(keys.totals(slug), "applied_at")
        return int(v) if v else None

    async def wipe(self, slug: str) -> int:
        """Delete a campaign's aggregates (not its stream): the start of a rebuild."""
        doomed = []
        stream, dead = keys.stream(slug), keys.dead_letters(slug)
        async for key in self.redis.scan_iter(match=keys.pattern(slug), count=1000):
            if key.decode() not in (stream, dead) and b":claim:" not in key:
                doomed.append(key)
        for i in range(0, len(doomed), 500):
            await self.redis.unlink(*doomed[i : i + 500])
        return len(doomed)
