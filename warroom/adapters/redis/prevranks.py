"""Ranks before the recent minutes (the leaderboards' arrows), kept flat in the number
of entities: each board's `prev` set holds every entity's net GMV before the recent
window and is folded forward minute by minute (`fold.lua`, once per minute by whichever
reader comes first); `prevrank.lua` answers a ZCOUNT and one score level per shown
row. See docs/hotstate.md."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from warroom.adapters.redis import keys
from warroom.core.live.aggregate import BOARDS
from warroom.core.live.ranking import prev_rank

log = logging.getLogger(__name__)
_LUA = resources.files("warroom.adapters.redis").joinpath("lua")
_FOLD_LUA = _LUA.joinpath("fold.lua").read_text()
_PREVRANK_LUA = _LUA.joinpath("prevrank.lua").read_text()


class PrevRanks:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._fold_script = redis.register_script(_FOLD_LUA)

    async def fold_to(
        self, slug: str, gen: int, recent_from_ms: int, gmv_minutes: Mapping[int, int]
    ) -> None:
        """What a bounded read with `prev` does first: bring the prev sets up to the
        recent window (for `board_position.around` after a read without prev)."""
        v = await self.redis.get(keys.prev_from(slug, gen))
        frontier = int(v) if v is not None else None
        await self.fold(slug, gen, frontier, recent_from_ms, gmv_minutes)

    async def fold(
        self,
        slug: str,
        gen: int,
        frontier: int | None,
        target: int,
        gmv_minutes: Mapping[int, int],
    ) -> None:
        """Fold the minutes that left the recent window into the `prev` sets, once."""
        for _ in range(5):
            if frontier is not None and frontier >= target:
                return
            minutes = [
                m for m in sorted(gmv_minutes) if (frontier is None or m >= frontier) and m < target
            ]
            declared = [keys.prev_from(slug, gen)]
            for m in minutes:
                for b in BOARDS:
                    declared += [keys.board_minute(slug, gen, b, m), keys.board_prev(slug, gen, b)]
            was = "" if frontier is None else str(frontier)
            try:
                res = await self._fold_script(keys=declared, args=[was, str(target)])
            except ResponseError as exc:
                # A full Redis refuses the fold's writes: read on (ranks before the
                # recent minutes lag a little) rather than fail every screen.
                log.debug("prev-rank fold skipped: %s", exc)
                return
            if res in (b"ok", "ok"):
                return
            v = await self.redis.get(keys.prev_from(slug, gen))  # another reader folded
            frontier = int(v) if v is not None else None

    def queue_rows(
        self, pipe: Any, slug: str, gen: int, b: str, ids: list[str], prev: bool = True
    ) -> None:
        if ids:
            pipe.hmget(keys.board_names(slug, gen, b), ids)
            pipe.hmget(keys.board_orders(slug, gen, b), ids)
            if prev:  # EVAL, not EVALSHA: a pipeline cannot load a missing script half-way
                pipe.eval(_PREVRANK_LUA, 1, keys.board_prev(slug, gen, b), *ids)

    def take_rows(
        self, res: Any, ids: list[str], prev: bool = True
    ) -> dict[str, tuple[str | None, int, int | None]]:
        if not ids:
            return {}
        names, orders = next(res), next(res)
        levels = next(res) if prev else [(b"", 0, [])] * len(ids)
        out: dict[str, tuple[str | None, int, int | None]] = {}
        for x, name, n, (score, above, level) in zip(ids, names, orders, levels, strict=True):
            rank = prev_rank(x, int(above), (y.decode() for y in level)) if score else None
            out[x] = (name.decode() if name is not None else None, int(n or 0), rank)
        return out
