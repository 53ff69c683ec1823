"""Report scheduling over a campaign clock: which keys are due when."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.core.campaign import CampaignSettings, StimulusAction
from warroom.core.clock import MINUTE_MS
from warroom.core.reports import (
    due_reports,
    hour_marks,
    scheduled_slot,
    stimulus_report,
    stimulus_report_key,
    top_hour,
)
from warroom.core.rules import fire_key

WAN = 1_000_000  # fen in 1万 CNY
SH = ZoneInfo("Asia/Shanghai")


def local(text: str, tz: str = "Asia/Shanghai") -> int:
    """'2024-05-20 10:30' (or with seconds) on the wall clock of `tz` as epoch ms."""
    dt = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))
    return int(dt.timestamp() * 1000)


def campaign(**kw: Any) -> CampaignSettings:
    base: dict[str, Any] = {
        "slug": "520",
        "name": "520 宠粉节",
        "starts_at": "2024-05-20T10:00:00+08:00",
        "ends_at": "2024-05-20T17:00:00+08:00",
        "target_base_fen": 100 * WAN,
        "target_stretch_fen": 150 * WAN,
        "milestones_fen": [10 * WAN, 50 * WAN, 100 * WAN, 120 * WAN],
        "report_every_minutes": 30,
    }
    base.update(kw)
    return CampaignSettings.model_validate(base)


def keys(s: CampaignSettings, gmv: int, now: int) -> list[str]:
    return [r.key for r in due_reports(s, gmv, now)]


CASES = [
    # (id, clock, gross GMV in 万, expected keys in posting order)
    ("before doors open, even with sales", "2024-05-20 09:59:59.999", 20, []),
    ("doors open: nothing yet", "2024-05-20 10:00", 0, []),
    ("one ms before the first slot", "2024-05-20 10:29:59.999", 0, []),
    ("first scheduled report", "2024-05-20 10:30", 0, ["scheduled:1"]),
    ("slot stays due until the next", "2024-05-20 10:59:59.999", 0, ["scheduled:1"]),
    ("first hour: slot 2 and TOP 1", "2024-05-20 11:00", 0, ["scheduled:2", "top:1"]),
    ("milestone crossed", "2024-05-20 10:10", 10, ["milestone:10000000"]),
    ("just below a milestone", "2024-05-20 10:10", 9.99, []),
    ("two milestones at once", "2024-05-20 10:40", 60, ["milestone:10000000", "milestone:50000000", "scheduled:1"]),
    ("milestone equal to base is the target report", "2024-05-20 12:10", 100, ["milestone:10000000", "milestone:50000000", "target_base", "scheduled:4", "top:2"]),
    ("stretch reached", "2024-05-20 13:00", 150, ["milestone:10000000", "milestone:50000000", "milestone:120000000", "target_base", "target_stretch", "scheduled:6", "top:3"]),
    ("backlog: only the latest slot", "2024-05-20 15:47", 0, ["scheduled:11", "top:5"]),
    ("last minute", "2024-05-20 16:59:59.999", 0, ["scheduled:13", "top:6"]),
    ("doors close: top on the hour and final", "2024-05-20 17:00", 0, ["top:7", "final"]),
    ("after the end: no thresholds, no slot", "2024-05-20 18:30", 200, ["top:7", "final"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("clock", "gmv_wan", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_schedule_table(clock: str, gmv_wan: float, expected: list[str]) -> None:
    assert keys(campaign(), round(gmv_wan * WAN), local(clock)) == expected


def test_due_reports_carry_kind_time_and_extra() -> None:
    s = campaign()
    now = local("2024-05-20 12:10")
    due = {r.key: r for r in due_reports(s, 100 * WAN, now)}
    assert due["milestone:50000000"].kind == "milestone"
    assert due["milestone:50000000"].extra == {"milestone_fen": 50 * WAN}
    assert due["milestone:50000000"].due_at_ms == now
    assert due["target_base"].extra == {"target_fen": 100 * WAN}
    assert due["scheduled:4"].due_at_ms == local("2024-05-20 12:00")
    assert due["scheduled:4"].extra == {"slot": 4}
    assert due["top:2"].due_at_ms == local("2024-05-20 12:00")
    assert due["top:2"].extra == {"hour_index": 2}
    final = due_reports(s, 0, local("2024-05-20 17:00:01"))[-1]
    assert (final.key, final.kind, final.due_at_ms) == ("final", "final", s.ends_at)


def test_doors_opening_off_the_hour() -> None:
    s = campaign(starts_at="2024-05-20T10:15:00+08:00", ends_at="2024-05-20T12:30:00+08:00")
    assert keys(s, 0, local("2024-05-20 10:59:59")) == ["scheduled:1"]  # 10:45
    assert keys(s, 0, local("2024-05-20 11:00")) == ["scheduled:1", "top:1"]
    assert keys(s, 0, local("2024-05-20 12:15")) == ["scheduled:4", "top:2"]
    # ends off the hour: after the end only the final is due
    assert keys(s, 0, local("2024-05-20 12:30")) == ["final"]


def test_no_targets_no_milestones() -> None:
    s = campaign(target_base_fen=0, target_stretch_fen=0, milestones_fen=[])
    assert keys(s, 10**9, local("2024-05-20 10:45")) == ["scheduled:1"]


def test_stretch_equal_to_base_is_one_target() -> None:
    s = campaign(target_stretch_fen=100 * WAN, milestones_fen=[])
    assert keys(s, 100 * WAN, local("2024-05-20 10:05")) == ["target_base"]


def test_report_interval_longer_than_the_campaign() -> None:
    s = campaign(report_every_minutes=600)
    assert scheduled_slot(s, local("2024-05-20 16:59")) is None
    assert "scheduled" not in {r.kind for r in due_reports(s, 0, local("2024-05-20 16:59"))}


def test_top_hours_follow_the_campaign_time_zone() -> None:
    # India is UTC+05:30: local hour marks fall on the half hour in UTC.
    s = campaign(
        timezone="Asia/Kolkata",
        starts_at="2024-05-20T10:00:00+05:30",
        ends_at="2024-05-20T13:00:00+05:30",
    )
    marks = hour_marks(s.starts_at, s.ends_at, s.timezone)
    assert marks == tuple(local(f"2024-05-20 {h}:00", "Asia/Kolkata") for h in (11, 12, 13))
    assert top_hour(s, local("2024-05-20 11:59", "Asia/Kolkata")) == (1, marks[0])


@pytest.mark.parametrize(
    ("start", "end", "expected_utc_hours"),
    [
        # New York falls back: 01:00 happens twice, both are hour marks.
        ("2024-11-03T00:30:00-04:00", "2024-11-03T03:30:00-05:00", [5, 6, 7, 8]),
        # ... and springs forward: 02:00 never happens.
        ("2024-03-10T01:30:00-05:00", "2024-03-10T03:30:00-04:00", [7]),
    ],
)
def test_top_hours_across_daylight_saving(
    start: str, end: str, expected_utc_hours: list[int]
) -> None:
    s = campaign(timezone="America/New_York", starts_at=start, ends_at=end)
    marks = hour_marks(s.starts_at, s.ends_at, s.timezone)
    assert [
        datetime.fromtimestamp(m / 1000, ZoneInfo("UTC")).hour for m in marks
    ] == expected_utc_hours


def test_stimulus_report_keys() -> None:
    key = fire_key("午后回暖", 2)
    assert stimulus_report_key(key) == "stimulus:fire:午后回暖:2"
    action = StimulusAction(kind="red_packet_rain", amount_fen=50_000, text="红包雨来啦")
    r = stimulus_report(key, "午后回暖", action, 1_716_181_200_000)
    assert (r.key, r.kind, r.due_at_ms) == (
        "stimulus:fire:午后回暖:2",
        "stimulus",
        1_716_181_200_000,
    )
    assert r.extra["action_kind"] == "red_packet_rain"
    assert r.extra["amount_fen"] == 50_000


@settings(max_examples=200, deadline=None)
@given(
    ticks=st.lists(
        st.tuples(st.integers(0, 7 * 60 * 60_000), st.integers(0, 200 * WAN)),
        min_size=1,
        max_size=8,
    )
)
def test_keys_are_unique_and_thresholds_stay_due(ticks: list[tuple[int, int]]) -> None:
    """Along a live campaign (time and GMV only go up), every key is unique within a
    tick and a threshold once due stays due until the doors close."""
    s = campaign()
    seen: set[str] = set()
    now, gmv = s.starts_at, 0
    for dt, dg in sorted(ticks):
        now, gmv = max(now, s.starts_at + dt), max(gmv, dg)
        due = keys(s, gmv, now)
        assert len(due) == len(set(due))
        thresholds = {k for k in due if k.startswith(("milestone:", "target_"))}
        if now < s.ends_at:
            assert seen <= thresholds
        seen = thresholds


def test_slots_fall_every_interval_of_campaign_time() -> None:
    s = campaign(report_every_minutes=45)
    for k in range(1, 9):
        due_at = s.starts_at + k * 45 * MINUTE_MS
        if due_at >= s.ends_at:
            break
        assert scheduled_slot(s, due_at - 1) == k - 1 or (
            k == 1 and scheduled_slot(s, due_at - 1) is None
        )
        assert scheduled_slot(s, due_at) == k
