"""A campaign's next due moment (core/reports/agenda.py): each kind of moment, the
clock it is read on, and the states that wait for a change instead of a moment."""

from __future__ import annotations

from typing import Any

from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import MINUTE_MS, CampaignClock
from warroom.core.records import FireRecord
from warroom.core.reports.agenda import Seen, next_due_real_ms

START = 1_716_170_400_000  # 2024-05-20 10:00 Asia/Shanghai, on the hour
M = MINUTE_MS
END = START + 7 * 60 * M
SETTLE = 1_500
RETRY = 250
GRACE = 30_000


def campaign(**over: Any) -> CampaignSettings:
    body: dict[str, Any] = {
        "slug": "sale",
        "name": "sale",
        "starts_at": START,
        "ends_at": END,
        "report_every_minutes": 30,
        "final_grace_seconds": GRACE // 1000,
    }
    body.update(over)
    return CampaignSettings.model_validate(body)


REAL = CampaignClock(START, START - 3_600_000)  # time_scale 1: campaign time is real time


def seen(now: int, settled: int | None = None, **over: Any) -> Seen:
    body: dict[str, Any] = {
        "now_ms": now,
        "settled_ms": now - SETTLE if settled is None else settled,
        "gmv_by_minute": {},
        "first_event_ms": None,
        "claimed": set(),
    }
    body.update(over)
    return Seen(**body)


def due(
    s: CampaignSettings, v: Seen, clock: CampaignClock = REAL, now_real: int | None = None
) -> int | None:
    real = v.now_ms if now_real is None else now_real
    return next_due_real_ms(s, clock, real, v, SETTLE, RETRY)


FINAL = END + GRACE  # real instant the final can be posted (grace beyond settling)


def fire(**over: Any) -> FireRecord:
    body: dict[str, Any] = {
        "id": 1,
        "campaign_id": 1,
        "key": "fire:r:1",
        "rule": "r",
        "kind": "red_packet_rain",
        "metric": "gmv_per_min",
        "window_minutes": 10,
        "at_ms": START + 60 * M + 30_000,
        "amount_fen": 100,
        "text": "t",
        "manual": False,
        "uplift": None,
        "effect": None,
        "effect_minutes": 20,
    }
    body.update(over)
    return FireRecord(**body)


def test_before_the_doors_open_the_opening_is_the_moment() -> None:
    assert due(campaign(), seen(START - 5 * M)) == START


def test_a_rehearsal_clock_maps_campaign_moments_to_real_ones() -> None:
    created = 1_000_000_000_000
    fast = CampaignClock(START, created, 60.0)  # a campaign minute each real second
    s = campaign(time_scale=60)
    v = seen(START + 61 * M, first_event_ms=START + M)
    # The next scheduled slot is 10:30 + 30 min = 11:30 campaign time (90 min after
    # doors): 90 real seconds after creation, plus the settling allowance.
    assert due(s, v, fast, now_real=created + 61_000) == created + 90_000 + SETTLE + 1


def test_an_idle_campaign_without_events_waits_for_its_final_only() -> None:
    now = START + 90 * M
    v = seen(now, decisions=[("no_events", None)])
    assert due(campaign(), v) == FINAL


def test_a_silent_feed_or_a_spent_rule_waits_for_a_change() -> None:
    now = START + 90 * M
    for reason in ("feed_silent", "no_events", "max_fires", "budget", "pending", "no_peak"):
        v = seen(now, first_event_ms=START, decisions=[(reason, None)])
        # only the next scheduled slot (11:30, 90 min after doors) remains
        assert due(campaign(), v) == START + 90 * M + SETTLE + 1, reason


def test_a_watching_rule_is_due_at_the_next_complete_minute() -> None:
    now = START + 95 * M + 20_000
    horizon = now - SETTLE
    running = horizon - horizon % M
    for reason in ("window_filling", "not_low", "sustaining"):
        v = seen(now, first_event_ms=START, decisions=[(reason, None)], active_minutes={running})
        assert due(campaign(), v) == running + M + SETTLE + 1, reason


def test_a_watching_rule_over_a_silent_running_minute_waits_for_a_change() -> None:
    # Nothing has arrived in the running minute: complete, it will be silent and hold
    # the rule (feed_silent); only an event, a change, could make it otherwise.
    now = START + 95 * M + 20_000
    horizon = now - SETTLE
    earlier = horizon - horizon % M - M
    v = seen(now, first_event_ms=START, decisions=[("not_low", None)], active_minutes={earlier})
    assert due(campaign(), v) == START + 120 * M + SETTLE + 1  # the next slot, not a minute


def test_a_cooling_rule_is_due_when_its_cooldown_ends() -> None:
    now = START + 95 * M
    v = seen(now, first_event_ms=START, decisions=[("cooldown", START + 100 * M)])
    assert due(campaign(), v) == START + 100 * M + SETTLE + 1


def test_a_crossed_milestone_is_due_when_its_minute_settles() -> None:
    now = START + 95 * M + 10_000
    minute = START + 95 * M
    v = seen(now, gmv_by_minute={minute: 2_000_000}, first_event_ms=minute)
    s = campaign(milestones_fen=[1_000_000])
    assert due(s, v) == minute + M + SETTLE + 1
    # claimed already: the next moment is the slot at 11:30 (120 min after doors)
    claimed = seen(
        now, gmv_by_minute={minute: 2_000_000}, first_event_ms=minute, claimed={"milestone:1000000"}
    )
    assert due(s, claimed) == START + 120 * M + SETTLE + 1


def test_a_top_of_the_hour_list_is_a_moment_too() -> None:
    now = START + 50 * M
    v = seen(now, first_event_ms=START)
    s = campaign(report_every_minutes=1440)  # no scheduled slot before the end
    assert due(s, v) == START + 60 * M + SETTLE + 1


def test_an_uplift_reads_the_clock_and_an_effect_the_watermark() -> None:
    f = fire()
    after_end = START + 61 * M + 10 * M  # the minute after the fire, ten minutes long
    now = START + 65 * M
    s = campaign(report_every_minutes=1440)
    v = seen(now, first_event_ms=None, fires=[f])
    assert due(s, v) == after_end + 1
    # once the uplift is known, the effect's window (20 min from the fire) is next
    known = seen(now, first_event_ms=None, fires=[f._replace(uplift=1.2)])
    assert due(s, known) == f.at_ms + 20 * M + SETTLE + 1


def test_moments_already_acted_on_are_not_looked_at_again() -> None:
    # An uplift that stays unknown (nothing sold before the fire) must not be retried
    # forever: its moment is behind the evaluation that saw it.
    f = fire(effect='{"x": 1}')
    now = START + 200 * M
    v = seen(now, fires=[f], claimed={"final"})
    assert due(campaign(report_every_minutes=1440), v) is None


def test_a_proposal_is_due_at_its_expiry() -> None:
    p = fire(status="proposed", expires_at_ms=START + 70 * M)
    now = START + 65 * M
    v = seen(now, fires=[p])
    assert due(campaign(report_every_minutes=1440), v) == START + 70 * M + 1


def test_restoring_figures_are_looked_at_again_shortly() -> None:
    now = START + 65 * M
    v = Seen(now, None, {}, None, set())
    assert due(campaign(), v) == now + RETRY


def test_a_moment_reached_but_not_settled_is_retried_not_spun() -> None:
    # The stream is behind: the watermark trails the clock by more than the allowance.
    now = START + 97 * M
    minute = START + 95 * M
    v = seen(now, settled=minute + 30_000, gmv_by_minute={minute: 2_000_000}, first_event_ms=minute)
    assert due(campaign(milestones_fen=[1_000_000]), v) == now + RETRY


def test_the_final_waits_for_the_grace_and_then_nothing_is_due() -> None:
    now = END + 5_000
    v = seen(now, first_event_ms=START)
    assert due(campaign(), v) == FINAL
    assert due(campaign(), seen(now + GRACE, first_event_ms=START, claimed={"final"})) is None
