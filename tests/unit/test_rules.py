"""The stimulus rule engine over a campaign clock: tables of boundaries, then properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.core.campaign import CampaignSettings, StimulusRule
from warroom.core.ingest.clock import MINUTE_MS
from warroom.core.reports.rules import (
    FeedState,
    RuleState,
    evaluate_rule,
    evaluate_rules,
    fire_key,
    rule_state,
    uplift,
    uplift_windows,
)

START = 1_716_170_400_000  # 2024-05-20 10:00 Asia/Shanghai, on a minute
M = MINUTE_MS


def at(minute: float) -> int:
    """Campaign clock `minute` minutes after doors open."""
    return START + round(minute * M)


def per_minute(values: list[int]) -> dict[int, int]:
    return {at(i): v for i, v in enumerate(values) if v}


def rule(**kw: Any) -> StimulusRule:
    base: dict[str, Any] = {
        "name": "午后回暖",
        "metric": "gmv_per_min",
        "window_minutes": 3,
        "below_peak_ratio": 0.5,
        "floor": 0,
        "sustain_minutes": 2,
        "cooldown_minutes": 10,
        "max_fires": 2,
        "action": {"kind": "red_packet_rain", "amount_fen": 1_000, "text": "红包雨"},
    }
    base.update(kw)
    return StimulusRule.model_validate(base)


def decide(r: StimulusRule, sales: list[int], now: float, state: RuleState | None = None,
           budget: int | None = None, orders: list[int] | None = None):  # fmt: skip
    return evaluate_rule(
        r, per_minute(sales), per_minute(orders or []), START, at(now), state or RuleState(), budget
    )


STEADY = [100] * 6
SLUMP = [100] * 6 + [0] * 6  # window-3 readings: ..., 300, 200 (not low), 100, 0, 0 ...

CASES = [
    # (id, rule overrides, sales, now in minutes, state, budget, expected reason)
    ("before doors open", {}, STEADY, -0.5, None, None, "window_filling"),
    ("at doors open", {}, STEADY, 0, None, None, "window_filling"),
    ("window one ms short of closing", {}, STEADY, 3 - 1 / M, None, None, "window_filling"),
    ("window closes exactly now", {}, STEADY, 3, None, None, "not_low"),
    ("steady sales are not low", {}, STEADY, 6, None, None, "not_low"),
    ("silence without floor has no peak", {}, [], 10, None, None, "no_peak"),
    ("silence below floor: first low minute", {"floor": 50}, [], 3, None, None, "sustaining"),
    ("silence below floor, sustained", {"floor": 50}, [], 4, None, None, "fire"),
    ("silence one ms before sustain", {"floor": 50}, [], 4 - 1 / M, None, None, "sustaining"),
    ("drop not yet below half the peak", {}, SLUMP, 7, None, None, "not_low"),
    ("first low minute", {}, SLUMP, 8, None, None, "sustaining"),
    ("low for the sustain period", {}, SLUMP, 9, None, None, "fire"),
    ("running minute is never judged", {}, SLUMP, 9 - 1 / M, None, None, "sustaining"),
    ("sustain 0 = latest minute low", {"sustain_minutes": 0}, SLUMP, 8, None, None, "fire"),
    ("sustain 1 = latest minute low", {"sustain_minutes": 1}, SLUMP, 8, None, None, "fire"),
    ("equal to ratio * peak is not low", {"sustain_minutes": 1}, [100, 100, 100, 50, 50, 50], 6, None, None, "not_low"),
    ("just below ratio * peak is low", {"sustain_minutes": 1}, [100, 100, 100, 50, 50, 49], 6, None, None, "fire"),
    ("ratio compared exactly (0.7 * 10)", {"window_minutes": 1, "below_peak_ratio": 0.7, "sustain_minutes": 1}, [10, 7], 2, None, None, "not_low"),
    ("ratio 0 and no floor never low", {"below_peak_ratio": 0}, SLUMP, 12, None, None, "not_low"),
    ("floor above readings", {"floor": 150, "below_peak_ratio": 0}, STEADY, 5, None, None, "fire"),
    ("floor equal to reading is not low", {"floor": 100, "below_peak_ratio": 0}, STEADY, 5, None, None, "not_low"),
    ("during cooldown", {}, SLUMP, 9, RuleState(1, at(0)), None, "cooldown"),
    ("one ms before cooldown ends", {}, SLUMP, 10 - 1 / M, RuleState(1, at(0)), None, "cooldown"),
    ("cooldown just over", {}, SLUMP, 10, RuleState(1, at(0)), None, "fire"),
    ("max fires reached", {}, SLUMP, 9, RuleState(2, at(-60)), None, "max_fires"),
    ("max fires beats cooldown", {}, SLUMP, 9, RuleState(2, at(8)), None, "max_fires"),
    ("budget too small", {}, SLUMP, 9, None, 999, "budget"),
    ("budget exactly enough", {}, SLUMP, 9, None, 1_000, "fire"),
    ("budget ran out", {}, SLUMP, 9, None, 0, "budget"),
    ("free action fits an empty budget", {"action": {"kind": "announcement", "amount_fen": 0}}, SLUMP, 9, None, 0, "fire"),
    ("cooldown beats not low", {}, STEADY, 6, RuleState(1, at(5)), None, "cooldown"),
    ("no fire before window filled even if floor", {"floor": 50, "window_minutes": 5, "sustain_minutes": 1}, [], 4, None, None, "window_filling"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "sales", "now", "state", "budget", "reason"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_rule_table(overrides, sales, now, state, budget, reason) -> None:
    d = decide(rule(**overrides), sales, now, state, budget)
    assert d.reason == reason
    assert d.fire == (reason == "fire")
    assert d.fire_index == (state.fires_so_far if state else 0) + 1


def test_orders_metric_reads_orders_not_gmv() -> None:
    r = rule(metric="orders_per_min", sustain_minutes=1)
    gmv_steady = [100] * 9
    orders_slump = [10] * 6 + [0] * 3
    assert decide(r, gmv_steady, 9, orders=orders_slump).fire
    assert not decide(rule(sustain_minutes=1), gmv_steady, 9, orders=orders_slump).fire


def test_decision_reports_figures() -> None:
    d = decide(rule(), SLUMP, 9)
    assert d.current_per_min == 0
    assert d.peak_per_min == 100
    assert d.threshold_per_min == 50
    assert d.low_minutes == 2


def test_after_a_fire_a_new_sustain_is_needed() -> None:
    r = rule(floor=50, cooldown_minutes=0, sustain_minutes=2, max_fires=5)
    fired = decide(r, [], 4)
    assert fired.fire
    state = RuleState(1, at(4) + 500)  # recorded half a second later
    # Same slump, later ticks: minutes that began before the fire do not count again.
    assert decide(r, [], 4.9, state).reason == "sustaining"
    assert decide(r, [], 6, state).reason == "sustaining"  # minute 5 only
    assert decide(r, [], 7, state).reason == "fire"  # minutes 5 and 6
    again = decide(r, [], 7, state)
    assert again.fire_index == 2


def test_sales_recovering_stops_the_streak() -> None:
    sales = [100] * 6 + [0, 0, 100, 100, 100]
    r = rule(sustain_minutes=3)
    assert decide(r, sales, 9).reason == "sustaining"
    assert decide(r, sales, 11).reason == "not_low"


def _settings(rules: list[StimulusRule], budget: int | None) -> CampaignSettings:
    return CampaignSettings(
        slug="t",
        name="t",
        starts_at=START,
        ends_at=at(60),
        stimulus_rules=rules,
        stimulus_budget_fen=budget,
    )


def test_rules_share_the_budget_within_one_tick() -> None:
    a = rule(name="a", action={"kind": "red_packet_rain", "amount_fen": 600})
    b = rule(name="b", action={"kind": "buy_n_gift", "amount_fen": 600})
    s = _settings([a, b], budget=1_400)
    out = evaluate_rules(s, per_minute(SLUMP), {}, at(9), {}, spent_fen=300)
    assert [(r.name, d.reason) for r, d in out] == [("a", "fire"), ("b", "budget")]
    unlimited = evaluate_rules(_settings([a, b], None), per_minute(SLUMP), {}, at(9), {}, 0)
    assert [d.reason for _, d in unlimited] == ["fire", "fire"]


def test_rules_use_state_by_name_and_stop_at_the_end() -> None:
    a = rule(name="a")
    s = _settings([a], None)
    states = {"a": RuleState(1, at(8))}
    assert evaluate_rules(s, per_minute(SLUMP), {}, at(9), states, 0)[0][1].reason == "cooldown"
    ended = evaluate_rules(s, per_minute(SLUMP), {}, at(60), {}, 0)[0][1]
    assert (ended.fire, ended.reason) == (False, "ended")


@pytest.mark.parametrize(
    ("name", "index", "key"),
    [("午后回暖", 1, "fire:午后回暖:1"), ("a:b", 3, "fire:a:b:3"), ("x", 12, "fire:x:12")],
)
def test_fire_key(name: str, index: int, key: str) -> None:
    assert fire_key(name, index) == key


UPLIFT_CASES = [
    # (id, sales by minute, fired at minute, now minute, expected)
    ("doubled", [10] * 5 + [20] * 5, 5, 10, 2.0),
    ("after-window one ms short", [10] * 5 + [20] * 5, 5, 10 - 1 / M, None),
    ("halved", [10] * 5 + [5] * 5, 5, 12, 0.5),
    ("mid-minute fire skips its minute", [10] * 5 + [999] + [20] * 5, 5.5, 11, 2.0),
    ("mid-minute fire waits for the minute after", [10] * 5 + [999] + [20] * 5, 5.5, 11 - 1 / M, None),
    ("silence before: no baseline", [0] * 5 + [20] * 5, 5, 10, None),
    ("nothing after", [10] * 5, 5, 10, 0.0),
    ("fire early: minutes before doors open are zeros", [20] * 7, 2, 7, 2.5),
]  # fmt: skip


@pytest.mark.parametrize(
    ("sales", "fired", "now", "expected"),
    [c[1:] for c in UPLIFT_CASES],
    ids=[c[0] for c in UPLIFT_CASES],
)
def test_uplift_table(sales: list[int], fired: float, now: float, expected: float | None) -> None:
    assert uplift(per_minute(sales), at(fired), 5, at(now)) == expected


def test_uplift_windows_show_raw_figures_when_ratio_undefined() -> None:
    w = uplift_windows(per_minute([0] * 5 + [20] * 5), at(5), 5, at(10))
    assert (w.before_per_min, w.after_per_min, w.complete) == (0, 20, True)


@settings(max_examples=200, deadline=None)
@given(
    sales=st.lists(st.integers(0, 1_000), max_size=40),
    window=st.integers(1, 6),
    sustain=st.integers(0, 4),
    ratio=st.sampled_from([0, 0.3, 0.5, 0.7, 1]),
    floor=st.integers(0, 300),
    now=st.integers(-2, 45),
)
def test_a_fire_needs_a_full_window_a_sustain_and_a_low_reading(
    sales: list[int], window: int, sustain: int, ratio: float, floor: int, now: int
) -> None:
    r = rule(window_minutes=window, sustain_minutes=sustain, below_peak_ratio=ratio, floor=floor)
    d = decide(r, sales, now)
    if d.fire:
        assert now >= window + max(sustain, 1) - 1
        assert d.current_per_min is not None and d.threshold_per_min is not None
        assert d.current_per_min < d.threshold_per_min
        assert d.low_minutes >= max(sustain, 1)
    if now < window:
        assert d.reason == "window_filling"


# --- a dead feed is not a slump -------------------------------------------------------


def feed_of(messages: list[int], orders: list[int], last_event: float | None) -> FeedState:
    """Events per minute (messages and orders) and the newest event's time."""
    activity = {
        at(i): m + o for i, (m, o) in enumerate(zip(messages, orders, strict=False)) if m + o
    }
    return FeedState(activity, None if last_event is None else at(last_event))


def decide_fed(r: StimulusRule, sales: list[int], now: float, feed: FeedState):
    orders = [1 if v else 0 for v in sales]
    return evaluate_rule(
        r, per_minute(sales), per_minute(orders), START, at(now), RuleState(), None, feed
    )


def test_a_slump_still_fires_while_the_group_talks() -> None:
    """Messages keep coming, orders stop: that is the slump a rule is for."""
    r = rule()
    talk = [5] * 12
    orders = [1] * 6 + [0] * 6
    d = decide_fed(r, SLUMP, 10, feed_of(talk, orders, last_event=9.5))
    assert (d.fire, d.reason) == (True, "fire")
    assert rule_state(d) == "armed"


def test_a_dead_feed_holds_the_rule() -> None:
    """Nothing at all arrives (an integration outage): held, never fired, at every
    moment of the outage, including before the window has emptied."""
    r = rule()
    talk = [5] * 6 + [0] * 6
    orders = [1] * 6 + [0] * 6
    feed = feed_of(talk, orders, last_event=5.9)
    for now in (7, 8, 9, 10, 11.5):
        d = decide_fed(r, SLUMP, now, feed)
        assert not d.fire, now
        assert d.reason == "feed_silent", now
        assert rule_state(d) == "held"
    # the same sales without the feed check would have fired: the hold is what stops it
    assert decide(r, SLUMP, 10).fire


def test_a_silent_minute_breaks_the_sustain() -> None:
    """Events came again just now, but the low minutes before were silent: no fire
    until enough low minutes with a live feed have passed."""
    r = rule()
    talk = [5] * 6 + [0, 0, 0, 5, 5, 5]
    orders = [1] * 6 + [0] * 6
    feed = feed_of(talk, orders, last_event=9.5)
    d = decide_fed(r, SLUMP, 10, feed)  # minute 9 talks, 8 did not: streak 1 < 2
    assert (d.fire, d.reason) == (False, "sustaining")
    assert decide_fed(r, SLUMP, 11, feed).fire


def test_held_before_the_first_event_and_while_restoring() -> None:
    r = rule(floor=50)  # a floor would fire on an empty morning
    assert decide(r, [], 4).fire
    d = decide_fed(r, [], 4, FeedState({}, None))
    assert (d.fire, d.reason, rule_state(d)) == (False, "no_events", "held")
    live = feed_of([5] * 12, [1] * 6 + [0] * 6, last_event=9.5)
    restoring = FeedState(live.activity_by_minute, live.last_event_ms, restoring=True)
    d = decide_fed(rule(), SLUMP, 10, restoring)
    assert (d.fire, d.reason, rule_state(d)) == (False, "restoring", "held")


def test_rules_that_cannot_fire_again_are_done() -> None:
    d = decide(rule(max_fires=1), SLUMP, 10, RuleState(1, at(5)))
    assert rule_state(d) == "done"


@pytest.mark.parametrize("seed", [520, 3])
def test_the_demo_rules_still_fire_in_the_slump_with_the_feed_checked(seed: int) -> None:
    """The simulated day's 13:00 slump is a slump (the groups keep talking), not an
    outage: with the feed check on, the demo's rules fire there, once each."""
    from collections import Counter

    from warroom.demo_campaign import demo_settings
    from warroom.simulator import generate_sale

    s = CampaignSettings.model_validate(demo_settings("x", 60, START))
    sale = generate_sale(START, seed=seed)
    gmv: Counter[int] = Counter()
    orders: Counter[int] = Counter()
    activity: Counter[int] = Counter()
    for e in {e["order_id"]: e for e in sale.events if e["type"] == "order"}.values():
        gmv[e["ts"] - e["ts"] % M] += e["amount_fen"]
        orders[e["ts"] - e["ts"] % M] += 1
    for e in sale.events:
        if e["type"] in ("order", "message"):
            activity[e["ts"] - e["ts"] % M] += 1
    states = {r.name: RuleState() for r in s.stimulus_rules}
    spent, fired = 0, []
    for minute in range(1, 421):
        now = START + minute * M + 500
        feed = FeedState(activity, max(t for t in activity if t < now))
        for r, d in evaluate_rules(s, gmv, orders, now, states, spent, feed):
            if d.fire:
                fired.append((r.name, minute))
                spent += r.action.amount_fen
                states[r.name] = RuleState(states[r.name].fires_so_far + 1, now)
    assert sorted(name for name, _ in fired) == sorted(r.name for r in s.stimulus_rules)
    assert all(175 <= minute <= 200 for _, minute in fired), fired
