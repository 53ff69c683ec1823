"""The retrospective page model and the CSV tables, from `review.Facts`. Pure.

Both the page and the exports read this one model, so a figure on the page and the
same figure in a CSV cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import MINUTE_MS, from_ms, minute_floor, rfc3339
from warroom.core.live.aggregate import BOARDS
from warroom.core.live.snapshot import ratio
from warroom.core.reports.effect_view import effect_of, effect_overlaps, effect_text
from warroom.core.reports.rules import uplift_windows
from warroom.core.reports.schedule import hour_marks
from warroom.core.review.retrospective import Facts, peak_window, rank_history, ranked
from warroom.core.review.shapes import (
    HourRow,
    MilestoneRow,
    MinuteRecord,
    Review,
    ReviewBoardRow,
    StimulusRow,
    TopRow,
)
from warroom.core.words import MARK_LABELS, mark_kinds

PEAK_SPAN_MINUTES = 10


@dataclass(frozen=True)
class Fire:
    id: int
    rule: str
    kind: str
    at_ms: int
    amount_fen: int
    window_minutes: int
    text: str = ""
    status: str = "fired"  # only fired stimuli are reviewed (a proposal never happened)
    effect_minutes: int | None = None  # None: window_minutes
    effect: Mapping[str, Any] | None = None  # the stored effect (services/effects.py)


@dataclass(frozen=True)
class Report:
    id: int
    key: str
    kind: str
    at_ms: int
    text: str


def checkpoints(s: CampaignSettings) -> list[int]:
    """Where ranks are read over the day: every hour mark of the sale, then the end."""
    marks = [m for m in hour_marks(s.starts_at, s.ends_at, s.timezone) if m < s.ends_at]
    return [*marks, s.ends_at]


def _pace(s: CampaignSettings, at_ms: int) -> int:
    """The base target spread evenly over the sale: where GMV 'should' be at `at_ms`."""
    if not s.target_base_fen:
        return 0
    span = s.ends_at - s.starts_at
    done = min(max(at_ms - s.starts_at, 0), span)
    return s.target_base_fen * done // span


def minute_rows(f: Facts, tz: str) -> list[MinuteRecord]:
    keys = sorted(
        set(f.gmv_by_minute) | set(f.refund_by_minute) | set(f.messages_by_minute)
        | set(f.joins_by_minute) | set(f.leaves_by_minute)
    )  # fmt: skip
    cum = 0
    rows: list[MinuteRecord] = []
    for k in keys:
        cum += f.gmv_by_minute.get(k, 0)
        rows.append(
            {
                "minute": rfc3339(k, tz),
                "minute_ms": k,
                "gmv_fen": f.gmv_by_minute.get(k, 0),
                "orders": f.orders_by_minute.get(k, 0),
                "refund_fen": f.refund_by_minute.get(k, 0),
                "messages": f.messages_by_minute.get(k, 0),
                "joins": f.joins_by_minute.get(k, 0),
                "leaves": f.leaves_by_minute.get(k, 0),
                "cumulative_gmv_fen": cum,
            }
        )
    return rows


_HOUR_SUMS: tuple[
    Literal["gmv_fen", "orders", "refund_fen", "messages", "joins", "leaves"], ...
] = (
    "gmv_fen",
    "orders",
    "refund_fen",
    "messages",
    "joins",
    "leaves",
)


def hour_rows(s: CampaignSettings, minutes: Sequence[MinuteRecord]) -> list[HourRow]:
    hours: dict[int, HourRow] = {}
    for r in minutes:
        local = from_ms(r["minute_ms"], s.timezone)
        start = r["minute_ms"] - local.minute * MINUTE_MS
        h = hours.setdefault(
            start,
            {"hour": local.strftime("%H:00"), "start_ms": start, "gmv_fen": 0, "orders": 0,
             "refund_fen": 0, "messages": 0, "joins": 0, "leaves": 0},
        )  # fmt: skip
        for k in _HOUR_SUMS:
            h[k] += r[k]
    cum = 0
    out = []
    for start in sorted(hours):
        h = hours[start]
        cum += h["gmv_fen"]
        end = start + 60 * MINUTE_MS
        pace = _pace(s, end)
        h.update(
            {
                "cumulative_gmv_fen": cum,
                "net_gmv_fen": h["gmv_fen"] - h["refund_fen"],
                "progress_base": ratio(cum, s.target_base_fen),
                "pace_fen": pace,
                "vs_pace_fen": cum - pace if s.target_base_fen else None,
            }
        )
        out.append(h)
    return out


def milestone_rows(s: CampaignSettings, f: Facts, reports: Sequence[Report]) -> list[MilestoneRow]:
    """Each milestone and target: the minute cumulative GMV crossed it (from the
    ledger), the time it took, and when its report was posted."""
    kinds = mark_kinds(list(s.milestones_fen), s.target_base_fen, s.target_stretch_fen)
    thresholds = {fen: MARK_LABELS[kind] for fen, kind in kinds.items()}
    posted: dict[int, int] = {}
    for r in reports:
        if r.kind == "milestone" and r.key.startswith("milestone:"):
            posted[int(r.key.split(":", 1)[1])] = r.at_ms
        elif r.kind in ("target_base", "target_stretch"):
            fen = s.target_base_fen if r.kind == "target_base" else s.target_stretch_fen
            posted[fen] = r.at_ms
    cum = 0
    out: list[MilestoneRow] = []
    pending = sorted(thresholds)
    for m in sorted(f.gmv_by_minute):
        cum += f.gmv_by_minute[m]
        while pending and cum >= pending[0]:
            fen = pending.pop(0)
            out.append({"fen": fen, "label": thresholds[fen], "crossed_ms": m,
                        "elapsed_minutes": max(0, (m - s.starts_at) // MINUTE_MS),
                        "report_ms": posted.get(fen)})  # fmt: skip
    out += [{"fen": fen, "label": thresholds[fen], "crossed_ms": None, "elapsed_minutes": None,
             "report_ms": None} for fen in pending]  # fmt: skip
    return out


def stimulus_rows(fires: Sequence[Fire], f: Facts, now_ms: int) -> list[StimulusRow]:
    """Each fired stimulus: its effect (with its interval, or pending) as the page and
    the CSV show it, and the old before/after windows and uplift (kept in the model and
    the CSV for compatibility; the page no longer shows them as the effect)."""
    out: list[StimulusRow] = []
    fires = [x for x in fires if x.status == "fired"]
    for fire in fires:
        w = uplift_windows(f.gmv_by_minute, fire.at_ms, fire.window_minutes, now_ms)
        before, after = round(w.before_per_min), round(w.after_per_min)
        incremental = (after - before) * fire.window_minutes
        span = fire.window_minutes * MINUTE_MS
        overlaps = [
            o.id for o in fires
            if o.id != fire.id and abs(o.at_ms - fire.at_ms) < max(span, o.window_minutes * MINUTE_MS)
        ]  # fmt: skip
        out.append(
            {
                "id": fire.id,
                "rule": fire.rule,
                "kind": fire.kind,
                "at_ms": fire.at_ms,
                "amount_fen": fire.amount_fen,
                "window_minutes": fire.window_minutes,
                "text": fire.text,
                "before_gmv_per_min_fen": before,
                "after_gmv_per_min_fen": after,
                "complete": w.complete,
                "uplift": round(after / before, 4) if before and w.complete else None,
                "incremental_gmv_fen": incremental if w.complete else None,
                # GMV gained per 元 spent (fen per fen = 元 per 元)
                "gmv_per_yuan": round(incremental / fire.amount_fen, 2)
                if fire.amount_fen and w.complete
                else None,
                "overlaps": overlaps,
                "effect_minutes": fire.effect_minutes or fire.window_minutes,
                "effect": dict(fire.effect) if fire.effect and effect_of(fire.effect) else None,
                "effect_text": effect_text(fire.effect),
                "effect_overlaps": effect_overlaps(fire.effect),
            }
        )
    return out


def board_rows(f: Facts, board: str) -> list[ReviewBoardRow]:
    b = f.boards[board]
    return [
        {"rank": i + 1, "id": k, "name": b.names.get(k, k), "net_gmv_fen": b.net(k),
         "gmv_fen": b.gross[k], "refund_fen": b.refund[k], "orders": b.orders[k]}
        for i, k in enumerate(ranked(b))
    ]  # fmt: skip


def build_review(
    s: CampaignSettings,
    f: Facts,
    reports: Sequence[Report],
    fires: Sequence[Fire],
    now_ms: int,
) -> Review:
    tz = s.timezone
    minutes = minute_rows(f, tz)
    marks = checkpoints(s)
    peak_at, peak = peak_window(f.gmv_by_minute, 1)
    peak10_at, peak10 = peak_window(f.gmv_by_minute, PEAK_SPAN_MINUTES)
    boards = {b: board_rows(f, b) for b in BOARDS}
    top: dict[str, list[TopRow]] = {}
    for b in BOARDS:
        leaders = boards[b][: s.leaderboard_size]
        history = rank_history(f.boards[b], marks, [r["id"] for r in leaders])
        top[b] = [{**r, "history": history[r["id"]]} for r in leaders]
    members = f.members()
    leavers: set[str] = set()
    left_pairs = 0
    for (m, _g), v in f.latest.items():
        if v[2] == "leave":
            leavers.add(m)
            left_pairs += 1
    ever = f.ever_joined()
    joins = sum(f.joins_by_minute.values())
    leaves = sum(f.leaves_by_minute.values())
    late_by_type: defaultdict[str, int] = defaultdict(int, f.late_by_type)
    return {
        "campaign": {
            "slug": s.slug,
            "name": s.name,
            "timezone": tz,
            "starts_ms": s.starts_at,
            "ends_ms": s.ends_at,
            "target_base_fen": s.target_base_fen,
            "target_stretch_fen": s.target_stretch_fen,
        },  # fmt: skip
        "ended": now_ms >= s.ends_at,
        "now_ms": now_ms,
        "totals": {
            "gmv_fen": f.gmv,
            "refund_fen": f.refund,
            "net_gmv_fen": f.net_gmv,
            "orders": f.orders,
            "items": f.items,
            "buyers": len(f.buyers),
            "messages": f.messages,
            "active_members": len(f.writers),
            "members": members,
            "events": f.events,
            "progress_base": ratio(f.gmv, s.target_base_fen),
            "progress_stretch": ratio(f.gmv, s.target_stretch_fen),
        },  # fmt: skip
        "minutes": minutes,
        "hours": hour_rows(s, minutes),
        "peak_minute": {"at_ms": peak_at, "gmv_fen": peak if peak_at is not None else 0},
        "peak_10": {
            "at_ms": peak10_at,
            "gmv_fen": peak10 if peak10_at is not None else 0,
            "minutes": PEAK_SPAN_MINUTES,
        },  # fmt: skip
        "pace": {
            "target_fen": s.target_base_fen,
            "expected_now_fen": _pace(s, min(now_ms, s.ends_at)),
            "actual_fen": f.gmv,
        },
        "milestones": milestone_rows(s, f, reports),
        "stimuli": stimulus_rows(fires, f, now_ms),
        "boards": boards,
        "top": top,
        "marks": marks,
        "funnel": {
            "ever_joined": ever,
            "members": members,
            "writers": len(f.writers),
            "buyers": len(f.buyers),
            "writer_rate": ratio(len(f.writers), members),
            "buyer_rate": ratio(len(f.buyers), members),
        },  # fmt: skip
        "membership": {
            "joins": joins,
            "leaves": leaves,
            "leavers": len(leavers),
            "left_pairs": left_pairs,
            # 退群率: people whose latest move in some group was leaving / people ever in
            "churn_rate": ratio(len(leavers), ever),
        },  # fmt: skip
        "late": {"count": f.late_count, "by_type": dict(late_by_type), "rows": f.late},
        "reports": [
            {"id": r.id, "kind": r.kind, "at_ms": r.at_ms, "text": r.text} for r in reports
        ],
    }


def minute_of(ms: int | None) -> int | None:
    return minute_floor(ms) if ms is not None else None
