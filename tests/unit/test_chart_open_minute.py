"""The big screen's velocity line at the still-open minute (warroom/web/pages/chart.py):
the current minute is incomplete, so the line never plunges to zero there; it is drawn
dotted, at the minute's pace so far."""

from __future__ import annotations

from typing import Any

from warroom.core.ingest.clock import rfc3339
from warroom.web.pages.chart import OPEN_PACE_AFTER_MS, open_pace, screen_figure

M = 60_000
START = 1_779_242_400_000  # 2026-05-20T10:00:00+08:00
TZ = "Asia/Shanghai"


def snap(now_ms: int, per_minute: dict[int, int], ends_ms: int = START + 420 * M) -> dict[str, Any]:
    rows = [{"minute": rfc3339(m, TZ), "gmv_fen": v, "orders": 1, "buyers": 1, "messages": 0}
            for m, v in sorted(per_minute.items())]  # fmt: skip
    return {
        "campaign": {"timezone": TZ, "starts_at": rfc3339(START, TZ),
                     "ends_at": rfc3339(ends_ms, TZ), "now": rfc3339(now_ms, TZ)},
        "target": {"base_fen": 0}, "per_minute": rows, "velocity": {"window_minutes": 10},
        "stimuli": [],
    }  # fmt: skip


def traces(fig: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in fig["data"]}


def drawn_velocity(fig: dict[str, Any]) -> list[float]:
    """The velocity line as the eye follows it: the solid points, then the dotted
    in-progress one (if any)."""
    t = traces(fig)
    solid = [y for y in t["速度"]["y"] if y is not None]
    ahead = t.get("速度（进行中）")
    return solid + ([ahead["y"][-1]] if ahead else [])


def steady(now_ms: int, per_min: int = 100_000) -> dict[int, int]:
    """A steady sale: `per_min` fen every minute, the open minute pro rata so far."""
    out = {m: per_min for m in range(START, now_ms - now_ms % M, M)}
    out[now_ms - now_ms % M] = per_min * (now_ms % M) // M
    return out


def test_mid_minute_the_velocity_line_has_no_trailing_drop() -> None:
    for into in (1_000, 14_000, 25_000, 59_000):  # seconds into the open minute
        now = START + 30 * M + into
        fig = screen_figure(snap(now, steady(now)), masked=False)
        line = drawn_velocity(fig)
        assert line[-1] >= 0.95 * line[-2] > 0, (into, line[-3:])
        assert traces(fig)["速度"]["y"][-1] is None  # the open minute is not a solid point
        ahead = traces(fig)["速度（进行中）"]
        assert ahead["line"]["dash"] == "dot" and ahead["x"][-1] == "2026-05-20 10:30:00"


def test_the_open_minutes_bar_is_drawn_faint() -> None:
    now = START + 30 * M + 20_000
    bar = traces(screen_figure(snap(now, steady(now)), masked=False))["每分钟"]
    colors = bar["marker"]["color"]
    assert len(set(colors[:-1])) == 1 and colors[-1] != colors[0]


def test_a_real_slump_still_shows() -> None:
    """Nothing sold in the open minute after half of it: the dotted line goes down."""
    now = START + 30 * M + 40_000
    per = steady(now)
    per[START + 30 * M] = 0
    line = drawn_velocity(screen_figure(snap(now, per), masked=False))
    assert line[-1] < line[-2]


def test_open_pace_waits_before_it_extrapolates() -> None:
    assert open_pace(50_000, OPEN_PACE_AFTER_MS - 1) is None
    assert open_pace(50_000, 30_000) == 100_000


def test_after_the_end_no_open_minute() -> None:
    ends = START + 60 * M
    now = ends + 5 * M + 10_000
    per = {m: 100_000 for m in range(START, ends, M)}
    assert "速度（进行中）" not in traces(screen_figure(snap(now, per, ends), masked=False))
