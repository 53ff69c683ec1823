"""The template editor's simple form: the placeholder catalogue, simple text to Jinja
and back, and every refusal."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import meta

from warroom.core.reports.context import CONTEXT_KEYS
from warroom.core.reports.placeholders import (
    ALL,
    PLACEHOLDERS,
    SimpleTemplateError,
    catalogue,
    starter,
    to_jinja,
    to_simple,
)
from warroom.core.reports.render import (
    _env,
    default_source,
    render_report,
    validate_template,
)
from warroom.core.reports.sample import sample_context

KINDS = sorted(ALL)


def test_catalogue_names_only_report_context_and_is_per_kind() -> None:
    labels = [p.label for p in PLACEHOLDERS]
    assert len(labels) == len(set(labels))
    for p in PLACEHOLDERS:
        ast = _env.parse("{{ " + p.expr + " }}" + (p.block or ""))
        assert meta.find_undeclared_variables(ast) <= CONTEXT_KEYS, p.label
        assert "{" not in p.label and "}" not in p.label
    assert "里程碑" in {p.label for p in catalogue("milestone")}
    assert "里程碑" not in {p.label for p in catalogue("scheduled")}
    assert "本时段增量" in {p.label for p in catalogue("scheduled")}
    assert "刺激效果" in {p.label for p in catalogue("final")}
    assert {"累计销售额", "订单数", "TOP 团长"} <= {p.label for p in catalogue("top")}


@pytest.mark.parametrize("kind", KINDS)
def test_every_placeholder_of_a_kind_renders_on_its_sample(kind: str) -> None:
    """Each chip alone on a line saves (validate_template passes) and prints its figure."""
    ctx = sample_context(kind)
    for p in catalogue(kind):
        source = (
            to_jinja("值：{" + p.label + "}", kind)
            if p.block is None
            else to_jinja("{" + p.label + "}", kind)
        )
        validate_template(source, kind)
        assert to_simple(source, kind) is not None, p.label
        render_report(kind, ctx, source)  # never raises on true figures


def test_translation_of_text_and_placeholders() -> None:
    assert to_jinja("💰 累计成交 {累计销售额}，{订单数} 单", "scheduled") == (
        "💰 累计成交 {{ gmv }}，{{ orders }} 单"
    )
    # a figure that may be unknown takes its line with it
    assert to_jinja("A\n还差 {距基础目标}，共 {订单数} 单\nB", "top") == (
        "A\n{% if gap_base %}\n还差 {{ gap_base }}，共 {{ orders }} 单\n{% endif %}\nB"
    )
    assert to_jinja("{本时段增量} / {本时段新增订单}", "scheduled") == (
        "{% if delta %}\n{{ delta.gmv }} / {{ delta.orders }}\n{% endif %}"
    )
    assert to_jinja("{福利金额}", "stimulus").startswith("{% if stimulus and stimulus.amount %}")
    assert to_jinja("{团长榜}", "top") == (
        "{% for s in top5 %}\n{{ s.medal }} {{ s.name }} {{ s.gmv }} {{ s.move }}\n{% endfor %}"
    )
    assert to_jinja("a\r\nb", "top") == "a\nb"
    assert to_jinja("{ 订单数 }", "top") == "{{ orders }}"  # spaces in braces are forgiven


def test_guarded_line_is_left_out_when_its_figure_is_unknown() -> None:
    ctx = dict(sample_context("scheduled"))
    source = to_jinja("开头\n本时段 {本时段增量}\n结尾", "scheduled")
    assert render_report("scheduled", ctx, source) == "开头\n本时段 +¥4.5万\n结尾"
    ctx["delta"] = None  # the first report of the day has no previous one
    assert render_report("scheduled", ctx, source) == "开头\n结尾"


@pytest.mark.parametrize("kind", KINDS)
def test_starter_round_trips_and_saves(kind: str) -> None:
    source = to_jinja(starter(kind), kind)
    validate_template(source, kind)
    assert to_simple(source, kind) == starter(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_default_templates_are_not_simple(kind: str) -> None:
    """Loops with medals, own conditions, comments: the Jinja view opens for them."""
    assert to_simple(default_source(kind), kind) is None


@pytest.mark.parametrize(
    "source",
    [
        "{{ gmv | wan }}",  # a filter
        "{% if has_refund %}\n退款 {{ refund }}\n{% endif %}",  # an own condition
        "{# note #}\n{{ gmv }}",  # a comment
        "{{ gmv }}\n",  # a trailing newline the simple form cannot keep
        "{% if delta %}\n{{ gmv }}\n{% endif %}",  # a guard no placeholder on the line asks for
        "{{ milestone }}",  # not a placeholder of a scheduled report
        "{{gmv}}",  # not the canonical spacing: show it as it is, in Jinja
    ],
)
def test_not_expressible_sources_stay_jinja(source: str) -> None:
    assert to_simple(source, "scheduled") is None


def test_hand_written_canonical_jinja_reads_back_as_simple() -> None:
    source = "📣 {{ campaign_name }}\n{% if delta %}\n本时段 {{ delta.gmv }}\n{% endif %}"
    assert to_simple(source, "scheduled") == "📣 {活动名称}\n本时段 {本时段增量}"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([p.label for p in catalogue("scheduled") if p.block is None]).map(
                lambda s: "{" + s + "}"
            ),
            st.text(
                alphabet=st.characters(
                    whitelist_categories=("L", "N", "Zs", "So", "Po"),
                    blacklist_characters="{}<>&\u00a0",
                ),
                max_size=12,
            ),
            st.just("\n"),
        ),
        max_size=20,
    )
)
def test_round_trip_of_any_simple_text(pieces: list[str]) -> None:
    simple = "".join(pieces).strip("\n")
    if not simple.strip():
        return
    source = to_jinja(simple, "scheduled")
    assert to_simple(source, "scheduled") == simple
    validate_template(source, "scheduled")


@pytest.mark.parametrize(
    ("text", "problem", "words"),
    [
        ("成交 {不存在的数}", "unknown_placeholder", "未知占位符「不存在的数」"),
        ("成交 {gmv}", "unknown_placeholder", "未知占位符「gmv」"),
        ("成交 {累计销售额🎉}", "unknown_placeholder", "未知占位符"),
        ("突破 {里程碑}", "wrong_kind", "「里程碑」在这类战报中没有数值"),
        ("空 {}", "empty_placeholder", "空的占位符"),
        ("成交 {累计销售额", "unbalanced", "「{」没有配对"),
        ("成交 累计销售额}", "unbalanced", "「}」没有配对"),
        ("{{累计销售额}}", "jinja_syntax", "高级模式"),
        ("{累计{订单数}}", "unbalanced", "没有配对"),
        ("{% if gmv %}x{% endif %}", "jinja_syntax", "简单模式的占位符写作 {累计销售额}"),
        ("<b>加粗</b> {累计销售额}", "html", "不支持 HTML"),
        ("<script>alert(1)</script>", "html", "不支持 HTML"),
        ("a &amp; b", "html", "不支持 HTML"),
        ("冠军 \u202e{冠军团长}", "control", "U+202E"),
        ("零宽\u200b字符", "control", "U+200B"),
        ("响铃\x07", "control", "U+0007"),
        ("残缺\ud83d表情", "control", "残缺"),
        ("   \n\n  ", "empty", "内容为空"),
        ("成交\n{团长榜} 之后", "block_not_alone", "第 2 行：「团长榜」是多行榜单，需要独占一行"),
        ("字" * 4001, "too_long", "内容过长"),
    ],
)
def test_rejections(text: str, problem: str, words: str) -> None:
    with pytest.raises(SimpleTemplateError) as info:
        to_jinja(text, "scheduled")
    assert info.value.problem == problem
    assert words in str(info.value)


def test_rejection_names_its_line() -> None:
    with pytest.raises(SimpleTemplateError, match="^第 3 行：未知占位符「销量」"):
        to_jinja("a\nb\n{销量}", "top")


def test_emoji_and_other_scripts_are_ordinary_text() -> None:
    text = "🎉👨‍👩‍👧 冲！مرحبا {订单数} ✔️"
    source = to_jinja(text, "top")
    assert source == "🎉👨‍👩‍👧 冲！مرحبا {{ orders }} ✔️"
    assert to_simple(source, "top") == text
