"""Report scheduling over a campaign clock: which keys are due when."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.core.campaign import CampaignSettings, StimulusAction
from warroom.core.ingest.clock import MINUTE_MS
from warroom.core.reports.rules import fire_key
from warroom.core.reports.schedule import (
    Progress,
    due_reports,
    hour_marks,
    scheduled_slot,
    stimulus_report,
    stimulus_report_key,
    top_hour,
)

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


def progress(
    s: CampaignSettings,
    now: int,
    gmv: dict[int, int] | None = None,
    *,
    settled: int | None | str = "now",
    since: int | None = None,
    first: int | None | str = "start",
    final_ready: bool | None = None,
) -> Progress:
    """A tick's view: by default everything up to `now` is settled, the campaign was
    created an hour before doors open and its first event came at the opening."""
    return Progress(
        now_ms=now,
        settled_ms=now if settled == "now" else settled,  # type: ignore[arg-type]
        gmv_by_minute=gmv or {},
        since_ms=s.starts_at - 3_600_000 if since is None else since,
        first_event_ms=s.starts_at if first == "start" else first,  # type: ignore[arg-type]
        final_ready=now >= s.ends_at if final_ready is None else final_ready,
    )


def at(gmv_wan: float, minute: str = "2024-05-20 10:05") -> dict[int, int]:
    """All the GMV sold in one minute."""
    return {local(minute): round(gmv_wan * WAN)} if gmv_wan else {}


def keys(s: CampaignSettings, gmv: dict[int, int], now: int, **kw: Any) -> list[str]:
    return [r.key for r in due_reports(s, progress(s, now, gmv, **kw))]


CASES = [
    # (id, clock, gross GMV in 万 sold at 10:05, expected keys in posting order)
    ("before doors open, even with sales", "2024-05-20 09:59:59.999", 20, []),
    ("doors open: nothing yet", "2024-05-20 10:00", 0, []),
    ("crossing minute not complete yet", "2024-05-20 10:05:59.999", 10, []),
    ("milestone due once its minute is complete", "2024-05-20 10:06", 10, ["milestone:10000000"]),
    ("just below a milestone", "2024-05-20 10:10", 9.99, []),
    ("one ms before the first slot", "2024-05-20 10:29:59.999", 0, []),
    ("first scheduled report", "2024-05-20 10:30", 0, ["scheduled:1"]),
    ("slot stays due until the next", "2024-05-20 10:59:59.999", 0, ["scheduled:1"]),
    ("first hour: slots 1-2 and TOP 1", "2024-05-20 11:00", 0, ["scheduled:1", "scheduled:2", "top:1"]),
    ("two milestones at once", "2024-05-20 10:40", 60, ["milestone:10000000", "milestone:50000000", "scheduled:1"]),
    ("milestone equal to base is the target report", "2024-05-20 11:10", 100, ["milestone:10000000", "milestone:50000000", "target_base", "scheduled:1", "scheduled:2", "top:1"]),
    ("stretch reached", "2024-05-20 11:00", 150, ["milestone:10000000", "milestone:50000000", "milestone:120000000", "target_base", "target_stretch", "scheduled:1", "scheduled:2", "top:1"]),
    ("backlog: the newest three of each kind", "2024-05-20 15:47", 0, ["scheduled:9", "scheduled:10", "scheduled:11", "top:3", "top:4", "top:5"]),
    ("last minute", "2024-05-20 16:59:59.999", 0, ["scheduled:11", "scheduled:12", "scheduled:13", "top:4", "top:5", "top:6"]),
    ("doors close: top on the hour and final", "2024-05-20 17:00", 0, ["scheduled:11", "scheduled:12", "scheduled:13", "top:5", "top:6", "top:7", "final"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("clock", "gmv_wan", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_schedule_table(clock: str, gmv_wan: float, expected: list[str]) -> None:
    assert keys(campaign(), at(gmv_wan), local(clock)) == expected


def test_a_threshold_crossed_after_the_end_is_left_to_the_final() -> None:
    s = campaign()
    late = {local("2024-05-20 10:05"): 5 * WAN, local("2024-05-20 17:01"): 200 * WAN}
    assert keys(s, late, local("2024-05-20 18:30")) == [
        "scheduled:11", "scheduled:12", "scheduled:13", "top:5", "top:6", "top:7", "final",
    ]  # fmt: skip


def test_a_sale_ending_mid_minute_reports_its_last_crossing_before_the_final() -> None:
    """Ends at 17:00:20: the target crossed at 17:00:05 waits for its minute (17:01),
    and so does the final, which follows it in the same tick. (The final used to go out
    at 17:00:50 and the target report never after it.)"""
    s = campaign(ends_at="2024-05-20T17:00:20+08:00")
    gmv = {local("2024-05-20 10:05"): 60 * WAN, local("2024-05-20 17:00"): 50 * WAN}
    before = keys(s, gmv, local("2024-05-20 17:00:50"))
    assert "final" not in before and "target_base" not in before
    after = keys(s, gmv, local("2024-05-20 17:01"))
    assert after[-1] == "final"
    assert after.index("target_base") < after.index("final")
    # not before the watermark has passed that minute, whatever the clock says
    assert "final" not in keys(
        s, gmv, local("2024-05-20 17:05"), settled=local("2024-05-20 17:00:40")
    )


def test_nothing_is_due_without_a_watermark() -> None:
    """While figures restore (no watermark) nothing is due; right after, what fell due
    meanwhile is, each slot once, with its own instant."""
    s = campaign()
    now = local("2024-05-20 11:10")
    assert keys(s, at(60), now, settled=None) == []
    due = due_reports(s, progress(s, now, at(60)))
    assert [(d.key, d.as_of_ms) for d in due if d.kind != "milestone"] == [
        ("scheduled:1", local("2024-05-20 10:30")),
        ("scheduled:2", local("2024-05-20 11:00")),
        ("top:1", local("2024-05-20 11:00")),
    ]


def test_a_slot_waits_for_the_watermark() -> None:
    """A report for slot T is due once every event before T is applied, not before."""
    s = campaign()
    now = local("2024-05-20 10:30:02")
    assert keys(s, {}, now, settled=local("2024-05-20 10:29:59.999")) == []
    assert keys(s, {}, now, settled=local("2024-05-20 10:30")) == ["scheduled:1"]
    # a milestone's minute must be settled too
    assert keys(s, at(10), local("2024-05-20 10:07"), settled=local("2024-05-20 10:05:59")) == []


def test_due_reports_carry_kind_time_as_of_and_extra() -> None:
    s = campaign()
    now = local("2024-05-20 12:10")
    gmv = {local("2024-05-20 10:20"): 50 * WAN, local("2024-05-20 11:34"): 50 * WAN}
    due = {r.key: r for r in due_reports(s, progress(s, now, gmv))}
    m = due["milestone:50000000"]
    assert (m.kind, m.extra) == ("milestone", {"milestone_fen": 50 * WAN})
    # the minute it fell is shown; its figures are as of that minute's end
    assert m.due_at_ms == local("2024-05-20 10:20")
    assert m.as_of_ms == local("2024-05-20 10:21")
    base = due["target_base"]
    assert base.extra == {"target_fen": 100 * WAN}
    assert (base.due_at_ms, base.as_of_ms) == (local("2024-05-20 11:34"), local("2024-05-20 11:35"))
    assert due["scheduled:4"].due_at_ms == due["scheduled:4"].as_of_ms == local("2024-05-20 12:00")
    assert due["scheduled:4"].extra == {"slot": 4}
    assert due["top:2"].due_at_ms == local("2024-05-20 12:00")
    assert due["top:2"].extra == {"hour_index": 2}
    final = due_reports(s, progress(s, local("2024-05-20 17:00:01")))[-1]
    assert (final.key, final.kind, final.due_at_ms) == ("final", "final", s.ends_at)
    assert final.from_totals and final.figures_as_of == s.ends_at


def test_the_final_waits_until_the_sale_has_settled() -> None:
    s = campaign()
    after = local("2024-05-20 17:00:20")
    assert "final" not in keys(s, {}, after, final_ready=False)
    assert "final" in keys(s, {}, after, final_ready=True)
    # never before the end, whatever the caller says
    assert "final" not in keys(s, {}, local("2024-05-20 16:59"), final_ready=True)


def test_no_report_for_slots_before_the_campaign_existed() -> None:
    """Created at 11:20 with doors at 10:00: no report for 10:30, 11:00 (TOP) or 11:00."""
    s = campaign()
    now = local("2024-05-20 11:31")
    created = local("2024-05-20 11:20")
    assert keys(s, {}, now, since=created) == ["scheduled:3"]
    assert keys(s, {}, local("2024-05-20 11:25"), since=created) == []


def test_no_report_for_slots_before_the_first_event() -> None:
    s = campaign()
    assert keys(s, {}, local("2024-05-20 11:05"), first=None) == []
    first = local("2024-05-20 10:40")
    assert keys(s, {}, local("2024-05-20 11:05"), first=first) == ["scheduled:2", "top:1"]


def test_doors_opening_off_the_hour() -> None:
    s = campaign(starts_at="2024-05-20T10:15:00+08:00", ends_at="2024-05-20T12:30:00+08:00")
    assert keys(s, {}, local("2024-05-20 10:59:59")) == ["scheduled:1"]  # 10:45
    assert keys(s, {}, local("2024-05-20 11:00")) == ["scheduled:1", "top:1"]
    assert keys(s, {}, local("2024-05-20 12:15")) == [
        "scheduled:2", "scheduled:3", "scheduled:4", "top:1", "top:2",
    ]  # fmt: skip
    # ends off the hour: no slot at the end, the final is due
    assert keys(s, {}, local("2024-05-20 12:30"))[-1] == "final"
    assert "top:3" not in keys(s, {}, local("2024-05-20 12:30"))


def test_no_targets_no_milestones() -> None:
    s = campaign(target_base_fen=0, target_stretch_fen=0, milestones_fen=[])
    assert keys(s, at(1000), local("2024-05-20 10:45")) == ["scheduled:1"]


def test_stretch_equal_to_base_is_one_target() -> None:
    s = campaign(target_stretch_fen=100 * WAN, milestones_fen=[])
    assert keys(s, at(100, "2024-05-20 10:03"), local("2024-05-20 10:05")) == ["target_base"]


def test_report_interval_longer_than_the_campaign() -> None:
    s = campaign(report_every_minutes=600)
    assert scheduled_slot(s, local("2024-05-20 16:59")) is None
    due = due_reports(s, progress(s, local("2024-05-20 16:59")))
    assert "scheduled" not in {r.kind for r in due}


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
    now, gmv = s.starts_at, {}
    for dt, dg in sorted(ticks):
        now = max(now, s.starts_at + dt)
        sold = sum(gmv.values())
        if dg > sold:
            minute = now - now % MINUTE_MS
            gmv = {**gmv, minute: gmv.get(minute, 0) + dg - sold}
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
