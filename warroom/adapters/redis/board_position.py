"""One entity's place on a board, read in a few bounded steps: its rank and its
neighbours above and below, with names, orders and ranks before the recent minutes.

The host's own-rank card needs exactly this; reading the whole seller board per host
page (as it did) costs a round trip of every seller at 10,000 of them. Ranks follow
`core.snapshot.rank`: net GMV descending, ties by id ascending. Redis orders equal
scores by member bytes, and UTF-8 byte order is code point order, which is Python's
string order, so the two agree.
"""

from __future__ import annotations

from typing import Any, cast

from warroom.adapters.redis import keys
from warroom.adapters.redis.hotstate import HotState

# The client does not decode replies: members come back as bytes (casts below).


async def around(
    hot: HotState, slug: str, gen: int, board: str, ident: str
) -> dict[str, dict[str, Any] | None] | None:
    """{"above": row, "row": row, "below": row} in the leaderboard's row shape (None
    for a missing neighbour), or None when `ident` is not on the board. Call after a
    bounded `HotState.read` of the same generation (it folds the prev-rank sets)."""
    key = keys.board(slug, gen, board)
    score_raw = await hot.redis.zscore(key, ident)
    if score_raw is None:
        return None
    score = int(score_raw)
    pipe = hot.redis.pipeline(transaction=False)
    pipe.zcount(key, f"({score}", "+inf")
    pipe.zrangebyscore(key, score, score)  # the ties, in rank order
    pipe.zrangebyscore(key, f"({score}", "+inf", start=0, num=1, withscores=True)
    pipe.zrevrangebyscore(key, f"({score}", "-inf", start=0, num=1, withscores=True)
    higher, tied, up, down = await pipe.execute()
    ties = [t.decode() for t in tied]
    i = ties.index(ident)
    rank = int(higher) + i + 1
    above = (ties[i - 1], score) if i > 0 else None
    below = (ties[i + 1], score) if i + 1 < len(ties) else None
    if above is None and up:
        # the next score up; of its members, the one ranked last: the largest id
        s = int(up[0][1])
        top = cast(list[bytes], await hot.redis.zrevrangebyscore(key, s, s, start=0, num=1))
        above = (top[0].decode(), s)
    if below is None and down:
        s = int(down[0][1])  # the next score down; its first-ranked member: the smallest id
        low = cast(list[bytes], await hot.redis.zrangebyscore(key, s, s, start=0, num=1))
        below = (low[0].decode(), s)
    places = {"above": (above, rank - 1), "row": ((ident, score), rank), "below": (below, rank + 1)}
    ids = [p[0][0] for p in places.values() if p[0] is not None]
    pipe = hot.redis.pipeline(transaction=False)
    hot.prev.queue_rows(pipe, slug, gen, board, ids)
    rows = hot.prev.take_rows(iter(await pipe.execute()), ids)
    out: dict[str, dict[str, Any] | None] = {}
    for name, (entity, at) in places.items():
        if entity is None:
            out[name] = None
            continue
        x, net = entity
        shown, orders, prev = rows[x]
        out[name] = {
            "id": x,
            "name": shown if shown is not None else x,
            "net_gmv_fen": net,
            "orders": orders,
            "rank": at,
            "prev_rank": prev,
        }
    return out


async def board_size(hot: HotState, slug: str, gen: int, board: str) -> int:
    return int(await hot.redis.zcard(keys.board(slug, gen, board)))
