"""What a battle-report poster says (core/reports/poster.py), before any pixel: the
hook, the big number, the top three, the facts, the call to action, and masked mode."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.money import format_wan, format_yuan
from warroom.core.reports.poster import (
    KIND_TITLES,
    MASK,
    MAX_CHARS,
    MAX_FACTS,
    PosterSpec,
    mask_money,
    plain,
    poster_spec,
    report_poster_spec,
)

REPORT = """🎉 520 宠粉节 突破 ¥30万！

🥇 小美 ¥90万
🥈 阿强 ¥75万
🥉 花姐 ¥60万
订单 1,680 单
下单买家 1,050 人
👉 冲刺下一个目标！"""
FIGS = {"gmv_fen": 31_500_000, "orders": 1_680, "buyers": 1_050}
BASE = 100_000_000


def spec(text: str = REPORT, figures: dict | None = None, mask: bool = False, **kw) -> PosterSpec:
    args = {"kind": "scheduled", "campaign_name": "520 宠粉节", "at_text": "05-20 13:30",
            "base_fen": BASE} | kw  # fmt: skip
    return poster_spec(
        args["kind"], text, FIGS if figures is None else figures, args["campaign_name"],
        args["at_text"], args["base_fen"], mask,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("成交 ¥1,234.56", f"成交 {MASK}"),
        ("成交 ￥ 100", f"成交 {MASK}"),
        ("本时段 +¥11.31万", f"本时段 +{MASK}"),
        ("突破 12.5万 大关", f"突破 {MASK} 大关"),
        ("红包 3万元", f"红包 {MASK}"),
        ("红包 200 元", f"红包 {MASK}"),
        ("第3名 · 1,680 单 · 1050 人", "第3名 · 1,680 单 · 1050 人"),  # counts stay
        ("13:30 战报", "13:30 战报"),
    ],
)
def test_mask_money(text: str, masked: str) -> None:
    assert mask_money(text) == masked


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ("🔥冲冲冲🔥", "冲冲冲"),
        ("  a \t\u3000 b  ", "a b"),
        ("｜ 小美 ·", "小美"),
        ("\u202e小美\u202c ¥90万", "小美 ¥90万"),  # a bidi override cannot reverse the figure
        ("x" * MAX_CHARS, "x" * MAX_CHARS),
        ("x" * (MAX_CHARS + 1), "x" * (MAX_CHARS - 1) + "…"),
    ],
)
def test_plain(text: str, out: str) -> None:
    assert plain(text) == out


def test_the_report_is_laid_out_hook_number_top3_facts_cta() -> None:
    s = spec()
    assert s.kind_title == KIND_TITLES["scheduled"]
    assert s.headline == "520 宠粉节 突破 ¥30万！"
    assert (s.big_label, s.big_number) == ("累计成交", format_wan(31_500_000))
    assert s.top3 == ["小美 ¥90万", "阿强 ¥75万", "花姐 ¥60万"]
    assert s.facts == ["订单 1,680 单", "下单买家 1,050 人"]  # the medal lines are not facts
    assert s.cta == "冲刺下一个目标！"
    assert s.footer == "520 宠粉节 · 05-20 13:30"
    assert s.strings() == [s.kind_title, s.campaign, s.headline, s.big_label, s.big_number,
                           *s.top3, *s.facts, s.cta, s.footer]  # fmt: skip


def test_masked_mode_hides_every_amount_of_money() -> None:
    s = spec(mask=True)
    assert (s.big_label, s.big_number) == ("基础目标完成", "31.5%")
    assert s.headline == f"520 宠粉节 突破 {MASK}！"
    assert s.top3 == [f"小美 {MASK}", f"阿强 {MASK}", f"花姐 {MASK}"]
    assert s.facts == ["订单 1,680 单", "下单买家 1,050 人"]  # counts are not money
    drawn = "".join(s.strings())
    assert "万" not in drawn and "¥3" not in drawn and "¥9" not in drawn


@pytest.mark.parametrize(
    ("figures", "base", "mask", "big"),
    [
        ({"gmv_fen": 50_000_000}, BASE, True, ("基础目标完成", "50.0%")),
        ({"gmv_fen": 150_000_000}, BASE, True, ("基础目标完成", "150.0%")),
        # no base target: the order count instead of a share
        ({"gmv_fen": 50_000_000, "orders": 12_345}, 0, True, ("累计订单", "12,345 单")),
        # a report older than its figures: nothing to show rather than a made-up number
        ({}, BASE, True, ("", "")),
        ({"orders": 3}, BASE, False, ("", "")),
        ({"gmv_fen": 99}, BASE, False, ("累计成交", format_yuan(99))),
    ],
)
def test_the_big_number(figures: dict, base: int, mask: bool, big: tuple[str, str]) -> None:
    s = spec(figures=figures, base_fen=base, mask=mask)
    assert (s.big_label, s.big_number) == big


def test_a_finals_honour_roll_gives_the_top_three_names() -> None:
    text = "🏁 收官！\n🥇 团长榜：小美、阿强，花姐、老王\n🥈 社群榜：宝妈团1群\n感谢大家！"
    s = spec(text, kind="final")
    assert s.kind_title == KIND_TITLES["final"]
    assert s.top3 == ["小美", "阿强", "花姐"]
    assert s.facts == ["社群榜：宝妈团1群"]


def test_a_medal_is_used_once_and_the_rest_are_facts() -> None:
    s = spec("标题\n🥇 甲\n🥇 乙\n🥈 丙\n结尾")
    assert s.top3 == ["甲", "丙"]
    assert s.facts == ["乙"]


@pytest.mark.parametrize(
    ("text", "headline", "cta", "facts"),
    [
        ("", KIND_TITLES["milestone"], "", []),
        ("只有一行", "只有一行", "", []),
        ("标题\n结尾", "标题", "结尾", []),
        (
            "标题\n" + "\n".join(f"事实{i}" for i in range(10)) + "\n结尾",
            "标题",
            "结尾",
            [f"事实{i}" for i in range(MAX_FACTS)],
        ),  # fmt: skip
        ("标题\n🎉\n结尾", "标题", "结尾", []),  # a line of emoji only is no fact
    ],
)
def test_headline_cta_and_facts(text: str, headline: str, cta: str, facts: list[str]) -> None:
    s = spec(text, kind="milestone")
    assert (s.headline, s.cta, s.facts) == (headline, cta, facts)


def test_an_unknown_kind_is_a_plain_battle_report() -> None:
    assert spec("", kind="whatever").kind_title == "战报"
    assert spec("", kind="whatever").headline == "战报"


SETTINGS = CampaignSettings.model_validate(
    {
        "slug": "s",
        "name": "520 宠粉节",
        "starts_at": "2024-05-20T10:00:00+08:00",
        "ends_at": "2024-05-20T17:00:00+08:00",
        "target_base_fen": BASE,
    }
)
AT = 1_716_183_000_000  # 2024-05-20 13:30 Asia/Shanghai


@pytest.mark.parametrize(
    "memo",
    [
        {"figures": FIGS, "gmv_fen": 1},  # contract v2: the figures win
        FIGS,  # older reports kept them at the top level
    ],
)
def test_a_stored_reports_poster_uses_its_own_figures(memo: dict) -> None:
    s = report_poster_spec(SETTINGS, "scheduled", REPORT, memo, AT, mask=False)
    assert s.big_number == format_wan(31_500_000)
    assert s.footer == "520 宠粉节 · 05-20 13:30"  # in the campaign's zone
    masked = report_poster_spec(SETTINGS, "scheduled", REPORT, memo, AT, mask=True)
    assert masked.big_number == "31.5%"


def test_a_stored_report_without_a_memo_has_no_big_number() -> None:
    s = report_poster_spec(SETTINGS, "top", REPORT, None, AT, mask=False)
    assert (s.big_label, s.big_number) == ("", "")
    assert s.top3 and s.kind_title == KIND_TITLES["top"]


names = st.text(st.sampled_from("小美阿强花姐团长群 "), min_size=1, max_size=6)


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(names, st.integers(1, 10**10)), min_size=1, max_size=8), names)
def test_no_amount_survives_the_mask(rows: list[tuple[str, int]], campaign: str) -> None:
    lines = [f"{name} 成交 {fmt(fen)}" for name, fen in rows for fmt in (format_wan, format_yuan)]
    text = "\n".join(["战报 " + format_wan(rows[0][1]), *lines, "加油"])
    s = spec(text, figures={"gmv_fen": rows[0][1]}, mask=True, campaign_name=campaign)
    drawn = s.strings()
    for _, fen in rows:
        for money in (format_wan(fen), format_yuan(fen)):
            assert not any(money in d for d in drawn)
    assert not any("¥" in d.replace(MASK, "") for d in drawn)
    assert all(len(d) <= MAX_CHARS for d in [s.headline, *s.top3, *s.facts, s.cta])
