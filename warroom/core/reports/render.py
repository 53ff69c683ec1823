"""Battle-report text: Jinja2 templates rendered in a sandbox, as plain text.

Defaults live in `templates/reports/<kind>.j2` (Chinese). Operators may override a
kind's template; `validate_template` runs at save time (syntax, unknown names, sandbox
violations, against a sample context) so that report time never crashes, and
`render_report` still falls back to the default if an override fails at render time.

Why these settings: the text goes to WeChat groups, not to a browser, so autoescape is
off (escaping would show `&lt;` to buyers); values are never template source, so a name
like `{{7*7}}` prints as itself. StrictUndefined turns a typo into an error at save
time instead of a silent blank in a report. The immutable sandbox refuses `__class__`
and friends and any mutation of the context.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from types import TracebackType
from typing import Any, Literal, TypedDict

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, UndefinedError

from warroom.core.ingest.money import format_wan, format_yuan
from warroom.core.reports.bounds import BoundedEnvironment, OutputTooLong, bounded_render
from warroom.core.reports.context import CONTEXT_KEYS, report_context
from warroom.core.reports.sample import sample_context
from warroom.core.reports.schedule import REPORT_KINDS

__all__ = [
    "TEMPLATE_DIR",
    "TemplateProblem",
    "default_source",
    "render_report",
    "report_context",
    "validate_template",
    "wecom_markdown",
    "wecom_text",
]

logger = logging.getLogger(__name__)

# Package data (pyproject.toml maps templates/ to `warroom.templates`): the same in a
# wheel and in an editable install.
TEMPLATE_DIR = resources.files("warroom.templates") / "reports"
MAX_SOURCE_CHARS = 8_000
MAX_TEXT_CHARS = 8_000  # a report is ~15 lines; far more means a runaway loop
WECOM_MARKDOWN_MAX_BYTES = 4096
WECOM_TEXT_MAX_BYTES = 2048


class TemplateProblem(ValueError):
    """A report template that must not be saved. `problem` is one of: syntax,
    unknown_variable, unsafe, render, empty, too_long; `line` is 1-based when known."""

    def __init__(self, problem: str, message: str, line: int | None = None) -> None:
        where = f"第 {line} 行：" if line else ""
        super().__init__(where + message)
        self.problem = problem
        self.line = line


def count_text(value: Any) -> Any:
    """Every whole number a template prints reads as a count on the screens: with
    thousands separators ("7,901 单", never "7901 单"), whoever wrote the template."""
    return f"{value:,}" if type(value) is int else value


_env = BoundedEnvironment(
    finalize=count_text,
    autoescape=False,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)
_env.filters["wan"] = format_wan
_env.filters["yuan"] = format_yuan
_env.filters["num"] = lambda n: f"{int(n):,}"


@lru_cache(maxsize=16)
def default_source(kind: str) -> str:
    if kind not in REPORT_KINDS:
        raise ValueError(f"unknown report kind {kind!r}")
    return (TEMPLATE_DIR / f"{kind}.j2").read_text(encoding="utf-8")


@lru_cache(maxsize=128)
def _compile(source: str) -> Template:
    return _env.guarded_template(source)


_BLANK_RUNS = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    """Trailing spaces off every line, at most one blank line in a row, no blank edges."""
    lines = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_RUNS.sub("\n\n", lines).strip("\n")


# A template context stays an open mapping on purpose: Jinja reads any names, the
# report context (`ReportContext`) is one such mapping, a preview may pass another.
def _render(source: str, context: Mapping[str, Any]) -> str:
    return _tidy(bounded_render(_compile(source), context))


def render_report(kind: str, context: Mapping[str, Any], override_source: str | None = None) -> str:
    """The report text for `kind`. An operator override that fails (or renders
    nothing) is logged and replaced by the default, so a report is never lost."""
    if override_source is not None:
        try:
            text = _render(override_source, context)
            if text.strip():
                return text
            logger.warning("report template override for %s rendered nothing", kind)
        except Exception:
            logger.warning("report template override for %s failed", kind, exc_info=True)
    return _render(default_source(kind), context)


def _template_line(tb: TracebackType | None) -> int | None:
    """Jinja rewrites tracebacks so template frames carry the template's line."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def validate_template(source: str, kind: str | None = None) -> None:
    """Raise TemplateProblem unless `source` is safe to save as a report template.

    Checks, in order: size, syntax, names outside the report context, then a render
    against a sample context of `kind` (all optional parts filled when kind is None),
    which catches sandbox violations (`''.__class__`), unknown attributes and errors."""
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateProblem("too_long", f"模板过长（最多 {MAX_SOURCE_CHARS} 个字符）")
    try:
        ast = _env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem("syntax", f"语法错误：{exc.message}", exc.lineno) from exc
    unknown = sorted(meta.find_undeclared_variables(ast) - CONTEXT_KEYS - set(_env.globals))
    if unknown:
        names = "、".join(unknown)
        raise TemplateProblem("unknown_variable", f"未知变量：{names}（可用变量见战报模板说明）")
    try:
        text = _render(source, sample_context(kind))
    except OutputTooLong as exc:
        raise TemplateProblem("too_long", f"渲染结果过长（最多 {MAX_TEXT_CHARS} 个字符）") from exc
    except SecurityError as exc:
        line = _template_line(exc.__traceback__)
        raise TemplateProblem("unsafe", f"不允许的访问：{exc}", line) from exc
    except UndefinedError as exc:
        line = _template_line(exc.__traceback__)
        raise TemplateProblem("unknown_variable", f"未知变量或属性：{exc}", line) from exc
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        line = _template_line(exc.__traceback__)
        raise TemplateProblem("render", f"渲染出错：{exc}", line) from exc
    if not text.strip():
        raise TemplateProblem("empty", "模板渲染结果为空")
    if len(text) > MAX_TEXT_CHARS:
        raise TemplateProblem("too_long", f"渲染结果过长（最多 {MAX_TEXT_CHARS} 个字符）")


_JOINERS = {"\u200d", "\ufe0e", "\ufe0f"}  # ZWJ and variation selectors bind to the left


def fit_utf8(text: str, max_bytes: int, ellipsis: str = "…") -> str:
    """`text` cut to at most `max_bytes` of UTF-8 on a code-point boundary, ending in
    `ellipsis` when cut (a dangling ZWJ or variation selector is dropped too)."""
    data = text.encode("utf-8", errors="replace")  # a lone surrogate becomes '?'
    if len(data) <= max_bytes:
        return data.decode("utf-8")
    room = max_bytes - len(ellipsis.encode("utf-8"))
    cut = data[:room].decode("utf-8", errors="ignore")  # drops a split last character
    while cut and cut[-1] in _JOINERS:
        cut = cut[:-1]
    return cut + ellipsis


class _Content(TypedDict):
    content: str


class WecomMarkdown(TypedDict):
    msgtype: Literal["markdown"]
    markdown: _Content


class WecomText(TypedDict):
    msgtype: Literal["text"]
    text: _Content


def wecom_markdown(text: str) -> WecomMarkdown:
    """WeCom group-robot markdown message (content at most 4096 bytes of UTF-8)."""
    return {
        "msgtype": "markdown",
        "markdown": {"content": fit_utf8(text, WECOM_MARKDOWN_MAX_BYTES)},
    }


def wecom_text(text: str) -> WecomText:
    """WeCom group-robot text message (content at most 2048 bytes of UTF-8)."""
    return {"msgtype": "text", "text": {"content": fit_utf8(text, WECOM_TEXT_MAX_BYTES)}}
