"""The JSONPath subset a mapped source speaks: `$` (the payload) or `@` (the element of
an `each`), then `.name`, `[index]` and, in `each` only, `[*]`.

Paths are compiled once, when a source's config is checked, so a typo is an error at
saving time, not a silent miss at delivery time. Evaluation walks at most as many steps
as the path has: a deeply nested payload costs nothing beyond its own parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

MAX_PATH_LEN = 300
MAX_STEPS = 32
MAX_ELEMENTS = 10_000  # what one `each` may yield


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()  # a path that leads nowhere (absent key, index out of range)


class WILDCARD:  # noqa: N801 - a marker, used as a step
    pass


Step = str | int | type[WILDCARD]

_NAME = re.compile(r"\.([^.\[\]\s]+)")
_INDEX = re.compile(r"\[(\d{1,6}|\*)\]")


class PathError(ValueError):
    """A path outside the subset."""


@dataclass(frozen=True)
class Path:
    text: str
    root: str  # "$" or "@"
    steps: tuple[Step, ...]

    @property
    def has_wildcard(self) -> bool:
        return WILDCARD in self.steps


def compile_path(text: str, *, allow_wildcard: bool = False, allow_element: bool = False) -> Path:
    if not isinstance(text, str) or not text:
        raise PathError("a path must be a non-empty string such as $.data.id")
    if len(text) > MAX_PATH_LEN:
        raise PathError(f"path longer than {MAX_PATH_LEN} characters")
    root = text[0]
    if root not in "$@":
        raise PathError(f"{text!r}: a path starts with $ (the payload) or @ (the each element)")
    if root == "@" and not allow_element:
        raise PathError(f"{text!r}: @ is the element of `each`; this mapping has no `each`")
    steps: list[Step] = []
    i = 1
    while i < len(text):
        m = _NAME.match(text, i) or _INDEX.match(text, i)
        if m is None:
            raise PathError(f"{text!r}: cannot read from position {i} (use .name, [index] or [*])")
        token = m.group(1)
        if m.re is _NAME:
            steps.append(token)
        elif token == "*":
            if not allow_wildcard:
                raise PathError(f"{text!r}: [*] is only allowed in `each`")
            steps.append(WILDCARD)
        else:
            steps.append(int(token))
        i = m.end()
    if len(steps) > MAX_STEPS:
        raise PathError(f"{text!r}: more than {MAX_STEPS} steps")
    return Path(text, root, tuple(steps))


def _step(value: Any, step: Step) -> Any:
    if isinstance(step, str):
        if isinstance(value, dict):
            return value.get(step, MISSING)
        return MISSING
    if isinstance(step, int):
        if isinstance(value, list) and step < len(value):
            return value[step]
        return MISSING
    return MISSING


def get(path: Path, payload: Any, element: Any = MISSING) -> Any:
    """The one value at `path` (no wildcard), or MISSING."""
    value = element if path.root == "@" else payload
    for step in path.steps:
        if value is MISSING:
            return MISSING
        value = _step(value, step)
    return value


def each(path: Path, payload: Any) -> list[Any]:
    """Every value `path` reaches, `[*]` fanning out over a list's elements, in order.
    A wildcard over something that is not a list reaches nothing."""
    values: list[Any] = [payload]
    for step in path.steps:
        nxt: list[Any] = []
        for v in values:
            if step is WILDCARD:
                if isinstance(v, list):
                    nxt.extend(v)
            else:
                got = _step(v, step)
                if got is not MISSING:
                    nxt.append(got)
        if len(nxt) > MAX_ELEMENTS:
            raise PathError(f"{path.text!r} reaches more than {MAX_ELEMENTS} elements")
        values = nxt
    return values
