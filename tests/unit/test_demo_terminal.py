"""What the demo prints (warroom/demo/terminal.py): the screens' words, never the
code's (issue 23): kind names in Chinese, a kind's own emoji, counts grouped, and after
the end a line stamped with the sale's end and without a speed."""

from __future__ import annotations

from typing import Any

import pytest

from warroom.demo.terminal import figures_line, report_line, stimulus_line

pytestmark = pytest.mark.unit


def snap(now: str) -> dict[str, Any]:
    return {
        "campaign": {"now": now, "ends_at": "2026-05-20T17:00:00+08:00"},
        "totals": {"gmv_fen": 176_010_000, "orders": 7_901, "buyers": 1_050},
        "velocity": {"gmv_per_min_fen": 41_230_000},
        "target": {"progress_base": 1.7601},
        "leaderboards": {"sellers": [{"name": "小美团长", "net_gmv_fen": 20_530_000}]},
    }


def test_a_line_during_the_sale_has_its_minute_and_its_speed() -> None:
    line = figures_line(snap("2026-05-20T15:31:12+08:00"))
    assert line.startswith("[15:31] 成交 ¥176.01万 (目标 176.0%) | 订单 7,901 | 买家 1,050 | ")
    assert "速度 ¥41.23万/分" in line and "🥇小美团长 ¥20.53万" in line


def test_after_the_end_the_line_is_stamped_with_the_end_and_has_no_speed() -> None:
    line = figures_line(snap("2026-05-20T17:10:00+08:00"))
    assert line.startswith("[17:00] 成交 ¥176.01万 ") and "速度" not in line


@pytest.mark.parametrize(
    ("kind", "label"),
    [("scheduled", "定时战报"), ("target_base", "基础目标达成"), ("final", "收官战报")],
)
def test_a_report_is_headed_by_its_kinds_chinese_name(kind: str, label: str) -> None:
    line = report_line({"kind": kind, "text": "正文\x1b[31m"})
    assert f"📣 战报 · {label}\n正文[31m" in line and f"[{kind}]" not in line


def test_a_fire_has_its_kinds_emoji_and_title() -> None:
    gift = stimulus_line({"kind": "buy_n_gift", "text": "买二送一", "amount_fen": 100_000})
    assert gift == "🎁 买赠福利：买二送一（¥1,000）"
    rain = stimulus_line({"kind": "red_packet_rain", "text": "", "amount_fen": 2_000_000})
    assert rain == "🧧 红包雨（¥2万）"
