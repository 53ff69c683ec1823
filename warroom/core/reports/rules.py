"""Stimulus rules (刺激动作): decide, on the campaign clock, when a cooling sale gets a nudge.

A rule watches one velocity (GMV or orders per minute, averaged over `window_minutes`
complete minutes, as `windows.window_series` computes it). At each complete minute the
reading is *low* when it is below `below_peak_ratio` of the highest reading so far, or
below the absolute `floor`. The rule fires when the readings have been low for
`sustain_minutes` consecutive complete minutes ending at the latest one, outside the
cooldown, while fires and budget remain.

Boundary choices (each is tested in tests/unit/test_rules.py):

- Only complete minutes count; the running minute is never judged.
- A reading counts toward a sustain only once its window is full (the minute closing
  the first `window_minutes` minutes of the campaign, and every minute after it), so
  the half-empty windows of the opening minutes never look like a slump. The earliest
  possible fire is therefore when `window_minutes + max(sustain_minutes, 1) - 1`
  minutes are complete.
- `sustain_minutes` 0 and 1 both mean "the latest complete minute is low".
- Low is strict: a reading equal to the threshold is not low. The ratio is compared
  exactly (0.3 means 3/10) on integer window sums, so no float rounding decides a fire.
- The peak is the running maximum of all readings up to that minute. A peak of 0 means
  nothing to compare with, so only a floor (> 0) can make a reading low; with neither,
  the rule waits ("no_peak"). A minute without sales is a zero: a slump is real when
  the group still talks (messages, refunds) but nobody buys.
- A dead feed is not a slump (`FeedState`, when the caller passes one): the rule is
  *held*, never fired, while figures are restoring ("restoring"), before the first event
  of any kind ("no_events"), and when no event of any kind has arrived within the rule's
  window or in the latest complete minute ("feed_silent"). A minute in which no event of
  any kind arrived never counts toward a sustain, so an outage shorter than the window
  cannot fire a rule either.
- After a fire, only minutes that began at or after the fire count toward the next
  sustain. With a short cooldown this keeps a rule from firing again on the very slump
  it already answered (and from firing on every tick of one minute).
- Reasons are checked permanent-first: max_fires, budget, pending, cooldown, then the
  metric. An action of 0 fen always fits the budget.
- Only fired stimuli count toward max fires and the budget (contract v3). A rule in
  `mode: "propose"` whose proposal waits for an operator proposes nothing more
  ("pending"); its cooldown runs from its last fire or proposal (`last_fire_at_ms`),
  so a dismissed or expired proposal is not proposed again at once.

Exactly once: the trigger worker claims `fire_key(rule.name, decision.fire_index)`
atomically before acting; the index only moves when a fire is recorded, so every
process computes the same key for the same fire. A proposal claims
`proposal_key(rule.name, decision.fire_index, attempt)`, `attempt` counting the rule's
proposals so far: a dismissed or expired one leaves the next attempt a fresh key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Literal

from warroom.core.campaign import CampaignSettings, StimulusRule
from warroom.core.ingest.clock import MINUTE_MS, minute_floor
from warroom.core.live.windows import window_series

Reason = Literal[
    "fire",
    "restoring",
    "no_events",
    "feed_silent",
    "ended",
    "max_fires",
    "budget",
    "cooldown",
    "window_filling",
    "no_peak",
    "not_low",
    "sustaining",
    "pending",
]


@dataclass(frozen=True)
class RuleState:
    """What the rule has done so far (fires recorded for it, manual ones included if the
    operator fired this rule by hand; fired ones only). `last_fire_at_ms`: its last fire
    or proposal; `pending`: a proposal of it waits for an operator's decision."""

    fires_so_far: int = 0
    last_fire_at_ms: int | None = None
    pending: bool = False


HELD_REASONS = frozenset({"restoring", "no_events", "feed_silent"})
DONE_REASONS = frozenset({"ended", "max_fires", "budget"})


@dataclass(frozen=True)
class FeedState:
    """Whether the event feed is alive, as the rules must know it."""

    activity_by_minute: Mapping[int, int]  # events of any kind per minute
    last_event_ms: int | None  # newest event `ts` of any kind (None: nothing yet)
    restoring: bool = False

    def silent_minute(self, minute_ms: int) -> bool:
        return not self.activity_by_minute.get(minute_ms)


@dataclass(frozen=True)
class Decision:
    fire: bool
    reason: Reason
    fire_index: int  # 1-based index the next fire takes: fires_so_far + 1
    current_per_min: float | None = None  # latest complete-minute reading
    peak_per_min: float | None = None
    threshold_per_min: float | None = None  # below this the latest reading is low
    low_minutes: int = 0  # consecutive counted low minutes ending at the latest one


def fire_key(rule_name: str, fire_index: int) -> str:
    """Stable claim name of a rule's n-th fire (1-based), scoped to one campaign like
    every other claim (adapters put it under the campaign's `wr:{slug}:claim:`).
    Unambiguous even when the rule name holds ':' because the index is always last."""
    return f"fire:{rule_name}:{fire_index}"


def proposal_key(rule_name: str, fire_index: int, attempt: int) -> str:
    """Stable claim name of a rule's `attempt`-th proposal (1-based, every status
    counted) for its `fire_index`-th fire: unique while a pending proposal blocks the
    next, so a dismissed or expired proposal never blocks a later one."""
    return f"{fire_key(rule_name, fire_index)}:p{attempt}"


def _metric(
    rule: StimulusRule, gmv_by_minute: Mapping[int, int], orders_by_minute: Mapping[int, int]
) -> Mapping[int, int]:
    return gmv_by_minute if rule.metric == "gmv_per_min" else orders_by_minute


def evaluate_rule(
    rule: StimulusRule,
    gmv_by_minute: Mapping[int, int],
    orders_by_minute: Mapping[int, int],
    start_ms: int,
    now_ms: int,
    state: RuleState,
    budget_left_fen: int | None,
    feed: FeedState | None = None,
) -> Decision:
    """Should `rule` fire at `now_ms`? Pure; `budget_left_fen` None means no budget cap;
    `feed` None means the feed is not checked (every minute counts)."""
    index = state.fires_so_far + 1
    if state.fires_so_far >= rule.max_fires:
        return Decision(False, "max_fires", index)
    if budget_left_fen is not None and rule.action.amount_fen > budget_left_fen:
        return Decision(False, "budget", index)
    if state.pending:
        return Decision(False, "pending", index)
    last = state.last_fire_at_ms
    if last is not None and now_ms - last < rule.cooldown_minutes * MINUTE_MS:
        return Decision(False, "cooldown", index)
    held = _held(rule, feed, now_ms)
    if held is not None:
        return Decision(False, held, index)

    w = rule.window_minutes
    series = window_series(_metric(rule, gmv_by_minute, orders_by_minute), start_ms, now_ms, w)
    if len(series) < w:
        current = series[-1] if series else None
        return Decision(False, "window_filling", index, current_per_min=current)

    # Back to exact integer window sums (each reading is sum / w) so the comparison
    # with ratio * peak is exact.
    sums = [round(v * w) for v in series]
    ratio = Fraction(str(rule.below_peak_ratio))
    floor_sum = rule.floor * w
    peak = 0
    low: list[bool] = []
    for s in sums:
        peak = max(peak, s)
        low.append(s * ratio.denominator < ratio.numerator * peak or s < floor_sum)

    threshold = max(float(ratio * peak) / w, float(rule.floor))
    seen = Decision(
        False,
        "not_low",
        index,
        current_per_min=series[-1],
        peak_per_min=peak / w,
        threshold_per_min=threshold,
    )
    if peak == 0 and floor_sum == 0:
        return replace(seen, reason="no_peak")
    if not low[-1]:
        return seen

    first = minute_floor(start_ms)
    streak = 0
    for i in range(len(sums) - 1, w - 2, -1):  # only minutes whose window is full
        minute = first + i * MINUTE_MS
        if not low[i] or (last is not None and minute < last):
            break
        if feed is not None and feed.silent_minute(minute):
            break  # nothing at all arrived that minute: an outage, not a slump
        streak += 1
    if streak < max(rule.sustain_minutes, 1):
        return replace(seen, reason="sustaining", low_minutes=streak)
    return replace(seen, fire=True, reason="fire", low_minutes=streak)


def _held(rule: StimulusRule, feed: FeedState | None, now_ms: int) -> Reason | None:
    if feed is None:
        return None
    if feed.restoring:
        return "restoring"
    if feed.last_event_ms is None:
        return "no_events"
    if now_ms - feed.last_event_ms >= rule.window_minutes * MINUTE_MS:
        return "feed_silent"
    if feed.silent_minute(minute_floor(now_ms) - MINUTE_MS):  # the latest complete minute
        return "feed_silent"
    return None


def rule_state(decision: Decision) -> str:
    """`held` (the feed or the figures cannot be trusted), `done` (no fire left) or
    `armed` (watching, ready to fire)."""
    if decision.reason in HELD_REASONS:
        return "held"
    if decision.reason in DONE_REASONS:
        return "done"
    return "armed"


def evaluate_rules(
    settings: CampaignSettings,
    gmv_by_minute: Mapping[int, int],
    orders_by_minute: Mapping[int, int],
    now_ms: int,
    states: Mapping[str, RuleState],
    spent_fen: int,
    feed: FeedState | None = None,
) -> list[tuple[StimulusRule, Decision]]:
    """Every rule of a campaign at `now_ms`, in the order the operator listed them.

    `spent_fen` is what recorded fires have spent of `stimulus_budget_fen`. Fires
    decided in this same call are charged to the budget in turn, so two rules cannot
    both spend its last yuan. From `ends_at` on nothing fires ("ended")."""
    budget = settings.stimulus_budget_fen
    left = None if budget is None else max(0, budget - spent_fen)
    out: list[tuple[StimulusRule, Decision]] = []
    for rule in settings.stimulus_rules:
        state = states.get(rule.name, RuleState())
        if now_ms >= settings.ends_at:
            out.append((rule, Decision(False, "ended", state.fires_so_far + 1)))
            continue
        d = evaluate_rule(
            rule, gmv_by_minute, orders_by_minute, settings.starts_at, now_ms, state, left, feed
        )
        if d.fire and left is not None:
            left -= rule.action.amount_fen
        out.append((rule, d))
    return out


@dataclass(frozen=True)
class UpliftWindows:
    """The metric per minute over the window before a fire and the window after it."""

    before_per_min: float
    after_per_min: float
    complete: bool  # the after-window has fully elapsed


def uplift_windows(
    metric_by_minute: Mapping[int, int], fired_at_ms: int, window_minutes: int, now_ms: int
) -> UpliftWindows:
    """Before = the `window_minutes` whole minutes that ended at or before the fire;
    after = the `window_minutes` whole minutes that began at or after it. A fire in the
    middle of a minute leaves that minute out of both, so neither side is credited with
    sales the other side made."""
    fire_minute = minute_floor(fired_at_ms)
    after_start = fire_minute if fire_minute == fired_at_ms else fire_minute + MINUTE_MS
    span = window_minutes * MINUTE_MS
    before = sum(
        metric_by_minute.get(m, 0) for m in range(fire_minute - span, fire_minute, MINUTE_MS)
    )
    after_end = after_start + span
    after = sum(metric_by_minute.get(m, 0) for m in range(after_start, after_end, MINUTE_MS))
    return UpliftWindows(
        before_per_min=before / window_minutes,
        after_per_min=after / window_minutes,
        complete=minute_floor(now_ms) >= after_end,
    )


def uplift(
    metric_by_minute: Mapping[int, int], fired_at_ms: int, window_minutes: int, now_ms: int
) -> float | None:
    """Velocity after the fire divided by velocity before it, rounded to 4 places
    (1.8 = sales ran 80% faster). None until the after-window is complete, and None
    when the before-window sold nothing: a ratio to zero says nothing (use
    `uplift_windows` to show the raw figures instead)."""
    w = uplift_windows(metric_by_minute, fired_at_ms, window_minutes, now_ms)
    if not w.complete or w.before_per_min == 0:
        return None
    return round(w.after_per_min / w.before_per_min, 4)
