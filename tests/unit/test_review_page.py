"""What the retrospective page prints (core/review/page.py): times in the campaign's
zone, the chart's data and its marks."""

from __future__ import annotations

from typing import Any

import pytest

from warroom.core.ingest.clock import MINUTE_MS as M
from warroom.core.review.page import chart_data, hm, hms, page_context

T0 = 1_716_170_400_000  # 2024-05-20 10:00 Asia/Shanghai, 02:00 UTC
TZ = "Asia/Shanghai"


def review(**over: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "campaign": {
            "starts_ms": T0,
            "ends_ms": T0 + 7 * 60 * M + 30 * M,
            "target_base_fen": 100,
            "target_stretch_fen": 200,
        },  # fmt: skip
        "totals": {"gmv_fen": 300},
        "minutes": [
            {
                "minute": "2024-05-20T10:00:00+08:00",
                "gmv_fen": 100,
                "cumulative_gmv_fen": 100,
                "joins": 2,
                "leaves": 0,
            },
            {
                "minute": "2024-05-20T10:01:00+08:00",
                "gmv_fen": 200,
                "cumulative_gmv_fen": 300,
                "joins": 0,
                "leaves": 1,
            },
        ],  # fmt: skip
        "milestones": [
            {"fen": 100, "label": "¥1", "crossed_ms": T0 + 30_000},
            {"fen": 10**9, "label": "¥1000万", "crossed_ms": None},  # never reached
        ],
        "stimuli": [
            {"at_ms": T0 + M, "kind": "red_packet_rain", "amount_fen": 5_000},
            {"at_ms": T0 + 2 * M, "kind": "lucky_draw", "amount_fen": 0},  # no title known
        ],
        "peak_minute": {"at_ms": T0 + M},
        "peak_10": {"at_ms": T0 + 5 * M, "minutes": 10},
        "marks": [T0 + 60 * M, T0 + 120 * M, T0 + 450 * M],
    }
    r.update(over)
    return r


@pytest.mark.parametrize(
    ("fn", "ms", "tz", "text"),
    [
        (hm, T0, TZ, "10:00"),
        (hm, T0, "UTC", "02:00"),
        (hm, T0 + 61_500, TZ, "10:01"),
        (hms, T0 + 61_500, TZ, "10:01:01"),
        (hm, None, TZ, "—"),
        (hms, None, TZ, "—"),
        (hm, T0 - 3 * 60 * M, "Asia/Shanghai", "07:00"),
    ],
)
def test_clock_texts(fn: Any, ms: int | None, tz: str, text: str) -> None:
    assert fn(ms, tz) == text


def test_chart_data_series_targets_and_marks() -> None:
    c = chart_data(review(), TZ)
    assert c["x"] == ["2024-05-20T10:00:00+08:00", "2024-05-20T10:01:00+08:00"]
    assert (c["gmv_fen"], c["cum_fen"]) == ([100, 200], [100, 300])
    assert (c["joins"], c["leaves"]) == ([2, 0], [0, 1])
    assert (c["start"], c["end"]) == ("2024-05-20T10:00:00+08:00", "2024-05-20T17:30:00+08:00")
    assert (c["base_fen"], c["stretch_fen"]) == (100, 200)
    # only milestones that were crossed are marked; a stimulus by its title, else its kind
    assert [(m["kind"], m["label"], m["x"]) for m in c["marks"]] == [
        ("milestone", "¥1", "2024-05-20T10:00:30+08:00"),
        ("stimulus", "红包雨", "2024-05-20T10:01:00+08:00"),
        ("stimulus", "lucky_draw", "2024-05-20T10:02:00+08:00"),
    ]
    assert [m["fen"] for m in c["marks"]] == [100, 5_000, 0]


def test_chart_times_follow_the_zone() -> None:
    assert chart_data(review(), "UTC")["start"] == "2024-05-20T02:00:00+00:00"


def test_page_context_texts() -> None:
    ctx = page_context(review(), TZ)
    assert ctx["start_text"] == "2024-05-20 10:00" and ctx["end_text"] == "17:30"
    assert ctx["duration"] == "7小时30分钟"
    assert ctx["peak_minute_text"] == "10:01"
    assert ctx["peak10_text"] == "10:05–10:15"
    assert ctx["mark_labels"] == ["11:00", "12:00", "收官"]  # the last mark is the close
    assert ctx["hm"](T0) == "10:00" and ctx["hms"](T0 + 1_000) == "10:00:01"
    assert ctx["t"] == {"gmv_fen": 300} and ctx["chart"] == chart_data(review(), TZ)
    assert ctx["event_labels"]["refund"] == "退款"


def test_page_context_without_a_peak() -> None:
    ctx = page_context(
        review(peak_10={"at_ms": None, "minutes": 10}, peak_minute={"at_ms": None}), TZ
    )
    assert ctx["peak10_text"] == "—" and ctx["peak_minute_text"] == "—"


def test_page_context_in_another_zone() -> None:
    ctx = page_context(review(), "Europe/Berlin")  # UTC+2 in May
    assert ctx["start_text"] == "2024-05-20 04:00" and ctx["peak10_text"] == "04:05–04:15"
