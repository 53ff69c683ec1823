"""The money-free twin of the live snapshot and frames (core/live/masked.py), and what
each kind of link opens (core/links.py)."""

from __future__ import annotations

from typing import Any

import orjson

from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import MINUTE_MS as M
from warroom.core.links import FULL, Access, LinkRecord, access_of, has_control, link_path
from warroom.core.live.frames import diff
from warroom.core.live.masked import mask_frame, mask_snapshot
from warroom.core.live.shapes import RawState
from warroom.core.live.snapshot import build_snapshot

SETTINGS = CampaignSettings.model_validate(
    {
        "slug": "s",
        "name": "n",
        "starts_at": "2024-05-20T10:00:00+08:00",
        "ends_at": "2024-05-20T17:00:00+08:00",
        "target_base_fen": 87_654_300,
        "target_stretch_fen": 123_456_700,
        "milestones_fen": [23_456_700, 54_321_900],
        "stimulus_budget_fen": 3_141_500,
    }
)
MARKS = [*SETTINGS.milestones_fen, SETTINGS.target_base_fen, SETTINGS.target_stretch_fen]
S = SETTINGS.starts_at


def snapshot(minutes_in: int, per_min: int = 345_678) -> Any:
    gmv = {S + i * M: per_min for i in range(minutes_in)}
    minutes = {"gmv": gmv, "orders": {m: 3 for m in gmv}, "buyers": {}, "messages": {}}
    totals = {"gmv": sum(gmv.values()), "orders": 3 * len(gmv), "buyers": 2 * len(gmv)}
    boards = {"sellers": {"a": 600_001, "b": 300_002}, "groups": {}, "products": {}}
    orders = {"sellers": {"a": 5, "b": 2}, "groups": {}, "products": {}}
    names = {"sellers": {"a": "阿芳", "b": "老周"}, "groups": {}, "products": {}}
    stimuli = [
        {"id": 1, "at": "2024-05-20T10:05:00+08:00", "amount_fen": 77_700, "text": "红包 ¥777"}
    ]
    reports = [
        {
            "id": 1,
            "kind": "milestone",
            "at": "2024-05-20T10:05:00+08:00",
            "text": "🎉 突破 ¥23.46万！成交 ¥24.2万",
            "figures": {"as_of": "x", "gmv_fen": 24_200_000, "orders": 9, "buyers": 4},
            "n": 1,
        }
    ]
    raw = RawState(totals, minutes, boards, orders, names)
    return build_snapshot(SETTINGS, raw, S + minutes_in * M, reports, stimuli)  # type: ignore[arg-type]


def fen_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        out = [k for k, v in value.items() if k.endswith("_fen") and v is not None]
        return out + [k for v in value.values() for k in fen_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in fen_keys(v)]
    return []


def test_masked_snapshot_has_no_amount() -> None:
    full = snapshot(70)
    masked = mask_snapshot(full, MARKS)
    assert fen_keys(full) and not fen_keys(masked)
    text = orjson.dumps(masked).decode()
    for fen in (87_654_300, 123_456_700, 23_456_700, 54_321_900, 3_141_500, 345_678, 77_700):
        assert str(fen) not in text
    assert "¥" not in text.replace("¥•••", "")
    assert masked["masked"] is True
    # what is left: shares, counts, ranks, names
    assert masked["totals"]["orders"] == full["totals"]["orders"]
    assert masked["totals"]["gmv_share"] == round(full["totals"]["gmv_fen"] / 87_654_300, 4)
    assert masked["target"]["progress_base"] == full["target"]["progress_base"]
    assert masked["target"]["has_base"] and masked["target"]["has_stretch"]
    assert [r["name"] for r in masked["leaderboards"]["sellers"]] == ["阿芳", "老周"]
    assert masked["leaderboards"]["sellers"][0]["share"] == round(600_001 / 87_654_300, 4)
    assert masked["reports"][0]["figures"] == {"as_of": "x", "orders": 9, "buyers": 4}
    assert masked["stimuli"][0]["amount_fen"] is None
    assert masked["campaign"]["stimulus_budget_fen"] is None


def test_next_milestone_is_numbered_not_priced() -> None:
    assert mask_snapshot(snapshot(30), MARKS)["target"]["next_milestone_n"] == 1
    masked = mask_snapshot(snapshot(70), MARKS)
    # 70 minutes of ¥3,456.78: past the first milestone, the next is the second
    assert masked["target"]["next_milestone_n"] == 2
    assert masked["target"]["next_milestone_share"] == round(54_321_900 / 87_654_300, 4)


def test_masked_frames_of_every_type() -> None:
    before, after = snapshot(10), snapshot(11)
    d = diff(before, after)
    update = {"type": "update", "seq": 3, **d.update, "fresh": {"lag_ms": 5}}
    frames = [
        {"type": "snapshot", "seq": 1, **after, "fresh": {}},
        update,
        {"type": "report", "seq": 4, "report": after["reports"][0]},
        {"type": "stimulus", "seq": 5, "stimulus": after["stimuli"][0]},
    ]
    for frame in frames:
        out = mask_frame(frame, after, MARKS)
        assert out["type"] == frame["type"] and out["seq"] == frame["seq"]
        assert not fen_keys(out), (frame["type"], fen_keys(out))
        assert "¥2" not in orjson.dumps(out).decode()
    assert mask_frame(update, after, MARKS)["fresh"] == {"lag_ms": 5}


def test_no_target_shares_of_the_total() -> None:
    settings = SETTINGS.model_copy(update={"target_base_fen": 0, "target_stretch_fen": 0})
    empty: dict[str, dict[str, int]] = {"sellers": {}, "groups": {}, "products": {}}
    series: dict[str, dict[int, int]] = {"gmv": {}, "orders": {}, "buyers": {}, "messages": {}}
    raw = RawState({"gmv": 1000, "orders": 1}, series, empty, empty, empty)
    full = build_snapshot(settings, raw, S + M)
    masked = mask_snapshot(full, [])
    assert masked["totals"]["gmv_share"] == 1.0 and not fen_keys(masked)


def link(kind: str, masked: bool = False, seller: str | None = None) -> LinkRecord:
    return LinkRecord(7, 1, kind, masked, seller, "", 0, None, None, None)


def test_what_each_link_opens() -> None:
    wall, masked = access_of(link("wall")), access_of(link("wall", True))
    host, review = access_of(link("host", seller="s1")), access_of(link("review"))
    assert masked.masked and not wall.masked and host.seller_id == "s1"
    assert all(FULL.allows(a) for a in ("screen", "host", "review", "settings"))
    assert wall.allows("screen") and wall.allows("socket") and not wall.allows("review")
    assert not host.allows("review") and not host.allows("screen") and host.allows("host")
    assert review.allows("review") and not review.allows("host") and not review.allows("socket")
    assert not any(x.allows("settings") for x in (wall, masked, host, review))
    # masked is a wall's property only; a host link is never masked, nor a review
    assert not access_of(link("host", True, "s1")).masked
    assert Access(kind="wall", link_id=7) == wall


def test_link_time_and_paths() -> None:
    live = LinkRecord(1, 1, "wall", False, None, "", 0, 1000, None, None)
    assert live.live_at(999) and not live.live_at(1000) and live.state(1000) == "expired"
    gone = LinkRecord(1, 1, "wall", False, None, "", 0, None, 5, None)
    assert gone.state(0) == "revoked"
    assert link_path("s", "host", "lk_a/b") == "/c/s/host?token=lk_a%2Fb"
    assert link_path("s", "review", "t") == "/c/s/review?token=t"
    assert link_path("s", "wall", "t") == "/c/s?token=t"
    assert has_control("a\u202eb") and has_control("a\x00") and not has_control("阿芳 团")
