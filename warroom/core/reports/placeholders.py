"""The report-template editor's simple form: named placeholders and their Jinja.

Operators write a report as plain text with placeholders in braces, e.g.
`💰 累计成交 {累计销售额}，{订单数} 单`. `to_jinja` turns that into a template the
sandboxed renderer (core/reports/render.py) runs unchanged; `to_simple` gives the
simple form back for a stored template only when translating that form again yields
the very same source, so nothing an operator wrote in the advanced view is lost by
showing it as simple text.

Translation rules (`to_jinja`):
- text outside braces is copied as is; it cannot open a Jinja tag, since braces only
  ever delimit placeholders;
- `{标签}` becomes `{{ expression }}`;
- a placeholder whose figure may be unknown (no target set, no previous report, no
  climber) has a guard: its whole line is wrapped in `{% if guard %}` … `{% endif %}`,
  so the line is left out instead of printing a blank or failing, the same rule the
  default templates follow;
- a block placeholder (a ranked list, several lines) must stand alone on its line.

Refused (`SimpleTemplateError`, in Chinese, with the line): an unknown placeholder or
one that has no value in this kind of report, an empty `{}`, unbalanced or nested
braces, Jinja's own `{{`, `{%`, `{#` (the advanced view is for those), HTML tags (the text goes to WeChat, which would show them literally), bidi and
other invisible control characters (they can reverse the figures after them), and
unpaired surrogates. Emoji are ordinary text: every default report uses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "PLACEHOLDERS",
    "MAX_SIMPLE_CHARS",
    "Placeholder",
    "SimpleTemplateError",
    "catalogue",
    "starter",
    "to_jinja",
    "to_simple",
]

MAX_SIMPLE_CHARS = 4_000  # its Jinja stays under render.MAX_SOURCE_CHARS for sane text

ALL = frozenset(
    {"milestone", "target_base", "target_stretch", "scheduled", "top", "stimulus", "final"}
)


@dataclass(frozen=True)
class Placeholder:
    label: str  # what the operator writes between braces and sees on the chip
    expr: str  # a Jinja expression over the report context (context.CONTEXT_KEYS)
    hint: str  # one line shown in the picker
    guard: str | None = None  # when set, the line shows only while this is true
    kinds: frozenset[str] = ALL  # the reports in which it has a value
    block: str | None = None  # Jinja lines replacing a line holding only this placeholder
    group: str = "数字"


_BOARD = "{% for s in top5 %}\n{{ s.medal }} {{ s.name }} {{ s.gmv }} {{ s.move }}\n{% endfor %}"
_GROUPS = "{% for g in groups %}\n{{ g.medal }} {{ g.name }} {{ g.gmv }}\n{% endfor %}"

PLACEHOLDERS: tuple[Placeholder, ...] = (
    Placeholder("活动名称", "campaign_name", "活动的名字", group="时间"),
    Placeholder("当前时间", "now_time", "战报所说的时刻，如 14:30", group="时间"),
    Placeholder("开场时长", "elapsed", "开场到现在，如 2小时30分钟", group="时间"),
    Placeholder("剩余时长", "remaining", "距收官还有多久", group="时间"),
    Placeholder("本时段", "window", "上一份战报到现在，如 13:00–13:30", kinds=frozenset({"scheduled"}), group="时间"),  # noqa: E501
    Placeholder("累计销售额", "gmv", "累计成交金额（万元）"),
    Placeholder("净销售额", "net_gmv", "扣除退款后的成交额"),
    Placeholder("退款金额", "refund", "累计退款"),
    Placeholder("订单数", "orders", "累计订单数"),
    Placeholder("下单人数", "buyers", "下过单的人数"),
    Placeholder("商品件数", "item_count", "累计卖出的件数"),
    Placeholder("客单价", "aov", "平均每人成交额"),
    Placeholder("当前销速", "speed", "最近每分钟成交额"),
    Placeholder("每分钟订单", "orders_per_min", "最近每分钟订单数"),
    Placeholder("本时段增量", "delta.gmv", "比上一份战报多出的成交额", "delta", frozenset({"scheduled"})),  # noqa: E501
    Placeholder("本时段新增订单", "delta.orders", "比上一份战报多出的订单", "delta", frozenset({"scheduled"})),  # noqa: E501
    Placeholder("里程碑", "milestone", "刚突破的门槛金额", None, frozenset({"milestone"}), group="目标"),  # noqa: E501
    Placeholder("达成目标", "target", "刚达成的目标金额", None, frozenset({"target_base", "target_stretch"}), group="目标"),  # noqa: E501
    Placeholder("基础目标", "target_base", "基础目标金额", "has_base", group="目标"),
    Placeholder("基础目标进度", "progress_base", "基础目标完成百分比", "has_base", group="目标"),
    Placeholder("距基础目标", "gap_base", "离基础目标还差多少（达成后整行不显示）", "gap_base", group="目标"),  # noqa: E501
    Placeholder("冲刺目标", "target_stretch", "冲刺目标金额", "has_stretch", group="目标"),
    Placeholder("冲刺目标进度", "progress_stretch", "冲刺目标完成百分比", "has_stretch", group="目标"),  # noqa: E501
    Placeholder("距冲刺目标", "gap_stretch", "离冲刺目标还差多少（达成后整行不显示）", "gap_stretch", group="目标"),  # noqa: E501
    Placeholder("预计收官", "projected", "按当前节奏预计的收官成交额", "projected", group="目标"),
    Placeholder("下一里程碑", "next_milestone", "下一个待突破的门槛", "next_milestone", group="目标"),  # noqa: E501
    Placeholder("TOP 团长", "honour.sellers", "前三名团长，顿号分隔", "honour.sellers", group="榜单"),  # noqa: E501
    Placeholder("冠军团长", "top5[0].name", "第一名团长", "top5", group="榜单"),
    Placeholder("团长榜", "top5", "TOP5 团长，每人一行（独占一行使用）", "top5", block=_BOARD, group="榜单"),  # noqa: E501
    Placeholder("最快上升", "climber.name", "排名升得最快的团长", "climber", group="榜单"),
    Placeholder("最强社群", "top_group.name", "成交最高的社群", "top_group", group="榜单"),
    Placeholder("社群榜", "groups", "TOP5 社群，每个一行（独占一行使用）", "groups", block=_GROUPS, group="榜单"),  # noqa: E501
    Placeholder("最热爆款", "top_product.name", "卖得最好的商品", "top_product", group="榜单"),
    Placeholder("感谢名单", "thanks", "前三名团长；无人上榜时为“各位团长和家人们”", group="榜单"),
    Placeholder("下一波福利", "next_stimulus.text", "运营预告的下一波福利", "next_stimulus", frozenset({"scheduled"}), group="福利"),  # noqa: E501
    Placeholder("下一波福利时间", "next_stimulus.time", "下一波福利的时刻", "next_stimulus", frozenset({"scheduled"}), group="福利"),  # noqa: E501
    Placeholder("福利名称", "stimulus.title", "红包雨 / 买赠福利 / 重磅通知", "stimulus", frozenset({"stimulus"}), group="福利"),  # noqa: E501
    Placeholder("福利内容", "stimulus.text", "福利的说明文字", "stimulus and stimulus.text", frozenset({"stimulus"}), group="福利"),  # noqa: E501
    Placeholder("福利金额", "stimulus.amount", "福利总额", "stimulus and stimulus.amount", frozenset({"stimulus"}), group="福利"),  # noqa: E501
    Placeholder("巅峰一分钟", "peak_minute.time", "成交最高的那一分钟", "peak_minute", frozenset({"final"}), group="复盘"),  # noqa: E501
    Placeholder("巅峰一分钟成交", "peak_minute.gmv", "那一分钟的成交额", "peak_minute", frozenset({"final"}), group="复盘"),  # noqa: E501
    Placeholder("刺激效果", "best_stimulus.effect", "效果最确定的一次刺激（带区间）", "best_stimulus", frozenset({"final"}), group="复盘"),  # noqa: E501
)  # fmt: skip

_BY_LABEL = {p.label: p for p in PLACEHOLDERS}
_BY_EXPR = {p.expr: p for p in PLACEHOLDERS if p.block is None}
_BY_BLOCK = {p.block: p for p in PLACEHOLDERS if p.block is not None}


class SimpleTemplateError(ValueError):
    """Simple text that must not be saved. `problem` is one of: unknown_placeholder,
    wrong_kind, empty_placeholder, unbalanced, jinja_syntax, html, control, block_not_alone,
    too_long, empty; `line` is 1-based."""

    def __init__(self, problem: str, message: str, line: int | None = None) -> None:
        super().__init__((f"第 {line} 行：" if line else "") + message)
        self.problem = problem
        self.line = line


def catalogue(kind: str) -> list[Placeholder]:
    """The placeholders that have a value in a report of `kind`, in picker order."""
    return [p for p in PLACEHOLDERS if kind in p.kinds]


_HTML = re.compile(r"</?[A-Za-z!][^<>]*>|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);")
# Bidi controls, zero-width marks that are not emoji joiners, and C0/C1 controls.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff\ufff9-\ufffb]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_TOKEN = re.compile(r"\{([^{}]*)\}")
_JINJA_OPEN = re.compile(r"\{[{%#]")


def _check_text(line: str, n: int) -> None:
    if _SURROGATE.search(line):
        raise SimpleTemplateError("control", "含有无法显示的字符（残缺的表情或乱码）", n)
    m = _CONTROL.search(line)
    if m:
        code = f"U+{ord(m.group()):04X}"
        raise SimpleTemplateError(
            "control", f"含有不可见的控制字符 {code}（如文字方向控制），会打乱后面的数字", n
        )
    m = _HTML.search(line)
    if m:
        raise SimpleTemplateError(
            "html", f"不支持 HTML：「{m.group()[:20]}」在群里会原样显示，请改为纯文字", n
        )


def _parts(line: str, n: int) -> list[str | Placeholder]:
    """The line as literal text and placeholders; braces must pair up, one level."""
    if _JINJA_OPEN.search(line):
        raise SimpleTemplateError(
            "jinja_syntax",
            "「{{」「{%」「{#」是高级模式（Jinja）的写法；简单模式的占位符写作 {累计销售额}",
            n,
        )
    parts: list[str | Placeholder] = []
    pos = 0
    for m in _TOKEN.finditer(line):
        parts.append(line[pos : m.start()])
        parts.append(_placeholder(m.group(1), n))
        pos = m.end()
    parts.append(line[pos:])
    for text in parts:
        if isinstance(text, str) and ("{" in text or "}" in text):
            which = "{" if "{" in text else "}"
            raise SimpleTemplateError(
                "unbalanced",
                f"花括号不成对：「{which}」没有配对（占位符写作 {{累计销售额}}，不能嵌套）",
                n,
            )
    return [p for p in parts if p != ""]


def _placeholder(name: str, n: int) -> Placeholder:
    label = name.strip()
    if not label:
        raise SimpleTemplateError("empty_placeholder", "空的占位符 {}：请从占位符列表中选择", n)
    p = _BY_LABEL.get(label)
    if p is None:
        raise SimpleTemplateError(
            "unknown_placeholder", f"未知占位符「{label[:30]}」：请从占位符列表中选择", n
        )
    return p


def _guards(parts: Iterable[str | Placeholder]) -> list[str]:
    out: list[str] = []
    for p in parts:
        if isinstance(p, Placeholder) and p.guard and p.guard not in out:
            out.append(p.guard)
    return out


def _line_jinja(parts: list[str | Placeholder], n: int) -> str:
    blocks = [p for p in parts if isinstance(p, Placeholder) and p.block]
    if blocks:
        if len(parts) != 1:
            raise SimpleTemplateError(
                "block_not_alone", f"「{blocks[0].label}」是多行榜单，需要独占一行", n
            )
        return blocks[0].block or ""
    body = "".join(p if isinstance(p, str) else "{{ " + p.expr + " }}" for p in parts)
    guards = _guards(parts)
    if not guards:
        return body
    return "{% if " + " and ".join(guards) + " %}\n" + body + "\n{% endif %}"


def to_jinja(simple: str, kind: str) -> str:
    """The Jinja source for the simple text, for a report of `kind`."""
    text = simple.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > MAX_SIMPLE_CHARS:
        raise SimpleTemplateError("too_long", f"内容过长（最多 {MAX_SIMPLE_CHARS} 个字符）")
    if not text.strip():
        raise SimpleTemplateError("empty", "内容为空：请写下战报文字")
    lines = text.strip("\n").split("\n")
    out: list[str] = []
    for n, line in enumerate(lines, start=1):
        _check_text(line, n)
        parts = _parts(line, n)
        for p in parts:
            if isinstance(p, Placeholder) and kind not in p.kinds:
                raise SimpleTemplateError(
                    "wrong_kind", f"「{p.label}」在这类战报中没有数值，请换一个占位符", n
                )
        out.append(_line_jinja(parts, n))
    return "\n".join(out)


_EXPR = re.compile(r"\{\{ (.+?) \}\}")
_IF_OPEN = re.compile(r"^\{% if (.+) %\}$")


def _simple_line(line: str) -> str | None:
    """The simple form of one unguarded Jinja line, or None if it is not one."""
    out: list[str] = []
    pos = 0
    for m in _EXPR.finditer(line):
        p = _BY_EXPR.get(m.group(1))
        if p is None:
            return None
        out.append(line[pos : m.start()])
        out.append("{" + p.label + "}")
        pos = m.end()
    out.append(line[pos:])
    return "".join(out)


def to_simple(source: str, kind: str) -> str | None:
    """The simple text whose translation is exactly `source`, or None when `source`
    uses anything the simple form cannot say (loops, conditions of its own, filters,
    comments): the editor then opens the Jinja view."""
    lines = source.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        block = next(
            (b for b in _BY_BLOCK if lines[i : i + b.count("\n") + 1] == b.split("\n")), None
        )
        if block is not None:
            out.append("{" + _BY_BLOCK[block].label + "}")
            i += block.count("\n") + 1
            continue
        if _IF_OPEN.match(lines[i]) and i + 2 < len(lines) and lines[i + 2] == "{% endif %}":
            line = _simple_line(lines[i + 1])
            i += 3
        else:
            line = _simple_line(lines[i])
            i += 1
        if line is None:
            return None
        out.append(line)
    simple = "\n".join(out)
    try:
        again = to_jinja(simple, kind)
    except SimpleTemplateError:
        return None
    return simple if again == source else None


_STARTERS = {
    "milestone": "🎉 {活动名称} 突破 {里程碑}！开场 {开场时长} 达成\n💰 成交 {累计销售额} ｜ 📦 {订单数} 单 ｜ 👥 {下单人数} 人下单\n{团长榜}\n🔥 距基础目标 {基础目标} 还差 {距基础目标}，一起冲！",  # noqa: E501
    "target_base": "🎊 基础目标 {达成目标} 达成！{当前时间} 冲线，开场 {开场时长}\n💰 成交 {累计销售额} ｜ 📦 {订单数} 单\n🙏 感谢 {感谢名单}！",  # noqa: E501
    "target_stretch": "🏆 冲刺目标 {达成目标} 达成！{当前时间} 冲线\n💰 成交 {累计销售额} ｜ 📦 {订单数} 单\n⏳ 距收官还有 {剩余时长}\n🙏 感谢 {感谢名单}！",  # noqa: E501
    "scheduled": "📣 {活动名称} {当前时间} 战报\n💰 累计成交 {累计销售额}，本时段 {本时段增量}\n📦 {订单数} 单 ｜ 👥 {下单人数} 人下单\n🎯 基础目标完成 {基础目标进度}\n🏆 团长 TOP：\n{团长榜}\n🙏 感谢 {感谢名单} 的全力冲刺！",  # noqa: E501
    "top": "🏆 {当前时间} 团长 TOP 榜出炉！\n💰 累计成交 {累计销售额} ｜ 📦 {订单数} 单\n{团长榜}\n👑 最强社群：{最强社群}",  # noqa: E501
    "stimulus": "📢 {福利名称}来啦！\n👉 {福利内容}\n💰 福利总额 {福利金额}\n📊 已成交 {累计销售额} ｜ 📦 {订单数} 单\n🛒 马上下单，手慢无！",  # noqa: E501
    "final": "🏁 {活动名称} 圆满收官！总成交 {累计销售额}\n📦 {订单数} 单 ｜ 👥 {下单人数} 人下单 ｜ 客单价 {客单价}\n🥇 团长榜：{TOP 团长}\n⚡ 巅峰一分钟：{巅峰一分钟} 成交 {巅峰一分钟成交}\n🙏 感谢 {感谢名单}！我们下次再战！",  # noqa: E501
}


def starter(kind: str) -> str:
    """A simple text to begin from when the stored template cannot be shown simply."""
    return _STARTERS.get(
        kind, "📣 {活动名称} {当前时间}\n💰 累计成交 {累计销售额} ｜ 📦 {订单数} 单"
    )
