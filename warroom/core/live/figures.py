"""Settled figures: what a battle report says, as of one moment of the campaign clock.

Per-minute buckets are exact (each event lands in the minute of its `ts`), so the sums
of the minutes below an instant T are the campaign's totals as of T: paid GMV, refunds
applied (by the refund's minute), orders, and buyers (each counted in the minute of
their first order, `newbuyers`). A report carries these as `figures` and its text is
rendered from them alone, so the text and the figures cannot disagree, and a report
written a few seconds (or, after an outage, minutes) late still describes its slot.

Pure: minutes in, figures out. `as_of` must be on a minute boundary for the sums to
describe it exactly; callers floor it (`minute_floor`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from warroom.core.ingest.clock import MINUTE_MS, minute_floor, rfc3339
from warroom.core.live.shapes import FiguresView, Minutes, TotalsView

# Minute metrics an event leaves a trace in (member events only in `last_ts`).
ACTIVITY_METRICS = ("orders", "messages", "refund")


@dataclass(frozen=True)
class Figures:
    as_of_ms: int
    gmv_fen: int
    refund_fen: int
    orders: int
    buyers: int

    @property
    def net_gmv_fen(self) -> int:
        return self.gmv_fen - self.refund_fen

    def as_dict(self, tz: str) -> FiguresView:
        return {
            "as_of": rfc3339(self.as_of_ms, tz),
            "gmv_fen": self.gmv_fen,
            "refund_fen": self.refund_fen,
            "net_gmv_fen": self.net_gmv_fen,
            "orders": self.orders,
            "buyers": self.buyers,
        }


def _below(series: Mapping[int, int], as_of_ms: int) -> int:
    return sum(v for m, v in series.items() if m < as_of_ms)


def buyer_series(minutes: Minutes) -> Mapping[int, int]:
    """Buyers by the minute of their first order. Hot state written before that metric
    existed only has distinct buyers per minute (a repeat buyer counts once a minute):
    the best available, exact when nobody bought in two different minutes."""
    if "newbuyers" in minutes:
        return minutes["newbuyers"]
    return minutes.get("buyers", {})


def figures_at(minutes: Minutes, as_of_ms: int, total_buyers: int | None = None) -> Figures:
    """Totals of every event with `ts` before `as_of_ms` (a minute boundary).

    `total_buyers` (today's distinct buyers) matters only for hot state without
    `newbuyers`: per-minute distinct buyers over-count repeat buyers, so the sum is
    capped by it, and when nothing was sold from `as_of_ms` on it is the answer."""
    buyers = _below(buyer_series(minutes), as_of_ms)
    if "newbuyers" not in minutes and total_buyers is not None:
        later = any(m >= as_of_ms for m in minutes.get("orders", {}))
        buyers = min(buyers, total_buyers) if later else total_buyers
    return Figures(
        as_of_ms=as_of_ms,
        gmv_fen=_below(minutes.get("gmv", {}), as_of_ms),
        refund_fen=_below(minutes.get("refund", {}), as_of_ms),
        orders=_below(minutes.get("orders", {}), as_of_ms),
        buyers=buyers,
    )


def figures_of_totals(totals: TotalsView, as_of_ms: int) -> Figures:
    """The snapshot's own totals (`totals_view`), labelled with `as_of_ms` (the final)."""
    return Figures(
        as_of_ms=as_of_ms,
        gmv_fen=totals["gmv_fen"],
        refund_fen=totals["refund_fen"],
        orders=totals["orders"],
        buyers=totals["buyers"],
    )


def minutes_before(minutes: Minutes, as_of_ms: int) -> dict[str, dict[int, int]]:
    return {k: {m: v for m, v in s.items() if m < as_of_ms} for k, s in minutes.items()}


def crossing_minute(gmv_by_minute: Mapping[int, int], threshold_fen: int) -> int | None:
    """The minute in which cumulative paid GMV first reached `threshold_fen`."""
    if threshold_fen <= 0:
        return None
    running = 0
    for m in sorted(gmv_by_minute):
        running += gmv_by_minute[m]
        if running >= threshold_fen:
            return m
    return None


def first_activity_ms(minutes: Minutes, last_ts: int | None) -> int | None:
    """The minute of the first event of any kind (None: nothing has arrived yet)."""
    firsts = [min(s) for k, s in minutes.items() if s and k in ACTIVITY_METRICS]
    if firsts:
        return min(firsts)
    return minute_floor(last_ts) if last_ts else None


def activity_by_minute(minutes: Minutes) -> dict[int, int]:
    """Events of any kind per minute (orders, messages, and whatever else hot state
    buckets): a minute with none is a minute the feed was silent."""
    out: dict[int, int] = {}
    for k in ("orders", "messages"):
        for m, v in minutes.get(k, {}).items():
            out[m] = out.get(m, 0) + v
    for m, v in minutes.get("refund", {}).items():  # refund fen: any refund is activity
        if v:
            out[m] = out.get(m, 0) + 1
    return out


def boards_before(
    boards: Mapping[str, Mapping[str, int]],
    board_minutes: Mapping[str, Mapping[int, Mapping[str, int]]],
    as_of_ms: int,
) -> dict[str, dict[str, int]]:
    """Leaderboard scores as of `as_of_ms`: today's net GMV less the orders of the
    minutes at or after it (`board_minutes` must hold every such minute). Refunds are
    not bucketed per entity, so one made after `as_of` already shows; leaders' amounts
    are not part of `figures`. An entity with nothing sold by then is not on the board."""
    out: dict[str, dict[str, int]] = {}
    for b, scores in boards.items():
        adjusted = dict(scores)
        for m, per_entity in board_minutes.get(b, {}).items():
            if m >= as_of_ms:
                for ident, amount in per_entity.items():
                    if ident in adjusted:
                        adjusted[ident] -= amount
        out[b] = {k: v for k, v in adjusted.items() if v > 0}
    return out


def minute_end(minute_ms: int) -> int:
    return minute_ms + MINUTE_MS
