"""Time travel: a finished campaign replayed on the big screen from its ledger. Pure.

`ReplayBuilder` is the retrospective's one pass over the ledger (core/review/retrospective.py: refunds
capped per order in ledger order, memory that follows entities, never orders) with a
few per-minute extras: items, first purchases and first messages, the latest event
time, member events, and each board's net GMV and order count per minute. `Replay`
keeps only those per-minute aggregates; `Replay.frame(as_of)` is the snapshot as it
stood at a minute boundary, through the live path's own `snapshot_as_of`, so replayed
figures are the figures the screen showed (or would have shown).

Replays move minute by minute: at 60x one campaign minute per real second.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import MINUTE_MS, minute_floor, rfc3339
from warroom.core.live.aggregate import BOARDS
from warroom.core.live.shapes import (
    RawState,
    RawTotals,
    ReportItem,
    Snapshot,
    StimulusItem,
    UpdateFrame,
)
from warroom.core.live.snapshot import recent_from, snapshot_as_of
from warroom.core.review.retrospective import Board, Refund, ReviewBuilder
from warroom.core.review.series import Series, Stepped, members_series, series_of

SPEED_MIN = 1.0
SPEED_MAX = 600.0
# Never more than this many frames a second, whatever the speed: at 600x several
# campaign minutes pass per frame and the screen jumps to the latest.
MAX_FRAMES_PER_S = 4.0
_NUMBER = re.compile(r"\d{1,4}(\.\d{1,3})?")


class BadSpeed(ValueError):
    """`replay=` is not a speed we replay at; the message is for the page (Chinese)."""


def parse_speed(text: str | None) -> float:
    """`replay=N`: N campaign seconds per real second, a plain decimal from 1 to 600
    (`1` is real time, not "on"). NaN, inf, negatives, exponents and words are refused
    rather than clamped: a typo should not start a seven-hour replay."""
    raw = (text or "").strip()
    if not _NUMBER.fullmatch(raw):
        raise BadSpeed(f"回放速度必须是 {SPEED_MIN:g} 到 {SPEED_MAX:g} 之间的数字，例如 replay=60")
    speed = float(raw)
    if not SPEED_MIN <= speed <= SPEED_MAX:
        raise BadSpeed(f"回放速度必须在 {SPEED_MIN:g}× 到 {SPEED_MAX:g}× 之间（收到 {raw}）")
    return speed


def _nested() -> defaultdict[int, defaultdict[str, int]]:
    return defaultdict(lambda: defaultdict(int))


class ReplayBuilder(ReviewBuilder):
    """Feed ledger rows in id order with `add`, then `build`. `refunds`: every refund
    row, up front (as for the review)."""

    def __init__(self, refunds: Iterable[Refund]) -> None:
        super().__init__([], refunds, None)
        self.items: defaultdict[int, int] = defaultdict(int)
        self.first_buy: dict[str, int] = {}
        self.first_write: dict[str, int] = {}
        self.buyers_in: defaultdict[int, set[str]] = defaultdict(set)
        self.latest_in: dict[int, int] = {}
        self.member_events: list[tuple[int, str, str, str, str]] = []
        self.deltas = {b: _nested() for b in BOARDS}
        self.counts = {b: _nested() for b in BOARDS}
        self._order_ts: dict[str, int] = {}
        self._board_of = {id(board): b for b, board in self.facts.boards.items()}
        self._interned: dict[str, str] = {}

    def add(self, lid: int, kind: str, ts: int, received_ms: int, e: Mapping[str, Any]) -> None:
        super().add(lid, kind, ts, received_ms, e)
        minute = ts - ts % MINUTE_MS
        if ts > self.latest_in.get(minute, ts - 1):
            self.latest_in[minute] = ts
        if kind == "order":
            self.items[minute] += e.get("quantity", 1)
            # one string per buyer however many minutes they buy in
            buyer = self._interned.setdefault(e["buyer_id"], e["buyer_id"])
            self.buyers_in[minute].add(buyer)
            if minute < self.first_buy.get(buyer, minute + 1):
                self.first_buy[buyer] = minute
            for b, prefix in BOARDS.items():
                self.counts[b][minute][e[f"{prefix}_id"]] += 1
            if e["order_id"] in self._wanted:
                self._order_ts[e["order_id"]] = ts
        elif kind == "message":
            who = e["member_id"]
            if minute < self.first_write.get(who, minute + 1):
                self.first_write[who] = minute
        elif kind == "member":
            self.member_events.append((ts, e["key"], e["member_id"], e["group_id"], e["action"]))

    def _bucket(self, board: Board, ident: str, index: int, amount: int, ts: int) -> None:
        super()._bucket(board, ident, index, amount, ts)  # one int per entity: no marks
        self.deltas[self._board_of[id(board)]][ts - ts % MINUTE_MS][ident] += amount

    def _refund_ts(self, r: Refund) -> int:
        # Never before its order: a refund must not take an order below zero at any
        # replayed instant (the live path counts a waiting refund at its order's minute).
        return max(r.ts, self._order_ts.get(r.order_id, r.ts))

    def build(self, s: CampaignSettings) -> Replay:
        f = self.finish()
        newbuyers: defaultdict[int, int] = defaultdict(int)
        for m in self.first_buy.values():
            newbuyers[m] += 1
        writers: defaultdict[int, int] = defaultdict(int)
        for m in self.first_write.values():
            writers[m] += 1
        minutes = {
            "gmv": dict(f.gmv_by_minute),
            "orders": dict(f.orders_by_minute),
            "messages": dict(f.messages_by_minute),
            "refund": dict(f.refund_by_minute),
            "buyers": {m: len(b) for m, b in self.buyers_in.items()},
            "newbuyers": dict(newbuyers),
        }
        self.buyers_in.clear()
        last = max(self.latest_in, default=None)
        start = minute_floor(s.starts_at)
        end_ceil = minute_floor(s.ends_at + MINUTE_MS - 1)
        return Replay(
            settings=s,
            minutes=minutes,
            items=series_of(self.items),
            writers=series_of(writers),
            members=members_series(self.member_events),
            latest=series_of(self.latest_in, running=max),
            board_minutes={b: Stepped.of(self.deltas[b]) for b in BOARDS},
            board_counts={b: Stepped.of(self.counts[b]) for b in BOARDS},
            names={b: dict(f.boards[b].names) for b in BOARDS},
            start_ms=start,
            end_ms=max(s.ends_at, start),
            final_ms=max(end_ceil, last + MINUTE_MS if last is not None else end_ceil, start),
        )


@dataclass(frozen=True)
class Replay:
    """A finished campaign's per-minute aggregates: what every frame is drawn from."""

    settings: CampaignSettings
    minutes: dict[str, dict[int, int]]
    items: Series
    writers: Series
    members: Series
    latest: Series
    board_minutes: dict[str, Stepped]  # net GMV delta per minute
    board_counts: dict[str, Stepped]  # orders per minute
    names: dict[str, dict[str, str]]
    start_ms: int  # the first frame (the minute the doors opened)
    end_ms: int  # ends_at: the replay runs up to here
    final_ms: int  # the closing frame: every event of the ledger, late ones too

    def as_of(self, virtual_ms: int) -> int:
        """The minute boundary whose snapshot stands for the virtual instant."""
        if virtual_ms >= self.end_ms:
            return self.final_ms
        return max(self.start_ms, minute_floor(virtual_ms))

    def frame(
        self,
        as_of_ms: int,
        reports: list[tuple[int, ReportItem]],
        stimuli: list[StimulusItem],
    ) -> Snapshot:
        """The snapshot as of `as_of_ms` (a minute boundary), with the reports written
        (`at`) and the stimuli fired before it. `reports`: (at_ms, view), oldest first."""
        last = self.latest.before(as_of_ms)
        totals: RawTotals = {
            "items": self.items.before(as_of_ms),
            "members": self.members.before(as_of_ms),
            "active_members": self.writers.before(as_of_ms),
            **({"last_ts": last} if last else {}),
        }
        orders = {b: self.board_counts[b].before(as_of_ms) for b in BOARDS}
        # As the live read does: the minutes of the rank-change window (the last five
        # before `as_of`, whose sales `prev_rank` looks behind), and those from `as_of`
        # to the next checkpoint, which `snapshot_as_of` takes back out of its standings.
        since = recent_from(as_of_ms - 1)
        near = {b: self.board_minutes[b].around(as_of_ms, since) for b in BOARDS}
        raw = RawState(
            totals,
            self.minutes,
            {b: base for b, (base, _) in near.items()},
            orders,
            self.names,
            {b: deltas for b, (_, deltas) in near.items()},
        )
        snap, _ = snapshot_as_of(self.settings, raw, as_of_ms, stimuli)
        # The last frame is the sale as it ended: every report, the final (written
        # for `ends_at`, which may be this very instant) included.
        final = as_of_ms >= self.final_ms
        shown = [view for at, view in reports if at < as_of_ms or final]
        snap["reports"] = shown[-10:]
        snap["reports_total"] = len(shown)
        snap["rules"] = []  # the operator's live warnings mean nothing in a replay
        snap["restoring"] = False
        snap["campaign"]["now"] = rfc3339(min(as_of_ms, self.end_ms), self.settings.timezone)
        return snap


# `campaign` is left out: only its `now` moves, and `now` travels on its own.
UPDATE_KEYS: tuple[
    Literal["target", "velocity", "last_event_at", "reports_total", "stimuli"], ...
] = ("target", "velocity", "last_event_at", "reports_total", "stimuli")


def update_of(prev: Snapshot, cur: Snapshot) -> UpdateFrame:
    """The `update` frame from one replayed snapshot to the next (as the live hub
    sends: totals and now always, the rest when it changed, changed minute rows, whole
    boards that changed)."""
    frame: UpdateFrame = {"type": "update", "totals": cur["totals"], "now": cur["campaign"]["now"]}
    for k in UPDATE_KEYS:
        if cur.get(k) != prev.get(k):
            frame[k] = cur[k]
    old_rows = {r["minute"]: r for r in prev.get("per_minute", [])}
    rows = [r for r in cur["per_minute"] if old_rows.get(r["minute"]) != r]
    if rows:
        frame["per_minute"] = rows
    boards = {
        b: rows_
        for b, rows_ in cur["leaderboards"].items()
        if rows_ != prev.get("leaderboards", {}).get(b)
    }
    if boards:
        frame["leaderboards"] = boards
    return frame
