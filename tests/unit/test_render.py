"""Battle-report text: golden files, hostile names, template validation, WeCom limits.

Regenerate the golden files after a deliberate template change with
`WARROOM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_render.py` and
read the diff before committing it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.core.campaign import CampaignSettings, StimulusAction
from warroom.core.ingest.clock import MINUTE_MS
from warroom.core.ingest.money import format_wan
from warroom.core.live.shapes import RawState
from warroom.core.live.snapshot import build_snapshot
from warroom.core.reports.context import report_memo
from warroom.core.reports.render import (
    TemplateProblem,
    default_source,
    render_report,
    report_context,
    validate_template,
    wecom_markdown,
    wecom_text,
)
from warroom.core.reports.rules import fire_key
from warroom.core.reports.schedule import REPORT_KINDS, stimulus_report

GOLDEN = Path(__file__).parent / "golden"
START = 1_716_170_400_000  # 2024-05-20 10:00 Asia/Shanghai
M = MINUTE_MS
WAN = 1_000_000

SETTINGS = CampaignSettings(
    slug="520",
    name="520 宠粉节",
    starts_at=START,
    ends_at=START + 7 * 60 * M,
    target_base_fen=100 * WAN,
    target_stretch_fen=150 * WAN,
    milestones_fen=[10 * WAN, 50 * WAN],
)

RLO = "\u202e"
HOSTILE = {
    "s1": "<script>alert(1)</script>",
    "s2": "<img src=x onerror=alert(1)>",
    "s3": "{{7*7}}",
    "s4": RLO + "evil",
    "s5": "🌸花花🌸",
    "s6": "阿强",
}
SHARES = {"s1": 250, "s2": 200, "s3": 180, "s4": 150, "s5": 120, "s6": 100}  # per mille
GROUPS = {"g1": ("宝妈团1群<b>", 600), "g2": ("{{ config }}", 400)}
PRODUCTS = {"p1": ("蓝莓🫐 2盒", 550), "p2": ("<script>x</script>牛奶", 450)}


def make_snapshot(
    minutes_in: int,
    gmv_per_min: Callable[[int], int] | int,
    *,
    refund_fen: int = 0,
    stimuli: list[dict[str, Any]] | None = None,
    names: dict[str, str] | None = None,
    settings: CampaignSettings = SETTINGS,
) -> dict[str, Any]:
    """A snapshot from hand-made raw figures, `minutes_in` minutes after doors open.
    Seller shares are fixed; in the last minute s3 jumps from 6th to 3rd."""
    f = gmv_per_min if callable(gmv_per_min) else (lambda _i, v=gmv_per_min: v)
    now = START + minutes_in * M
    gmv = {START + i * M: f(i) for i in range(minutes_in)}
    orders = {m: v // 30_000 for m, v in gmv.items()}  # ¥300 a ticket
    buyers = {m: o * 3 // 4 for m, o in orders.items()}
    total = sum(gmv.values())
    minutes = {"gmv": gmv, "orders": orders, "buyers": buyers, "messages": {m: 35 for m in gmv}}
    totals = {
        "gmv": total,
        "refund": refund_fen,
        "orders": sum(orders.values()),
        "items": sum(orders.values()) * 13 // 10,
        "buyers": sum(buyers.values()),
        "members": 1_500,
        "active_members": 620,
        "messages": 35 * minutes_in,
        "last_ts": now - 2_000,
    }
    seller_names = {**HOSTILE, **(names or {})}
    sellers = {k: total * share // 1000 for k, share in SHARES.items()}
    boards = {
        "sellers": sellers,
        "groups": {k: total * share // 1000 for k, (_, share) in GROUPS.items()},
        "products": {k: total * share // 1000 for k, (_, share) in PRODUCTS.items()},
    }
    raw = RawState(
        totals,
        minutes,
        boards,
        {b: {k: v // 30_000 for k, v in scores.items()} for b, scores in boards.items()},
        {
            "sellers": seller_names,
            "groups": {k: n for k, (n, _) in GROUPS.items()},
            "products": {k: n for k, (n, _) in PRODUCTS.items()},
        },
        {"sellers": {now - M: {"s3": total * 100 // 1000}}},
    )
    return build_snapshot(settings, raw, now, stimuli=stimuli)


PREVIOUS_1030 = {
    "at": "2024-05-20T10:30:00+08:00",
    "gmv_fen": 27 * WAN,
    "orders": 900,
    "buyers": 675,
    "seller_ranks": {"s2": 1, "s1": 2, "s4": 3, "s5": 4, "s6": 5},
}
EFFECT = {"method": "holdout", "treated_groups": 36, "holdout_groups": 12,
          "incremental_gmv_fen": 18_000_000, "ci90_fen": [9_000_000, 27_000_000], "roi": 90.0,
          "roi_ci90": [45.0, 135.0], "overlaps": [], "pre_minutes": 10}  # fmt: skip
TREND = {"method": "trend", "treated_groups": 48, "holdout_groups": 0,
         "incremental_gmv_fen": 200_000, "ci90_fen": [-200_000, 600_000], "roi": None,
         "roi_ci90": None, "overlaps": [], "pre_minutes": 10}  # fmt: skip
STIMULI = [
    {"id": "fire:午后回暖:1", "rule": "午后回暖", "kind": "red_packet_rain",
     "at": "2024-05-20T13:04:00+08:00", "amount_fen": 200_000, "text": "", "uplift": 1.83,
     "status": "fired", "effect": EFFECT},
    {"id": "fire:晚间买赠:1", "rule": "晚间买赠", "kind": "buy_n_gift",
     "at": "2024-05-20T15:30:00+08:00", "amount_fen": 0, "text": "", "uplift": None,
     "status": "fired", "effect": TREND},
    {"id": "fire:晚间买赠:2", "rule": "晚间买赠", "kind": "buy_n_gift",
     "at": "2024-05-20T16:30:00+08:00", "amount_fen": 0, "text": "", "uplift": None,
     "status": "dismissed", "effect": None},
]  # fmt: skip


def _final_curve(i: int) -> int:
    return 2 * WAN if i == 185 else 420_000  # the peak minute is 13:05


def scenario(kind: str) -> dict[str, Any]:
    """The context of each golden report: fixed, true figures."""
    if kind == "milestone":
        return report_context(make_snapshot(56, 900_000), kind, {"milestone_fen": 50 * WAN})
    if kind == "target_base":
        return report_context(make_snapshot(112, 900_000), kind, {"target_fen": 100 * WAN})
    if kind == "target_stretch":
        return report_context(make_snapshot(167, 900_000), kind, {"target_fen": 150 * WAN})
    if kind == "scheduled":
        nxt = {"at_ms": START + 3 * 60 * M, "text": "整点红包雨 <b>{{抢}}</b>"}
        extra = {"slot": 2, "next_stimulus": nxt}
        return report_context(make_snapshot(60, 900_000), kind, extra, PREVIOUS_1030)
    if kind == "top":
        return report_context(make_snapshot(60, 900_000), kind, {"hour_index": 1})
    if kind == "stimulus":
        snap = make_snapshot(185, lambda i: 900_000 if i < 120 else 300_000)
        action = StimulusAction(
            kind="red_packet_rain", amount_fen=200_000, text="红包雨 3 分钟后开始 {{ gmv }}"
        )
        due = stimulus_report(fire_key("午后回暖", 1), "午后回暖", action, START + 185 * M)
        return report_context(snap, kind, due.extra)
    assert kind == "final"
    snap = make_snapshot(420, _final_curve, refund_fen=12 * WAN // 10, stimuli=STIMULI)
    extra = {"milestones_fen": SETTINGS.milestones_fen, "record_fen": 150 * WAN}
    return report_context(snap, kind, extra)


@pytest.mark.parametrize("kind", REPORT_KINDS)
def test_golden_report(kind: str) -> None:
    text = render_report(kind, scenario(kind))
    path = GOLDEN / f"{kind}.txt"
    if os.environ.get("WARROOM_UPDATE_GOLDEN"):
        path.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", REPORT_KINDS)
def test_report_shape(kind: str) -> None:
    lines = render_report(kind, scenario(kind)).split("\n")
    assert 4 <= len(lines) <= 15
    assert lines[0].strip() and not lines[0][0].isspace()  # the hook
    assert all(line == line.rstrip() for line in lines)


@pytest.mark.parametrize("kind", ["milestone", "target_base", "target_stretch", "scheduled", "top"])
def test_hostile_names_print_unchanged(kind: str) -> None:
    text = render_report(kind, scenario(kind))
    for medal, name in zip("🥇🥈🥉", (HOSTILE["s1"], HOSTILE["s2"], HOSTILE["s3"]), strict=True):
        assert f"{medal} {name} ¥" in text
    assert "&lt;" not in text and "&#" not in text


@pytest.mark.parametrize("kind", ["scheduled", "top"])
def test_bidi_override_is_isolated_but_kept(kind: str) -> None:
    text = render_report(kind, scenario(kind))
    assert "\u2068" + RLO + "evil\u2069" in text
    assert "🌸花花🌸" in text


def test_group_product_and_operator_texts_are_values_too() -> None:
    assert "宝妈团1群<b>" in render_report("top", scenario("top"))
    assert "整点红包雨 <b>{{抢}}</b>" in render_report("scheduled", scenario("scheduled"))
    assert "红包雨 3 分钟后开始 {{ gmv }}" in render_report("stimulus", scenario("stimulus"))
    final = render_report("final", scenario("final"))
    assert "{{ config }}" in final and "<script>x</script>牛奶" in final


def test_a_name_cannot_add_lines() -> None:
    ctx = report_context(make_snapshot(60, 900_000, names={"s1": "A\n🥇 假冠军\r\nB"}), "top")
    assert ctx["top5"][0]["name"] == "A 🥇 假冠军 B"


def test_override_sees_names_as_values() -> None:
    ctx = scenario("top")
    text = render_report("top", ctx, "{% for s in top3 %}{{ s.name }}|{% endfor %}")
    assert text == "<script>alert(1)</script>|<img src=x onerror=alert(1)>|{{7*7}}|"


def test_override_falls_back_to_default_when_it_fails() -> None:
    ctx = scenario("milestone")
    default = render_report("milestone", ctx)
    assert render_report("milestone", ctx, "{{ stimulus.title }}") == default  # None here
    assert render_report("milestone", ctx, "{% if %}") == default
    assert render_report("milestone", ctx, "{{ ''.__class__ }}") == default
    assert render_report("milestone", ctx, "{# nothing #}  \n") == default
    assert render_report("milestone", ctx, "冲 {{ gmv }}！") == "冲 ¥50.4万！"


@pytest.mark.parametrize("kind", REPORT_KINDS)
def test_default_templates_validate(kind: str) -> None:
    validate_template(default_source(kind), kind)
    validate_template(default_source(kind))


UNSAFE = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ top5.__class__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ top5.append(1) }}",
    "{{ raw.update({'gmv_fen': 1}) }}",
    "{{ 'x' * 100000000 }}",
    "{{ 7 ** 1000000 }}",
]


@pytest.mark.parametrize("source", UNSAFE)
def test_unsafe_templates_are_refused(source: str) -> None:
    with pytest.raises(TemplateProblem) as info:
        validate_template(source)
    assert info.value.problem == "unsafe"
    assert "不允许" in str(info.value)


def test_syntax_error_names_its_line() -> None:
    with pytest.raises(TemplateProblem) as info:
        validate_template("🎉 {{ gmv }}\n{% if has_base %}\n{{ gmv }\n{% endif %}")
    assert (info.value.problem, info.value.line) == ("syntax", 3)
    assert str(info.value).startswith("第 3 行：语法错误")


def test_unclosed_block_is_a_syntax_error() -> None:
    with pytest.raises(TemplateProblem) as info:
        validate_template("{% for s in top5 %}\n{{ s.name }}")
    assert info.value.problem == "syntax"
    assert "endfor" in str(info.value)


def test_unknown_variable_is_named() -> None:
    with pytest.raises(TemplateProblem) as info:
        validate_template("{{ gmv }} {{ gvm }} {{ seller }}")
    assert info.value.problem == "unknown_variable"
    assert "gvm" in str(info.value) and "seller" in str(info.value)


def test_unknown_attribute_names_its_line() -> None:
    with pytest.raises(TemplateProblem) as info:
        validate_template("第一行\n{% for s in top5 %}{{ s.nmae }}{% endfor %}")
    assert (info.value.problem, info.value.line) == ("unknown_variable", 2)
    assert "nmae" in str(info.value)


def test_validation_is_per_kind() -> None:
    validate_template("{{ stimulus.emoji }} {{ stimulus.title }}", "stimulus")
    with pytest.raises(TemplateProblem):
        validate_template("{{ stimulus.title }}", "milestone")


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{ 1 / 0 }}", "render"),
        ("   \n", "empty"),
        ("x" * 8_001, "too_long"),
        ("{% for i in range(5000) %}{{ gmv }}{% endfor %}", "too_long"),
    ],  # fmt: skip
)
def test_other_problems(source: str, problem: str) -> None:
    with pytest.raises(TemplateProblem) as info:
        validate_template(source)
    assert info.value.problem == problem


def test_filters_for_raw_figures() -> None:
    validate_template("{{ raw.gmv_fen | wan }} {{ raw.gmv_fen | yuan }}")
    text = render_report("top", scenario("top"), "{{ raw.gmv_fen | wan }}")
    assert text == "¥54万"


def test_rank_moves_from_snapshot_or_previous_report() -> None:
    snap = make_snapshot(60, 900_000)
    own = report_context(snap, "top")
    assert [r["move"] for r in own["top5"]] == ["", "", "▲3", "▼1", "▼1"]
    assert own["climber"] == {"name": "{{7*7}}", "rank": 3, "move": "▲3"}
    vs_prev = report_context(snap, "scheduled", previous=PREVIOUS_1030)
    assert [r["move"] for r in vs_prev["top5"]] == ["▲1", "▼1", "🆕", "▼1", "▼1"]
    assert vs_prev["climber"]["name"] == HOSTILE["s1"]
    assert vs_prev["delta"] == {
        "gmv": "+¥27万",
        "orders": "+900",
        "buyers": "+645",
        "since": "10:30",
    }
    assert vs_prev["window"] == "10:30–11:00"


def test_previous_may_be_memo_context_or_snapshot() -> None:
    earlier = make_snapshot(30, 900_000)
    later = make_snapshot(60, 900_000)
    memo = report_memo(earlier)
    by_memo = report_context(later, "scheduled", previous=memo)
    by_ctx = report_context(later, "scheduled", previous=report_context(earlier, "scheduled"))
    by_snap = report_context(later, "scheduled", previous=earlier)
    assert by_memo == by_ctx == by_snap
    assert by_memo["delta"]["gmv"] == "+¥27万"


def test_only_true_figures() -> None:
    no_targets = SETTINGS.model_copy(update={"target_base_fen": 0, "target_stretch_fen": 0})
    ctx = report_context(make_snapshot(60, 900_000, settings=no_targets), "scheduled")
    text = render_report("scheduled", ctx)
    assert "目标" not in text and "预计" not in text
    assert ctx["delta"] is None and "本时段 +" not in text
    final = report_context(make_snapshot(420, 420_000), "final", {"record_fen": 500 * WAN})
    assert final["record"] is False and "新高" not in render_report("final", final)
    assert report_context(make_snapshot(420, 420_000), "final")["record"] is False
    assert final["best_stimulus"] is None and "刺激效果" not in render_report("final", final)


def test_the_final_shows_the_effect_with_its_interval_never_the_uplift_ratio() -> None:
    text = render_report("final", scenario("final"))
    line = next(x for x in text.splitlines() if "刺激效果" in x)
    assert "增量 ¥18万（90% 区间 ¥9万–¥27万），ROI 90.0×（45.0×–135.0×）" in line
    assert "（共 2 次，详见复盘）" in line  # the dismissed proposal never happened
    assert "销速" not in text and "×1.8" not in text
    # while no effect is known: the latest fire, its effect pending
    pending = [{**s, "effect": None} for s in STIMULI[:2]]
    snap = make_snapshot(420, 420_000, stimuli=pending)
    ctx = report_context(snap, "final")
    assert ctx["best_stimulus"] is not None and ctx["best_stimulus"]["time"] == "15:30"
    assert "效果待评估（窗口结束后计算）" in render_report("final", ctx)
    # the trend method says it is weaker evidence
    trend = [{**STIMULI[1], "effect": TREND}]
    ctx = report_context(make_snapshot(420, 420_000, stimuli=trend), "final")
    assert "（趋势估计，证据较弱）" in render_report("final", ctx)


def test_reached_targets_have_no_gap() -> None:
    ctx = scenario("target_stretch")
    assert ctx["gap_base"] is None and ctx["gap_stretch"] is None
    assert ctx["base_reached"] and ctx["stretch_reached"]


def test_wecom_messages_keep_short_text() -> None:
    text = render_report("top", scenario("top"))
    assert wecom_markdown(text) == {"msgtype": "markdown", "markdown": {"content": text}}
    assert wecom_text(text) == {"msgtype": "text", "text": {"content": text}}


@pytest.mark.parametrize(
    ("build", "limit"), [(wecom_markdown, 4096), (wecom_text, 2048)], ids=["markdown", "text"]
)
def test_wecom_messages_are_cut_on_a_character_boundary(build: Callable, limit: int) -> None:
    text = "🥇冠军" * 2_000  # 4-byte emoji and 3-byte Han characters
    msg = build(text)
    content = msg[msg["msgtype"]]["content"]
    data = content.encode("utf-8")
    assert len(data) <= limit and len(data) > limit - 8
    assert content.endswith("…") and text.startswith(content[:-1])


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=3_000), limit_text=st.booleans())
def test_wecom_content_always_fits(text: str, limit_text: bool) -> None:
    msg = wecom_text(text) if limit_text else wecom_markdown(text)
    content = msg[msg["msgtype"]]["content"]
    data = content.encode("utf-8")
    assert len(data) <= (2048 if limit_text else 4096)
    if len(text.encode("utf-8", errors="replace")) <= len(data):
        assert content == text.encode("utf-8", errors="replace").decode("utf-8")


# --- settled figures (contract v2) ---------------------------------------------------


def test_the_text_is_rendered_from_the_figures_only() -> None:
    """Whatever the snapshot says, every money, order and buyer figure of the text is
    the report's own `figures`."""
    snap = make_snapshot(60, 900_000)
    figures = {"as_of": "2024-05-20T11:00:00+08:00", "gmv_fen": 12_345_600, "refund_fen": 0,
               "net_gmv_fen": 12_345_600, "orders": 777, "buyers": 555}  # fmt: skip
    for kind in ("scheduled", "top", "milestone", "target_base"):
        text = render_report(kind, report_context(snap, kind, {"milestone_fen": 10 * WAN,
                             "target_fen": 100 * WAN}, None, figures))  # fmt: skip
        assert "¥12.35万" in text and "777 单" in text, kind
        assert format_wan(snap["totals"]["gmv_fen"]) not in text, kind


def test_a_drop_is_signed_never_plus_minus() -> None:
    """Refunds and a restore must never print "+-¥100" or "+-100 单"."""
    later = make_snapshot(60, 900_000)
    previous = {"at": "2024-05-20T10:30:00+08:00", "gmv_fen": later["totals"]["gmv_fen"] + 10_000,
                "orders": later["totals"]["orders"] + 100, "buyers": 0}  # fmt: skip
    ctx = report_context(later, "scheduled", previous=previous)
    assert ctx["delta"]["gmv"] == "-¥100" and ctx["delta"]["orders"] == "-100"
    text = render_report("scheduled", ctx)
    assert "+-" not in text and "本时段 -¥100" in text and "（-100 单）" in text


def test_the_moment_a_threshold_fell_is_its_minute() -> None:
    snap = make_snapshot(112, 900_000)
    at_ms = START + 111 * M  # 11:51, the crossing minute
    ctx = report_context(snap, "target_base", {"target_fen": 100 * WAN, "at_ms": at_ms})
    assert ctx["now_time"] == "11:51"
    assert "11:51 冲线" in render_report("target_base", ctx)


def test_final_timeline_lists_a_milestone_equal_to_a_target_once() -> None:
    """ "13:34 破¥100万 → 13:34 基础目标达成" said one moment twice."""
    snap = make_snapshot(420, 420_000)
    ctx = report_context(snap, "final", {"milestones_fen": [50 * WAN, 100 * WAN, 150 * WAN]})
    labels = [m["label"] for m in ctx["timeline"]]
    assert labels == ["破¥50万", "基础目标达成", "冲刺目标达成"]
    assert len({m["time"] for m in ctx["timeline"]}) == 3
    text = render_report("final", ctx)
    assert "破¥100万" not in text and "破¥150万" not in text
