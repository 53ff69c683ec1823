"""Hot state in Redis: apply a batch plan atomically, read the raw figures back."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any, Literal, cast, overload

import orjson
from redis.asyncio import Redis

from warroom.adapters.redis import keys
from warroom.adapters.redis.prevranks import PrevRanks
from warroom.core.live.aggregate import BOARDS, BatchPlan, plan_batch
from warroom.core.live.ranking import rank_order
from warroom.core.live.shapes import RawState, RawTotals, ReportItem, StimulusItem

log = logging.getLogger(__name__)
_LUA = resources.files("warroom.adapters.redis").joinpath("lua")
_APPLY_LUA = _LUA.joinpath("apply.lua").read_text()
_PUSH_FEED_LUA = _LUA.joinpath("push_feed.lua").read_text()


def _tied_at_cut(head: dict[str, int], top: int) -> bool:
    ordered = sorted(head.values(), reverse=True)
    return ordered[top - 1] == ordered[top]


def empty_raw(restoring: bool) -> RawState:
    return RawState(
        totals={},
        minutes={m: {} for m in MINUTE_METRICS},
        boards={b: {} for b in BOARDS},
        board_orders={b: {} for b in BOARDS},
        board_names={b: {} for b in BOARDS},
        restoring=restoring,
    )


# Per-minute series: `refund` by the refund's minute, `newbuyers` the buyers whose
# earliest order falls in that minute (cumulative sums give settled figures as of T).
MINUTE_METRICS = ("gmv", "orders", "messages", "buyers", "refund", "newbuyers")


def _ints(mapping: dict[bytes, bytes]) -> dict[int, int]:
    return {int(k): int(v) for k, v in mapping.items()}


def _text_ints(mapping: dict[bytes, bytes]) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in mapping.items()}


def _filling(
    raw: RawState,
) -> tuple[
    dict[str, dict[str, int]],
    dict[str, dict[str, int]],
    dict[str, dict[str, str]],
    dict[str, dict[int, dict[str, int]]],
    dict[str, dict[str, int | None]],
]:
    """The board fields of a `RawState` that `HotState._head` just built (empty dicts),
    typed as the dicts they are while a read fills them (`RawState` shows them
    read-only). The same objects: nothing is copied."""
    return cast(
        tuple[
            dict[str, dict[str, int]],
            dict[str, dict[str, int]],
            dict[str, dict[str, str]],
            dict[str, dict[int, dict[str, int]]],
            dict[str, dict[str, int | None]],
        ],
        (raw.boards, raw.board_orders, raw.board_names, raw.board_minutes, raw.board_prev),
    )


async def init_generation(redis: Redis, slug: str) -> None:
    """A new campaign starts with an empty live generation (never over an old one)."""
    if await redis.exists(keys.generation(slug)):
        return
    gen = await redis.incr(keys.generation_seq(slug))
    await redis.set(keys.generation(slug), gen, nx=True)


class HotState:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._apply = redis.register_script(_APPLY_LUA)
        self._push_feed = redis.register_script(_PUSH_FEED_LUA)
        self.prev = PrevRanks(redis)
        self._gens: dict[str, list[str]] = {}  # slug -> generations last seen

    async def apply(
        self, slug: str, events: list[dict[str, Any]], now_ms: int, only_gen: int | None = None
    ) -> int:
        """Apply events (each with a `lid`) at most once each to every generation present
        (or to `only_gen`); returns how many were new. Events arriving while the hot
        state is lost are dropped here: the restore replays the ledger, which has them."""
        pending = {e["lid"]: e for e in events}
        if not pending:
            return 0
        only = "" if only_gen is None else str(only_gen)
        result = await self._apply_plan(slug, plan_batch(pending.values()), now_ms, only)
        if result in ("ok", "lost", "gone"):
            return len(pending) if result == "ok" else 0
        # Some were applied already (redelivery after a crash, or a rebuild replaying
        # the ledger): per generation, drop those and apply the rest.
        applied = 0
        for gen, seen in orjson.loads(result).items():
            rest = dict(pending)
            for lid in seen or ():
                rest.pop(int(lid), None)
            while rest:
                res = await self._apply_plan(slug, plan_batch(rest.values()), now_ms, gen)
                if res == "ok":
                    applied = max(applied, len(rest))
                    break
                if res in ("gone", "lost"):
                    break
                for lid in orjson.loads(res).get(gen) or ():
                    rest.pop(int(lid), None)
        return applied

    async def _apply_plan(self, slug: str, plan: BatchPlan, now_ms: int, only: str) -> str:
        """Run the apply script with every key it may touch declared (Redis Cluster);
        the generations are cached and re-read when the script says they moved."""
        payload = orjson.dumps(plan.as_payload(now_ms))
        for _ in range(20):
            gens = self._gens.get(slug)
            if gens is None:
                gens = await self._read_gens(slug)
            targets = [only] if only else gens
            declared = [keys.generation(slug), keys.next_generation(slug)]
            for g in targets:
                declared += keys.apply_keys(keys.gen_prefix(slug, int(g)), plan)
            expect = orjson.dumps([int(g) for g in targets])
            res = await self._apply(keys=declared, args=[payload, only, expect])
            text = res.decode() if isinstance(res, bytes) else str(res)
            if text != "stale":
                return text
            self._gens.pop(slug, None)
        raise RuntimeError(f"generations of {slug!r} keep moving")

    async def _read_gens(self, slug: str) -> list[str]:
        live, nxt = cast(  # not decoded: bytes
            list[bytes | None],
            await self.redis.mget(keys.generation(slug), keys.next_generation(slug)),
        )
        gens = [g.decode() for g in (live, nxt) if g is not None]
        if len(gens) == 2 and gens[0] == gens[1]:
            gens.pop()
        self._gens[slug] = gens
        return gens

    # generations -------------------------------------------------------------------

    async def generation(self, slug: str) -> int | None:
        v = await self.redis.get(keys.generation(slug))
        return int(v) if v is not None else None

    async def init_generation(self, slug: str) -> None:
        await init_generation(self.redis, slug)

    async def begin_generation(self, slug: str) -> int:
        """Open generation n+1 beside the live one; from now on every batch the
        aggregators apply lands in both, so the replay misses nothing."""
        gen = int(await self.redis.incr(keys.generation_seq(slug)))
        await self._delete_generation(slug, gen)  # leftovers of a partial wipe
        await self.redis.set(keys.next_generation(slug), gen)
        return gen

    async def switch_generation(self, slug: str, gen: int, keep_old_s: int = 30) -> int | None:
        """Make `gen` the live generation in one step. The old one expires a little
        later, so a reader that fetched the old pointer still reads whole figures."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(keys.generation(slug))
        pipe.set(keys.generation(slug), gen)
        pipe.delete(keys.next_generation(slug))
        old_raw, *_ = await pipe.execute()
        self._gens.pop(slug, None)
        await self.redis.publish(keys.CHANGED_CHANNEL, slug)
        old = int(old_raw) if old_raw is not None else None
        if old is not None and old != gen:
            await self._expire_generation(slug, old, keep_old_s)
        return old

    async def abandon_generation(self, slug: str, gen: int) -> None:
        """A rebuild that failed: drop its half-built generation."""
        if await self.redis.get(keys.next_generation(slug)) == str(gen).encode():
            await self.redis.delete(keys.next_generation(slug))
        await self._delete_generation(slug, gen)

    async def _gen_keys(self, slug: str, gen: int) -> list[bytes]:
        return [
            k async for k in self.redis.scan_iter(match=keys.gen_pattern(slug, gen), count=1000)
        ]

    async def _delete_generation(self, slug: str, gen: int) -> None:
        doomed = await self._gen_keys(slug, gen)
        for i in range(0, len(doomed), 500):
            await self.redis.unlink(*doomed[i : i + 500])

    async def _expire_generation(self, slug: str, gen: int, seconds: int) -> None:
        doomed = await self._gen_keys(slug, gen)
        for i in range(0, len(doomed), 500):
            pipe = self.redis.pipeline(transaction=False)
            for k in doomed[i : i + 500]:
                pipe.expire(k, seconds)
            await pipe.execute()

    async def read(
        self, slug: str, recent_from_ms: int, top: int | None = None, prev: bool = True
    ) -> RawState:
        """The raw figures. With `top`, boards hold only the top rows (with their
        names, orders and `board_prev` ranks): a read bounded by what is shown and by
        recent activity, flat in the number of sellers, groups and products. Without
        `prev` (a list of names, no arrows) the prev ranks are left out (all None)."""
        gen = await self.generation(slug)
        if gen is None:
            return empty_raw(restoring=True)
        if top is not None:
            return await self._read_top(slug, gen, recent_from_ms, top, prev)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.totals(slug, gen))
        metrics = MINUTE_METRICS
        for m in metrics:
            pipe.hgetall(keys.minute_metric(slug, gen, m))
        for b in BOARDS:
            pipe.zrange(keys.board(slug, gen, b), 0, -1, withscores=True, score_cast_func=int)
            pipe.hgetall(keys.board_orders(slug, gen, b))
            pipe.hgetall(keys.board_names(slug, gen, b))
        res = await pipe.execute()
        raw = self._head(res, gen)
        boards, board_orders, board_names, board_minutes, _ = _filling(raw)
        n = 1 + len(metrics)
        for i, b in enumerate(BOARDS):
            zs, orders, names = res[n + 3 * i : n + 3 + 3 * i]
            boards[b] = {k.decode(): int(v) for k, v in zs}
            board_orders[b] = _text_ints(orders)
            board_names[b] = {k.decode(): v.decode() for k, v in names.items()}
        recent = sorted(m for m in raw.minutes["gmv"] if m >= recent_from_ms)
        if recent:
            pipe = self.redis.pipeline(transaction=False)
            for b in BOARDS:
                for minute in recent:
                    pipe.zrange(keys.board_minute(slug, gen, b, minute), 0, -1, withscores=True)
            replies = iter(await pipe.execute())
            for b in BOARDS:
                board_minutes[b] = {
                    m: {k.decode(): int(v) for k, v in next(replies)} for m in recent
                }
        return raw

    async def read_series(self, slug: str) -> RawState:
        """Totals and the minute series only, in one pipeline (no board is read, no
        prev rank folded): what the trigger tick schedules reports and judges rules on."""
        gen = await self.generation(slug)
        if gen is None:
            return empty_raw(restoring=True)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.totals(slug, gen))
        for m in MINUTE_METRICS:
            pipe.hgetall(keys.minute_metric(slug, gen, m))
        return self._head(await pipe.execute(), gen)

    def _head(self, res: list[Any], gen: int) -> RawState:
        totals = cast(RawTotals, {k.decode(): int(v) for k, v in res[0].items()})
        minutes = {m: _ints(res[1 + i]) for i, m in enumerate(MINUTE_METRICS)}
        return RawState(
            totals=totals,
            minutes=minutes,
            boards={},
            board_orders={},
            board_names={},
            generation=gen,
        )

    async def _read_top(
        self, slug: str, gen: int, recent_from_ms: int, top: int, prev: bool = True
    ) -> RawState:
        # Round 1: totals, minutes, the fold frontier and the top rows of each board.
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.totals(slug, gen))
        for m in MINUTE_METRICS:
            pipe.hgetall(keys.minute_metric(slug, gen, m))
        pipe.get(keys.prev_from(slug, gen))
        for b in BOARDS:
            pipe.zrevrange(keys.board(slug, gen, b), 0, top, withscores=True, score_cast_func=int)
        res = await pipe.execute()
        raw = self._head(res, gen)
        n = 1 + len(MINUTE_METRICS)
        frontier = int(res[n]) if res[n] is not None else None
        heads = {b: {k.decode(): int(v) for k, v in res[n + 1 + i]} for i, b in enumerate(BOARDS)}
        if prev:
            await self.prev.fold(slug, gen, frontier, recent_from_ms, raw.minutes["gmv"])
        # Round 2: ties at the cut, names, orders and what the prev ranks need.
        pipe = self.redis.pipeline(transaction=False)
        cut = {b: len(h) > top and _tied_at_cut(h, top) for b, h in heads.items()}
        for b in BOARDS:
            head = heads[b]
            if cut[b]:
                t = sorted(head.values(), reverse=True)[top - 1]
                # same score: Redis orders by member, so the first ones are the smallest ids
                pipe.zrangebyscore(
                    keys.board(slug, gen, b), t, t, start=0, num=top + len(head),
                    withscores=True, score_cast_func=int,
                )  # fmt: skip
            self.prev.queue_rows(pipe, slug, gen, b, list(head), prev)
        replies = iter(await pipe.execute())
        boards, board_orders, board_names, _, board_prev = _filling(raw)
        for b in BOARDS:
            scores = dict(heads[b])
            if cut[b]:
                scores.update({k.decode(): int(v) for k, v in next(replies)})
            rows = self.prev.take_rows(replies, list(heads[b]), prev)
            chosen = rank_order(scores)[:top]
            missing = [x for x in chosen if x not in rows]
            if missing:  # a tie at the cut brought in rows not fetched yet (rare)
                more = self.redis.pipeline(transaction=False)
                self.prev.queue_rows(more, slug, gen, b, missing, prev)
                rows.update(self.prev.take_rows(iter(await more.execute()), missing, prev))
            boards[b] = {x: scores[x] for x in chosen}
            board_orders[b] = {x: rows[x][1] for x in chosen}
            board_names[b] = {x: cast(str, rows[x][0]) for x in chosen if rows[x][0] is not None}
            board_prev[b] = {x: rows[x][2] for x in chosen}
        return raw

    async def push_feed(self, slug: str, kind: str, item: ReportItem | StimulusItem) -> bool:
        """Put a report or stimulus on the live feed once (by its id, in id order) and
        hint every web process; False (and no hint) when it was there already."""
        key = keys.feed(slug, kind)
        args = [orjson.dumps(item), item["id"], keys.FEED_KEEP]
        if not int(await self._push_feed(keys=[key], args=args)):
            return False
        # after the script: a cluster pipeline refuses PUBLISH (it is broadcast)
        await self.redis.publish(keys.CHANGED_CHANNEL, slug)
        return True

    async def replace_feed(
        self, slug: str, kind: str, items: list[ReportItem] | list[StimulusItem]
    ) -> None:
        """Rewrite a feed whose entries changed (a fire's uplift became known)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.feed(slug, kind))
        if items:
            pipe.rpush(keys.feed(slug, kind), *(orjson.dumps(i) for i in items[-keys.FEED_KEEP :]))
        await pipe.execute()
        # after the transaction: a cluster pipeline refuses PUBLISH (it is broadcast)
        await self.redis.publish(keys.CHANGED_CHANNEL, slug)

    @overload
    async def read_feed(
        self, slug: str, kind: Literal["reports"], newest: int = keys.FEED_KEEP
    ) -> list[ReportItem]: ...

    @overload
    async def read_feed(
        self, slug: str, kind: Literal["stimuli"], newest: int = keys.FEED_KEEP
    ) -> list[StimulusItem]: ...

    async def read_feed(self, slug: str, kind: str, newest: int = keys.FEED_KEEP) -> list[Any]:
        """A live feed as pushed: `report_view` items or `fire_view` items."""
        items = await self.redis.lrange(keys.feed(slug, kind), -newest, -1)
        return [orjson.loads(i) for i in items]

    async def group_sales(self, slug: str) -> dict[str, int] | None:
        """Net GMV (fen) so far of every group with an order (the groups board); None
        while the figures are restoring."""
        gen = await self.generation(slug)
        if gen is None:
            return None
        rows = await self.redis.zrange(
            keys.board(slug, gen, "groups"), 0, -1, withscores=True, score_cast_func=int
        )
        pairs = cast(list[tuple[bytes, int]], rows)
        return {k.decode(): int(v) for k, v in pairs}

    async def restoring(self, slug: str) -> bool:
        """True while the campaign's figures are lost or being restored (no report,
        rule or screen may use them): the live-generation pointer is missing."""
        return not await self.redis.exists(keys.generation(slug))

    async def last_applied_ms(self, slug: str) -> int | None:
        gen = await self.generation(slug)
        if gen is None:
            return None
        v = await self.redis.hget(keys.totals(slug, gen), "applied_at")
        return int(v) if v else None
