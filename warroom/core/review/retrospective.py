"""The retrospective (复盘), computed from ledger rows alone. Pure: no I/O, `now` is an
argument.

One pass over the ledger in id order (`ReviewBuilder.add`), then `finish`. Memory
follows entities (sellers, groups, products, buyers, member-group pairs), never the
number of orders: the only per-order state kept is for orders that a refund names,
which the caller lists up front (`refunds`, a first, cheap pass over refund rows).

Definitions, matching the live path (apply.lua) so the page equals the screens:
- GMV counts paid orders at their `ts`; a refund takes at most what is left of its
  order (in ledger order), is dated at its own `ts`, and a refund whose order never
  arrived counts nothing.
- A member is in a group when their latest member event there (by `ts`, then key) is
  a join; `members` are distinct people in at least one group.
- A late event arrived (real time) after the final report was written.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from warroom.core.ingest.clock import MINUTE_MS, minute_floor
from warroom.core.live.aggregate import BOARDS
from warroom.core.review.shapes import LateRow

LATE_LISTED = 200


@dataclass(frozen=True)
class Refund:
    lid: int
    order_id: str
    amount_fen: int
    ts: int


@dataclass
class Board:
    gross: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    refund: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    orders: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    names: dict[str, str] = field(default_factory=dict)
    # net GMV per entity per checkpoint bucket (see ReviewBuilder.marks)
    buckets: dict[str, list[int]] = field(default_factory=dict)

    def net(self, ident: str) -> int:
        return self.gross[ident] - self.refund[ident]


@dataclass
class Facts:
    """Everything counted from the ledger, before any presentation."""

    gmv_by_minute: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    orders_by_minute: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    refund_by_minute: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    messages_by_minute: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    joins_by_minute: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    leaves_by_minute: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    gmv: int = 0
    refund: int = 0
    orders: int = 0
    items: int = 0
    messages: int = 0
    events: int = 0
    buyers: set[str] = field(default_factory=set)
    writers: set[str] = field(default_factory=set)
    boards: dict[str, Board] = field(default_factory=lambda: {b: Board() for b in BOARDS})
    latest: dict[tuple[str, str], tuple[int, str, str]] = field(default_factory=dict)
    late: list[LateRow] = field(default_factory=list)
    late_count: int = 0
    late_by_type: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def net_gmv(self) -> int:
        return self.gmv - self.refund

    def members(self) -> int:
        return len({m for (m, _g), v in self.latest.items() if v[2] == "join"})

    def ever_joined(self) -> int:
        return len({m for (m, _g) in self.latest})


class ReviewBuilder:
    """Feed ledger rows in id order with `add`, then read `facts` after `finish`."""

    def __init__(
        self,
        marks: list[int],
        refunds: Iterable[Refund],
        late_after_real_ms: int | None,
    ) -> None:
        # marks: checkpoint instants (hour marks, then the end); bucket i of an entity
        # holds what it sold with ts in [marks[i-1], marks[i]).
        self.marks = marks
        self.refunds = sorted(refunds, key=lambda r: r.lid)
        self._wanted = {r.order_id for r in self.refunds}
        self._orders: dict[str, tuple[int, str, str, str]] = {}
        self.late_after = late_after_real_ms
        self.facts = Facts()
        self._boards = [
            (self.facts.boards[b], f"{prefix}_id", f"{prefix}_name") for b, prefix in BOARDS.items()
        ]

    def _bucket(self, board: Board, ident: str, index: int, amount: int, ts: int) -> None:
        """`ts`: the instant the amount is dated at (a subclass may keep finer buckets)."""
        row = board.buckets.get(ident)
        if row is None:
            row = board.buckets[ident] = [0] * (len(self.marks) + 1)
        row[index] += amount

    def add(self, lid: int, kind: str, ts: int, received_ms: int, e: Mapping[str, Any]) -> None:
        """One ledger row (the scan's hot loop: a few µs per event)."""
        f = self.facts
        f.events += 1
        minute = ts - ts % MINUTE_MS
        if self.late_after is not None and received_ms > self.late_after:
            f.late_count += 1
            f.late_by_type[kind] += 1
            if len(f.late) < LATE_LISTED:
                f.late.append(
                    {"lid": lid, "type": kind, "key": e.get("key", ""), "ts": ts,
                     "received_ms": received_ms, "amount_fen": e.get("amount_fen")}
                )  # fmt: skip
        if kind == "order":
            amount = e["amount_fen"]
            f.gmv += amount
            f.orders += 1
            f.items += e.get("quantity", 1)
            f.gmv_by_minute[minute] += amount
            f.orders_by_minute[minute] += 1
            f.buyers.add(e["buyer_id"])
            index = bisect_right(self.marks, ts)
            for board, id_field, name_field in self._boards:
                ident = e[id_field]
                board.gross[ident] += amount
                board.orders[ident] += 1
                name = e.get(name_field)
                if name is not None:
                    board.names[ident] = name
                self._bucket(board, ident, index, amount, ts)
            oid = e["order_id"]
            if oid in self._wanted:
                self._orders[oid] = (amount, e["seller_id"], e["group_id"], e["product_id"])
        elif kind == "message":
            f.messages += 1
            f.messages_by_minute[minute] += 1
            f.writers.add(e["member_id"])
        elif kind == "member":
            k = (e["member_id"], e["group_id"])
            cand = (ts, e["key"], e["action"])
            old = f.latest.get(k)
            if old is None or cand[:2] > old[:2]:
                f.latest[k] = cand
            if e["action"] == "join":
                f.joins_by_minute[minute] += 1
            else:
                f.leaves_by_minute[minute] += 1

    def finish(self) -> Facts:
        f = self.facts
        done: dict[str, int] = defaultdict(int)
        for r in self.refunds:  # ledger order, each capped by what is left of its order
            info = self._orders.get(r.order_id)
            if info is None:
                continue  # its order never arrived: nothing to take back
            amount, seller, group, product = info
            x = min(r.amount_fen, amount - done[r.order_id])
            if x <= 0:
                continue
            done[r.order_id] += x
            at = self._refund_ts(r)
            f.refund += x
            f.refund_by_minute[minute_floor(at)] += x
            for b, ident in zip(BOARDS, (seller, group, product), strict=True):
                f.boards[b].refund[ident] += x
                self._bucket(f.boards[b], ident, bisect_right(self.marks, at), -x, at)
        return f

    def _refund_ts(self, r: Refund) -> int:
        """The instant a refund counts at: its own `ts` (the replay, which shows every
        instant, dates it no earlier than its order)."""
        return r.ts


def ranked(board: Board) -> list[str]:
    """Every entity, highest net GMV first, ties by id (as the live leaderboards)."""
    return sorted(board.gross, key=lambda k: (-board.net(k), k))


def rank_history(board: Board, marks: list[int], idents: list[str]) -> dict[str, list[int | None]]:
    """Each entity's rank at each mark (ts strictly before it), among entities with a
    positive net GMV by then; None when it was not on the board yet."""
    cumulative: dict[str, list[int]] = {}
    for ident, row in board.buckets.items():
        running, out = 0, []
        for i in range(len(marks)):
            running += row[i]
            out.append(running)
        cumulative[ident] = out
    history: dict[str, list[int | None]] = {i: [] for i in idents}
    for m in range(len(marks)):
        standing = sorted(
            (k for k, v in cumulative.items() if v[m] > 0), key=lambda k: (-cumulative[k][m], k)
        )
        pos = {k: n + 1 for n, k in enumerate(standing)}
        for ident in idents:
            history[ident].append(pos.get(ident))
    return history


def peak_window(by_minute: Mapping[int, int], minutes: int) -> tuple[int | None, int]:
    """(start minute, sum) of the `minutes` consecutive minutes that sold the most
    (earliest on a tie); (None, 0) when nothing sold."""
    if not by_minute:
        return None, 0
    first, last = min(by_minute), max(by_minute)
    best_at, best, running = None, -1, 0
    span = minutes * MINUTE_MS
    for m in range(first, last + MINUTE_MS, MINUTE_MS):
        running += by_minute.get(m, 0)
        if m - span >= first:
            running -= by_minute.get(m - span, 0)
        start = max(first, m - span + MINUTE_MS)
        if running > best:
            best_at, best = start, running
    return best_at, best
