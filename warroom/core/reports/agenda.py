"""When a campaign next needs the trigger worker: the moments on its agenda.

The trigger worker does not look at every campaign on every tick (issue 22: ten
thousand idle campaigns must cost nothing). It evaluates a campaign when its figures
or settings changed (the aggregator's and the console's hints) and at the next moment
at which, with no new event, something could fall due. This module computes that
moment from what an evaluation saw; it is pure and errs early: a moment too early
costs one evaluation that finds nothing, a moment too late would delay a report.

What can fall due without a new event, and when (campaign time unless said):

- doors opening: `starts_at`;
- a milestone or target whose crossing minute is already in the figures but not yet
  settled: the end of that minute;
- the next scheduled slot and the next top-of-hour mark after the settled horizon
  (only once the campaign has had an event: before that no slot is reported);
- the final: the sale's last minute settled and `final_grace_seconds` of real time
  after `ends_at`;
- a rule, by the reason of its last decision: the next complete minute while it is
  watching (filling its window, not low, sustaining, paused), the end of its cooldown;
  nothing while it is held by a silent feed or no events at all (only an event can
  change that, and an event is a change), nor when it is done (max fires, budget,
  ended) or waits for an operator (their decision is a change);
- a fire's uplift: the end of its after-window (read on the campaign clock, not the
  watermark); its effect: the end of its effect window, settled;
- a proposal's expiry.

A moment read against the watermark is reached `settle_ms` of real time after the
campaign clock shows it (services/watermark.py). Figures that are restoring (no
watermark) are looked at again after `retry_ms`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import MINUTE_MS, CampaignClock, minute_floor
from warroom.core.live.figures import crossing_minute
from warroom.core.records import FireRecord
from warroom.core.reports.schedule import hour_marks

# Decisions that change only with a minute completing (or an event, which is a change).
WATCHING = frozenset({"window_filling", "not_low", "sustaining", "fire", "paused"})
# "cooldown" ends at a known moment; every other reason waits for a change.


@dataclass(frozen=True)
class Seen:
    """What one evaluation of a campaign saw (campaign time)."""

    now_ms: int
    settled_ms: int | None  # None: figures restoring or the stream's state unknown
    gmv_by_minute: Mapping[int, int]
    first_event_ms: int | None
    claimed: Collection[str]  # report keys taken
    decisions: Sequence[tuple[str, int | None]] = ()  # each rule's (reason, cooldown end)
    fires: Sequence[FireRecord] = ()  # every fire and proposal of the campaign
    # Minutes in which an event of any kind arrived (rules.FeedState's activity).
    active_minutes: Collection[int] = ()


def report_moments(s: CampaignSettings, seen: Seen, horizon: int) -> list[int]:
    """Campaign instants after `horizon` at which a report may fall due (watermark)."""
    out: list[int] = []
    marks: list[tuple[str, int]] = [(f"milestone:{fen}", fen) for fen in s.milestones_fen]
    marks += [("target_base", s.target_base_fen), ("target_stretch", s.target_stretch_fen)]
    for key, fen in marks:
        if not fen or key in seen.claimed:
            continue  # a milestone equal to a target is the target's: its key stays open
        m = crossing_minute(seen.gmv_by_minute, fen)
        if m is not None and m < s.ends_at and m + MINUTE_MS > horizon:
            out.append(m + MINUTE_MS)
    if seen.first_event_ms is not None:
        every = s.report_every_minutes * MINUTE_MS
        k = max(0, (horizon - s.starts_at) // every) + 1
        slot = s.starts_at + k * every
        if slot < s.ends_at:
            out.append(slot)
        hours = hour_marks(s.starts_at, s.ends_at, s.timezone)
        n = bisect_right(hours, horizon)
        if n < len(hours):
            out.append(hours[n])
    return out


def rule_moments(
    decisions: Iterable[tuple[str, int | None]], horizon: int, active_minutes: Collection[int] = ()
) -> list[int]:
    """When each rule's decision may next change with no new event. A watching rule
    looks again at the next complete minute, unless nothing at all has arrived in the
    running one: then that minute, once complete, is silent and holds every rule
    ("feed_silent"), and only an event (a change) can make it otherwise."""
    out: list[int] = []
    running = minute_floor(horizon)
    for reason, cooldown_end in decisions:
        if reason in WATCHING:
            if running in active_minutes:
                out.append(running + MINUTE_MS)
        elif reason == "cooldown" and cooldown_end is not None:
            out.append(cooldown_end)
    return out


def fire_moments(fires: Iterable[FireRecord]) -> tuple[list[int], list[int]]:
    """(moments on the campaign clock, moments against the watermark) of the fires:
    uplifts and proposal expiries read the clock; effects read settled figures."""
    clock: list[int] = []
    settled: list[int] = []
    for f in fires:
        if f.status == "proposed" and f.expires_at_ms is not None:
            clock.append(f.expires_at_ms)  # expired once `expires_at_ms < now`
        if f.status != "fired":
            continue
        if f.uplift is None:
            fire_minute = minute_floor(f.at_ms)
            after = fire_minute if fire_minute == f.at_ms else fire_minute + MINUTE_MS
            clock.append(after + f.window_minutes * MINUTE_MS)
        if f.effect is None:
            settled.append(f.at_ms + f.effect_minutes * MINUTE_MS)
    return clock, settled


def next_due_real_ms(
    s: CampaignSettings,
    clock: CampaignClock,
    now_real_ms: int,
    seen: Seen,
    settle_ms: int,
    retry_ms: int,
) -> int | None:
    """The real instant the campaign should next be evaluated at, or None: only a
    change (an event, a setting, an operator's decision) can make anything due."""
    if seen.now_ms < s.starts_at:
        return clock.real_ms_for(s.starts_at)
    if seen.settled_ms is None:
        return now_real_ms + retry_ms
    horizon = min(seen.now_ms, seen.settled_ms)
    on_watermark = report_moments(s, seen, horizon)
    on_watermark += rule_moments(seen.decisions, horizon, seen.active_minutes)
    on_clock, settled_fires = fire_moments(seen.fires)
    on_watermark += settled_fires
    # A moment this evaluation had already reached was acted on (or cannot be: an
    # uplift with nothing sold before the fire stays unknown); only later ones count.
    candidates = [clock.real_ms_for(t) + settle_ms + 1 for t in on_watermark if t > horizon]
    candidates += [clock.real_ms_for(t) + 1 for t in on_clock if t > seen.now_ms]
    if "final" not in seen.claimed:
        last_minute_end = minute_floor(s.ends_at - 1) + MINUTE_MS
        candidates.append(
            max(
                clock.real_ms_for(max(s.ends_at, last_minute_end)) + settle_ms + 1,
                clock.real_ms_for(s.ends_at) + s.final_grace_seconds * 1000,
            )
        )
    if not candidates:
        return None
    due = min(candidates)
    # A moment already reached whose figures are not settled yet (a stream behind):
    # look again shortly rather than at once.
    return due if due > now_real_ms else now_real_ms + retry_ms
