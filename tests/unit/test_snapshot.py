"""Snapshot figures that depend on where the campaign clock stands."""

from __future__ import annotations

from warroom.core.campaign import CampaignSettings
from warroom.core.clock import MINUTE_MS as M
from warroom.core.snapshot import build_snapshot

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
    return build_snapshot(SETTINGS, totals, minutes, empty, empty, empty, {}, now)


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
