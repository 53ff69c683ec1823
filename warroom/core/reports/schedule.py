"""Which battle reports (战报) are due, and the moment each one describes.

Pure scheduling: the trigger worker calls `due_reports` on every tick, atomically
claims each `DueReport.key` it has not claimed before (unique row or SET NX), and only
the winner renders and posts. Keys are stable across processes and restarts, so a
report is generated exactly once whatever the number of workers.

Settled figures (contract v2): a report describes one instant, `as_of_ms`, and is due
only once the *watermark* (`Progress.settled_ms`: the campaign time up to which every
accepted event has been applied) has reached it, so its figures (per-minute sums below
`as_of_ms`, see core/live/figures.py) are final. While figures are restoring there is no
watermark and nothing is due; what fell due meanwhile is due right after, once each.

Boundary choices:

- Nothing is due before `starts_at`.
- Threshold reports (milestones, targets) count paid GMV (`gmv_fen`). One falls in the
  minute in which cumulative GMV reached it (the same minute the final's timeline and
  `target.base_reached_at` name); it describes the end of that minute (`as_of_ms`),
  shows that minute (`due_at_ms`), and is due once the watermark has passed the minute.
  Only minutes before `ends_at` count; after that the final sums up. A milestone equal
  to the base or stretch target is left to the target report, and a stretch target
  equal to the base is not a second target: one moment, one post. When one minute
  crosses several milestones, each is due (ascending).
- `scheduled`: slot k (1-based) falls at `starts_at + k * report_every_minutes` and
  describes that instant (floored to its minute when doors open off a minute). Slots at or after `ends_at` belong to the final.
- `top`: on every hour of the wall clock in the campaign time zone strictly after
  `starts_at` and up to `ends_at` inclusive (doors at 10:00 → 11:00, 12:00, ...); key
  index n = the n-th such hour.
- A slot (scheduled or top) is due once the watermark reaches it, and only if it falls
  after the campaign was created (`since_ms`, on its clock) and after its first event:
  a campaign created with a start in the past, or before any event, has nothing to
  report for those slots. After an outage (workers down, figures restoring) the slots
  that fell meanwhile are due, each with its own figures, but at most the newest
  `SLOT_BACKLOG` of each kind: a burst of stale posts helps no group.
- `final`: due once the caller says the sale has settled (`final_ready`: the watermark
  past `ends_at` and `final_grace_seconds` gone by) and the minute in which the sale
  ends is settled too: a target crossed in that minute is reported first (its report
  waits for its whole minute), never skipped for a final already out. Its figures are
  the snapshot's totals at that moment (`from_totals`), labelled `ends_at`.
- `stimulus`: not scheduled here; the worker posts one per claimed fire under
  `stimulus_report_key(fire_key)`, describing the minute boundary before the fire.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from warroom.core.campaign import CampaignSettings, StimulusAction
from warroom.core.ingest.clock import MINUTE_MS, from_ms, minute_floor
from warroom.core.live.figures import crossing_minute
from warroom.core.reports.shapes import ReportExtra

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
# What people read for each kind (the screens' badges, the console's template tabs).
KIND_LABELS: dict[str, str] = {
    "milestone": "里程碑",
    "target_base": "基础目标达成",
    "target_stretch": "冲刺目标达成",
    "scheduled": "定时战报",
    "top": "TOP 榜单",
    "stimulus": "福利播报",
    "final": "收官战报",
}

# Every zone offset in use is a whole number of quarter hours, so local hour marks
# fall on UTC quarter hours.
_QUARTER_MS = 15 * MINUTE_MS


SLOT_BACKLOG = 3


@dataclass(frozen=True)
class DueReport:
    key: str  # claim name, unique within a campaign
    kind: ReportKind
    due_at_ms: int  # the moment shown as the report's time (`at`)
    extra: ReportExtra = field(default_factory=lambda: ReportExtra())  # for report_context
    as_of_ms: int | None = None  # the instant its figures describe (None: `due_at_ms`)
    from_totals: bool = False  # the final: the settled snapshot totals, not minute sums

    @property
    def figures_as_of(self) -> int:
        return self.due_at_ms if self.as_of_ms is None else self.as_of_ms


@dataclass(frozen=True)
class Progress:
    """What a trigger tick knows about one campaign."""

    now_ms: int  # campaign clock
    settled_ms: int | None  # the watermark; None while figures restore or are unknown
    gmv_by_minute: Mapping[int, int]
    since_ms: int  # the campaign clock when the campaign was created
    first_event_ms: int | None  # minute of the first event of any kind; None: none yet
    final_ready: bool = False


def due_reports(settings: CampaignSettings, p: Progress) -> list[DueReport]:
    """Reports due now, in posting order: milestones (ascending), targets, scheduled,
    top, final. Claimed ones are still listed; the claim is what makes them once-only."""
    s = settings
    if p.now_ms < s.starts_at or p.settled_ms is None:
        return []
    horizon = min(p.now_ms, p.settled_ms)
    out = _threshold_reports(s, p.gmv_by_minute, horizon)
    every = s.report_every_minutes * MINUTE_MS
    slots = range(s.starts_at + every, min(horizon, s.ends_at - 1) + 1, every)
    for k, at in _fresh(slots, p, start_index=1):
        out.append(
            DueReport(f"scheduled:{k}", "scheduled", at, {"slot": k}, as_of_ms=minute_floor(at))
        )
    marks = [m for m in hour_marks(s.starts_at, s.ends_at, s.timezone) if m <= horizon]
    for n, mark in _fresh(marks, p, start_index=1):
        out.append(
            DueReport(f"top:{n}", "top", mark, {"hour_index": n}, as_of_ms=minute_floor(mark))
        )
    last_minute_done = horizon >= minute_floor(s.ends_at - 1) + MINUTE_MS
    if p.final_ready and p.now_ms >= s.ends_at and last_minute_done:
        out.append(DueReport("final", "final", s.ends_at, {}, as_of_ms=s.ends_at, from_totals=True))
    return out


def _fresh(instants: Iterable[int], p: Progress, start_index: int) -> list[tuple[int, int]]:
    """(index, instant) of the slots worth a report: after creation and the first
    event, the newest SLOT_BACKLOG of them."""
    first = p.first_event_ms
    keep = [
        (i, at)
        for i, at in enumerate(instants, start=start_index)
        if at > p.since_ms and first is not None and at > first
    ]
    return keep[-SLOT_BACKLOG:]


def _threshold_reports(
    s: CampaignSettings, gmv_by_minute: Mapping[int, int], horizon: int
) -> list[DueReport]:
    """Thresholds whose crossing minute is complete and settled (and before the end)."""
    out: list[DueReport] = []
    base, stretch = s.target_base_fen, s.target_stretch_fen
    targets = {base, stretch} - {0}
    wanted: list[tuple[str, ReportKind, int, ReportExtra]] = [
        (f"milestone:{fen}", "milestone", fen, {"milestone_fen": fen})
        for fen in s.milestones_fen  # sorted and distinct (CampaignSettings)
        if fen not in targets
    ]
    if base:
        wanted.append(("target_base", "target_base", base, {"target_fen": base}))
    if stretch and stretch != base:
        wanted.append(("target_stretch", "target_stretch", stretch, {"target_fen": stretch}))
    for key, kind, fen, extra in wanted:
        m = crossing_minute(gmv_by_minute, fen)
        if m is None or m >= s.ends_at or m + MINUTE_MS > horizon:
            continue
        out.append(DueReport(key, kind, m, extra, as_of_ms=m + MINUTE_MS))
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
    extra: ReportExtra = {
        "rule": rule_name,
        "action_kind": action.kind,
        "amount_fen": action.amount_fen,
        "text": action.text,
        "fire_key": fire_key,
    }
    return DueReport(
        stimulus_report_key(fire_key),
        "stimulus",
        fired_at_ms,
        extra,
        as_of_ms=minute_floor(fired_at_ms),
    )
