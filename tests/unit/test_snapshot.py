"""Snapshot figures that depend on where the campaign clock stands."""

from __future__ import annotations

from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import MINUTE_MS as M
from warroom.core.live.shapes import RawState
from warroom.core.live.snapshot import build_snapshot, snapshot_as_of

SETTINGS = CampaignSettings.model_validate(
    {
        "slug": "s",
        "name": "n",
        "starts_at": "2024-05-20T10:00:00+08:00",
        "ends_at": "2024-05-20T11:00:00+08:00",
        "target_base_fen": 10_000_000,
    }
)
START, END = SETTINGS.starts_at, SETTINGS.ends_at


def snapshot_at(now: int) -> dict:
    gmv = {START + i * M: 10_000 + 100 * i for i in range(60)}  # busier to the close
    minutes = {"gmv": gmv, "orders": {m: 10 for m in gmv}, "buyers": {}, "messages": {}}
    totals = {"gmv": sum(gmv.values()), "orders": 600}
    empty: dict = {"sellers": {}, "groups": {}, "products": {}}
    return build_snapshot(SETTINGS, RawState(totals, minutes, empty, empty, empty), now)


def test_velocity_stops_at_the_close() -> None:
    """After the doors close the screen keeps the closing velocity; it must not decay
    minute by minute as if the sale had gone cold, nor project sales past the end."""
    at_close = snapshot_at(END)
    window = SETTINGS.velocity_window_minutes
    last = [10_000 + 100 * i for i in range(60 - window, 60)]
    assert at_close["velocity"]["gmv_per_min_fen"] == round(sum(last) / window)
    for later in (END + 5 * M, END + 3 * 60 * M):
        snap = snapshot_at(later)
        assert snap["velocity"] == at_close["velocity"]
        assert snap["target"]["projected_fen"] == snap["totals"]["gmv_fen"]
    during = snapshot_at(END - 30 * M)
    assert during["velocity"]["gmv_per_min_fen"] < at_close["velocity"]["gmv_per_min_fen"]


# --- an honest projection -----------------------------------------------------------

SEVEN_HOURS = CampaignSettings.model_validate(
    {
        "slug": "s",
        "name": "n",
        "starts_at": "2024-05-20T10:00:00+08:00",
        "ends_at": "2024-05-20T17:00:00+08:00",
        "target_base_fen": 100_000_000,
        "milestones_fen": [10_000_000, 30_000_000, 100_000_000],
    }
)
S7 = SEVEN_HOURS.starts_at


def spike_day(now_min: int) -> dict:
    """An opening spike (¥1万/min for 10 minutes), then ¥1,000 a minute."""
    gmv = {S7 + i * M: (1_000_000 if i < 10 else 100_000) for i in range(now_min)}
    minutes = {"gmv": gmv, "orders": {m: 1 for m in gmv}, "buyers": {}, "messages": {}}
    totals = {"gmv": sum(gmv.values()), "orders": len(gmv)}
    empty: dict = {"sellers": {}, "groups": {}, "products": {}}
    return build_snapshot(
        SEVEN_HOURS, RawState(totals, minutes, empty, empty, empty), S7 + now_min * M
    )


def test_no_projection_from_the_opening_spike() -> None:
    """At 10:10 the screen must not project the spike over seven hours (it said
    ¥509.78万 once): no projection until 30 minutes (or a tenth of the sale) are in."""
    early = spike_day(10)["target"]
    assert early["projected_fen"] is None and early["base_eta_at"] is None
    # the next milestone is near: its ETA is shown from the start
    assert early["next_milestone_fen"] == 30_000_000
    assert early["next_milestone_eta_at"] is not None


def test_projection_never_runs_faster_than_the_average_so_far() -> None:
    snap = spike_day(40)  # 10:40: the spike is over, sales run at ¥1,000/min
    t = snap["target"]
    gmv = snap["totals"]["gmv_fen"]
    assert gmv == 10 * 1_000_000 + 30 * 100_000
    recent = snap["velocity"]["gmv_per_min_fen"]
    assert recent == 100_000  # the 10-minute window
    assert t["projected_fen"] == gmv + 380 * 100_000  # not the day's average, ¥3,250/min
    spiky = spike_day(12)["velocity"]["gmv_per_min_fen"]  # window still in the spike
    assert spiky > 100_000


def test_eta_to_the_next_milestone_and_to_the_base_target() -> None:
    t = spike_day(40)["target"]
    assert t["next_milestone_fen"] == 30_000_000
    # ¥1,700万... gap 17万 at ¥1,000/min: 170 minutes from 10:40
    assert t["next_milestone_eta_at"] == "2024-05-20T13:30:00+08:00"
    assert t["base_eta_at"] is None  # ¥100万 is not reachable by 17:00 at this pace


def test_rules_and_report_count_in_the_snapshot() -> None:
    rule = {"name": "红包雨", "window_minutes": 3, "action": {"kind": "red_packet_rain"}}
    s = SETTINGS.model_copy(
        update={"stimulus_rules": [CampaignSettings.model_validate(
            {**SETTINGS.model_dump(), "stimulus_rules": [rule]}
        ).stimulus_rules[0]]}
    )  # fmt: skip
    empty: dict = {"sellers": {}, "groups": {}, "products": {}}
    none = {"gmv": {}, "orders": {}, "buyers": {}, "messages": {}}
    snap = build_snapshot(s, RawState({}, none, empty, empty, empty), START + 20 * M)
    assert snap["rules"] == [{"name": "红包雨", "state": "held", "reason": "no_events"}]
    assert snap["reports_total"] == 0
    reports = [
        {"id": 40 + k, "kind": "scheduled", "at": "x", "text": "", "n": 18 + k} for k in range(10)
    ]
    snap = build_snapshot(s, RawState({}, none, empty, empty, empty), START + 20 * M, reports)
    assert snap["reports_total"] == 27


def test_snapshot_as_of_an_instant() -> None:
    """Sums of the minutes below the instant; leaders without the later minutes."""
    gmv = {START + i * M: 10_000 for i in range(30)}
    minutes = {
        "gmv": gmv,
        "orders": {m: 2 for m in gmv},
        "buyers": {m: 2 for m in gmv},
        "newbuyers": {m: 1 for m in gmv},
        "refund": {START + 5 * M: 3_000, START + 25 * M: 4_000},
        "messages": {m: 7 for m in gmv},
    }
    totals = {
        "gmv": 300_000,
        "refund": 7_000,
        "orders": 60,
        "buyers": 30,
        "last_ts": START + 30 * M,
    }
    boards = {"sellers": {"a": 190_000, "b": 100_000}, "groups": {}, "products": {}}
    late = {START + i * M: {"a": 10_000} for i in range(20, 30)}  # a sold everything late
    board_minutes = {"sellers": late}
    raw = RawState(totals, minutes, boards, {}, {}, board_minutes)
    snap, figs = snapshot_as_of(SETTINGS, raw, START + 20 * M)
    assert (figs.gmv_fen, figs.refund_fen, figs.orders, figs.buyers) == (200_000, 3_000, 40, 20)
    assert figs.net_gmv_fen == 197_000
    t = snap["totals"]
    assert (t["gmv_fen"], t["refund_fen"], t["orders"], t["buyers"]) == (200_000, 3_000, 40, 20)
    assert snap["campaign"]["now"] == "2024-05-20T10:20:00+08:00"
    assert [(r["id"], r["net_gmv_fen"]) for r in snap["leaderboards"]["sellers"]] == [
        ("b", 100_000), ("a", 90_000),
    ]  # fmt: skip
    assert all(r["minute"] < "2024-05-20T10:20" for r in snap["per_minute"])
