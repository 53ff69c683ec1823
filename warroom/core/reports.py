"""Which battle reports (战报) are due at a moment of the campaign clock.

Pure scheduling: the trigger worker calls `due_reports` on every tick, atomically
claims each `DueReport.key` it has not claimed before (unique row or SET NX), and only
the winner renders and posts. Keys are stable across processes and restarts, so a
report is generated exactly once whatever the number of workers.

Boundary choices:

- Nothing is due before `starts_at`.
- Threshold reports (milestones, targets) count paid GMV (`gmv_fen`) and are due from
  `starts_at` until `ends_at` (exclusive); from `ends_at` on the final report sums up.
  A milestone equal to the base or stretch target is left to the target report, and a
  stretch target equal to the base is not a second target: one moment, one post.
  When one jump crosses several milestones, each is due (ascending).
- `scheduled`: slot k (1-based) falls at `starts_at + k * report_every_minutes`. Only
  the latest slot that has fallen is due, never a backlog: after a stall, one fresh
  report beats a burst of stale ones. Slots at or after `ends_at` belong to the final.
- `top`: on every hour of the wall clock in the campaign time zone strictly after
  `starts_at` and up to `ends_at` inclusive (doors at 10:00 → 11:00, 12:00, ...); key
  index n = the n-th such hour. Like `scheduled`, only the latest hour is due; after
  `ends_at` only an hour falling exactly on `ends_at` is still due (with the final).
- `final`: due from `ends_at` on.
- `stimulus`: not scheduled here; the worker posts one per claimed fire under
  `stimulus_report_key(fire_key)`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from warroom.core.campaign import CampaignSettings, StimulusAction
from warroom.core.clock import MINUTE_MS, from_ms

ReportKind = Literal[
    "milestone", "target_base", "target_stretch", "scheduled", "top", "stimulus", "final"
]
REPORT_KINDS: tuple[ReportKind, ...] = (
    "milestone",
    "target_base",
    "target_stretch",
    "scheduled",
    "top",
    "stimulus",
    "final",
)

# Every zone offset in use is a whole number of quarter hours, so local hour marks
# fall on UTC quarter hours.
_QUARTER_MS = 15 * MINUTE_MS


@dataclass(frozen=True)
class DueReport:
    key: str  # claim name, unique within a campaign
    kind: ReportKind
    due_at_ms: int  # campaign clock; for thresholds, the moment they were seen crossed
    extra: Mapping[str, Any] = field(default_factory=dict)  # figures for report_context


def due_reports(settings: CampaignSettings, gmv_fen: int, now_ms: int) -> list[DueReport]:
    """Reports due at `now_ms` given paid GMV `gmv_fen`, in posting order: milestones
    (ascending), targets, scheduled, top, final. Claimed ones are still listed; the
    claim is what makes them once-only."""
    s = settings
    if now_ms < s.starts_at:
        return []
    live = now_ms < s.ends_at
    out: list[DueReport] = []
    if live:
        out.extend(_threshold_reports(s, gmv_fen, now_ms))
        slot = scheduled_slot(s, now_ms)
        if slot:
            due = s.starts_at + slot * s.report_every_minutes * MINUTE_MS
            out.append(DueReport(f"scheduled:{slot}", "scheduled", due, {"slot": slot}))
    hour = top_hour(s, now_ms)
    if hour and (live or hour[1] == s.ends_at):
        index, mark = hour
        out.append(DueReport(f"top:{index}", "top", mark, {"hour_index": index}))
    if not live:
        out.append(DueReport("final", "final", s.ends_at, {}))
    return out


def _threshold_reports(s: CampaignSettings, gmv_fen: int, now_ms: int) -> list[DueReport]:
    out: list[DueReport] = []
    base, stretch = s.target_base_fen, s.target_stretch_fen
    targets = {base, stretch} - {0}
    for fen in s.milestones_fen:  # sorted and distinct (CampaignSettings)
        if fen <= gmv_fen and fen not in targets:
            out.append(DueReport(f"milestone:{fen}", "milestone", now_ms, {"milestone_fen": fen}))
    if base and gmv_fen >= base:
        out.append(DueReport("target_base", "target_base", now_ms, {"target_fen": base}))
    if stretch and stretch != base and gmv_fen >= stretch:
        out.append(DueReport("target_stretch", "target_stretch", now_ms, {"target_fen": stretch}))
    return out


def scheduled_slot(settings: CampaignSettings, now_ms: int) -> int | None:
    """The latest scheduled slot (1-based) that has fallen before `ends_at`, or None."""
    s = settings
    every = s.report_every_minutes * MINUTE_MS
    last = min(now_ms, s.ends_at - 1)  # a slot at ends_at is the final's
    if last < s.starts_at:
        return None
    slot = (last - s.starts_at) // every
    return slot or None


def top_hour(settings: CampaignSettings, now_ms: int) -> tuple[int, int] | None:
    """(n, instant) of the latest campaign-zone hour mark in (starts_at, min(now, ends_at)],
    n being 1 for the first hour mark after doors open; None before the first mark."""
    marks = hour_marks(settings.starts_at, settings.ends_at, settings.timezone)
    n = bisect_right(marks, min(now_ms, settings.ends_at))
    return (n, marks[n - 1]) if n else None


@lru_cache(maxsize=256)
def hour_marks(start_ms: int, end_ms: int, tz: str) -> tuple[int, ...]:
    """Instants in (start_ms, end_ms] where the wall clock of `tz` shows hh:00.
    Follows daylight-saving changes (a repeated 01:00 is two marks, a skipped one none)."""
    marks: list[int] = []
    t = (start_ms // _QUARTER_MS + 1) * _QUARTER_MS
    while t <= end_ms:
        if from_ms(t, tz).minute == 0:
            marks.append(t)
        t += _QUARTER_MS
    return tuple(marks)


def stimulus_report_key(fire_key: str) -> str:
    """Claim name of the `stimulus` report announcing one fire (see rules.fire_key)."""
    return f"stimulus:{fire_key}"


def stimulus_report(
    fire_key: str, rule_name: str, action: StimulusAction, fired_at_ms: int
) -> DueReport:
    """The `stimulus` report for a claimed fire, with what `report_context` shows."""
    extra = {
        "rule": rule_name,
        "action_kind": action.kind,
        "amount_fen": action.amount_fen,
        "text": action.text,
        "fire_key": fire_key,
    }
    return DueReport(stimulus_report_key(fire_key), "stimulus", fired_at_ms, extra)
