"""Bounds on what an operator's report template may cost: loop steps, widths, sizes and
output. The sandbox stops a template from reaching anything; these stop one from
running for seconds or allocating megabytes (nested loops, `'x'.ljust(10**9)`,
`'%1000000000d'|format(1)`, a loop printing 30 MB), so a preview or a report render
ends quickly with an error instead.

- Loops: every `{% for %}` iterates through a guard that counts the steps of one
  render, all loops together (`MAX_LOOP_STEPS`).
- Widths: padding and widths asked of `%`, `format`, `str.format`, `ljust`/`rjust`/
  `center`/`zfill`, the `center`/`indent` filters, at most `MAX_WIDTH`; `slice` at
  most `MAX_WIDTH` slices.
- Sizes: `*` builds at most `MAX_SEQUENCE` items; `replace` and `join` at most
  `MAX_OUTPUT_CHARS` characters.
- Output: the text is built piece by piece and refused past `MAX_OUTPUT_CHARS`.
"""

from __future__ import annotations

import operator
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from jinja2 import Template, nodes
from jinja2 import filters as jinja_filters
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_LOOP_STEPS = 100_000  # every loop of one render together
MAX_WIDTH = 1_000  # a padding, a field width, a number of slices
MAX_SEQUENCE = 10_000  # longest string/list `*` may build inside a template
MAX_OUTPUT_CHARS = 32_000  # a report is ~15 lines; far more means a runaway loop
LOOP_GUARD = "wr_loop_guard"

_steps: ContextVar[list[int] | None] = ContextVar("report_loop_steps", default=None)
_PERCENT_WIDTHS = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")
_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


class OutputTooLong(SecurityError):
    """The template printed more than MAX_OUTPUT_CHARS."""


def _check_width(n: object) -> None:
    if isinstance(n, int) and abs(n) > MAX_WIDTH:
        raise SecurityError(f"width {n} exceeds {MAX_WIDTH}")


def check_percent_format(fmt: str) -> None:
    for m in _PERCENT_WIDTHS.finditer(fmt):
        for part in m.groups():
            if part == "*":
                raise SecurityError("a width given as * is not allowed")
            if part:
                _check_width(int(part))


def check_format_spec(fmt: str) -> None:
    for _text, _field, spec, _conv in string.Formatter().parse(fmt):
        if not spec:
            continue
        if "{" in spec:
            raise SecurityError("a nested width is not allowed")
        for digits in _DIGITS.findall(spec):
            _check_width(int(digits))


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _steps.get()
    for item in iterable:
        if budget is not None:
            budget[0] -= 1
            if budget[0] < 0:
                raise SecurityError(f"loops ran more than {MAX_LOOP_STEPS} steps")
        yield item


def _wrap_filter(fn: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    def checked(*args: Any, **kwargs: Any) -> Any:
        check(*args, **kwargs)
        return fn(*args, **kwargs)

    return checked


def _check_format_filter(value: object, *args: object, **kwargs: object) -> None:
    check_percent_format(str(value))


def _check_width_filter(value: object, width: object = 0, *args: object, **kw: object) -> None:
    _check_width(width)


def _check_size(obj: Any, args: tuple[Any, ...]) -> None:
    # The sandbox hands `str.format` over wrapped (functools.update_wrapper): look inside.
    target = getattr(obj, "__wrapped__", obj)
    name = getattr(target, "__name__", "")
    owner = getattr(target, "__self__", None)
    if not isinstance(owner, str):
        return
    if name in ("format", "format_map"):
        check_format_spec(owner)
    elif name in _WIDTH_METHODS:
        for a in args:
            _check_width(a)
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        old, new = args[0], args[1]
        times = owner.count(old) if old else len(owner) + 1
        if isinstance(new, str) and len(owner) + times * len(new) > MAX_OUTPUT_CHARS:
            raise SecurityError("replace would build too long a string")
    elif name == "join" and args:
        items = args[0]
        if isinstance(items, list | tuple):
            total = sum(len(i) for i in items if isinstance(i, str))
            if total + len(owner) * len(items) > MAX_OUTPUT_CHARS:
                raise SecurityError("join would build too long a string")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with the bounds above."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals[LOOP_GUARD] = _loop_guard
        # jinja's plain (sync) filters, so that the wrapper passes what they expect
        self.filters["format"] = _wrap_filter(jinja_filters.do_format, _check_format_filter)
        self.filters["center"] = _wrap_filter(jinja_filters.do_center, _check_width_filter)
        self.filters["indent"] = _wrap_filter(jinja_filters.do_indent, _check_width_filter)
        self.filters["slice"] = _wrap_filter(jinja_filters.sync_do_slice, _check_width_filter)

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "**" and isinstance(right, int | float) and abs(right) > 100:
            raise SecurityError("exponent too large")
        if op == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_SEQUENCE:
                    raise SecurityError("sequence too long")
            return operator.mul(left, right)
        if op == "%" and isinstance(left, str):
            check_percent_format(left)
        return super().call_binop(context, op, left, right)

    def call(
        __self,  # jinja's signature: `self` may be a keyword argument of the call
        __context: Any,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        _check_size(__obj, args)
        return super().call(__context, __obj, *args, **kwargs)

    def guarded_template(self, source: str) -> Template:
        """Compile `source` with every loop's iterable passed through the step guard."""
        ast = self.parse(source)
        for loop in ast.find_all(nodes.For):
            guard = nodes.Name(LOOP_GUARD, "load", lineno=loop.lineno)
            loop.iter = nodes.Call(guard, [loop.iter], [], None, None, lineno=loop.lineno)
        return self.from_string(ast)


def bounded_render(template: Template, context: Mapping[str, Any]) -> str:
    """The template's text, with the loop budget of one render, refused as soon as it
    grows past MAX_OUTPUT_CHARS (before it is all in memory)."""
    token = _steps.set([MAX_LOOP_STEPS])
    try:
        parts: list[str] = []
        size = 0
        for piece in template.generate(context):
            size += len(piece)
            if size > MAX_OUTPUT_CHARS:
                raise OutputTooLong(f"the text would be longer than {MAX_OUTPUT_CHARS} characters")
            parts.append(piece)
        return "".join(parts)
    finally:
        _steps.reset(token)
