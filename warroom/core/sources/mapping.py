"""A mapped source: any platform's JSON webhook turned into v1 events by a config, not
code (PRODUCT.md, contract v3, "Sources").

`MappedConfig` is the config as the contract writes it: how the platform signs
(`signature`, checked by `core/sources/signature.py`) and which events a payload
becomes (`events`). `apply` runs the mappings over one payload and returns, for each
event it would produce, either the raw v1 event (still to be validated by
`core/ingest/events.normalize`, like any event the API takes) or the reason it cannot
be produced. Money in yuan becomes fen through `Decimal`, never a float.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from warroom.core.ingest.money import MAX_AMOUNT_FEN
from warroom.core.sources.jsonpath import MISSING, Path, PathError, compile_path, each, get

MAX_MAPPINGS = 20
MAX_FIELDS = 20
MAX_EVENTS_PER_DELIVERY = 10_000
EVENT_TYPES = ("order", "refund", "message", "member")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Signature(_Strict):
    scheme: Literal["hmac-sha256", "none"]
    header: Annotated[str, Field(min_length=1, max_length=100)] = "X-Signature"
    timestamp_header: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    tolerance_s: Annotated[StrictInt, Field(ge=1, le=86_400)] = 300
    secrets: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=2)
    ] = []

    @model_validator(mode="after")
    def _secrets_when_signed(self) -> Signature:
        if self.scheme == "hmac-sha256" and not self.secrets:
            raise ValueError("hmac-sha256 needs one or two secrets (the second for rotation)")
        return self


class When(_Strict):
    path: str
    equals: str | int | float | bool | None

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        compile_path(v)
        return v


class Money(_Strict):
    path: str
    scale: Annotated[StrictInt, Field(ge=1, le=1_000_000)]


class Const(_Strict):
    const: str | int | bool | None


FieldSpec = str | Money | Const


class EventMapping(_Strict):
    when: When | None = None
    each: str | None = None
    type: Literal["order", "refund", "message", "member"]
    fields: Annotated[dict[str, FieldSpec], Field(min_length=1, max_length=MAX_FIELDS)]

    @model_validator(mode="after")
    def _paths(self) -> EventMapping:
        if self.each is not None:
            compile_path(self.each, allow_wildcard=True)
        for name, spec in self.fields.items():
            text = spec if isinstance(spec, str) else spec.path if isinstance(spec, Money) else None
            if text is not None:
                try:
                    compile_path(text, allow_element=self.each is not None)
                except PathError as exc:
                    raise ValueError(f"fields.{name}: {exc}") from None
        return self


class MappedConfig(_Strict):
    signature: Signature
    events: Annotated[list[EventMapping], Field(min_length=1, max_length=MAX_MAPPINGS)]


# -- the payload -----------------------------------------------------------------------------


class PayloadError(ValueError):
    """The whole delivery is unreadable (400)."""


def parse_payload(body: bytes) -> Any:
    """The body as JSON with every non-integer number a `Decimal` (so `12.5` yuan is
    exactly 1250 fen). orjson reads it first: it refuses nesting deeper than 1024
    levels at once and in linear time, before the exact, slower read."""
    if not body.strip():
        raise PayloadError("empty body: the webhook must send JSON")
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"body is not valid JSON (or nested too deeply): {exc}") from None
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from None


# -- money -----------------------------------------------------------------------------------

_DECIMAL_TEXT = re.compile(r"-?\d{1,15}(\.\d{1,12})?")


def scaled(value: Any, scale: int) -> int:
    """`"12.50"`, `12.5` or `12` (yuan, scale 100) → 1250 (fen), exactly; more decimals
    than the scale allows, or not a number, raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("must be a number or a decimal string, not a boolean")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, float):  # a config or preview that went through a float
        amount = Decimal(repr(value))
    elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
        amount = Decimal(value.strip())
    else:
        raise ValueError(f"{str(value)[:40]!r} is not an amount (digits, at most one '.')")
    try:
        fen = amount * scale
        if not fen.is_finite() or fen != fen.to_integral_value():
            raise ValueError(
                f"{value} has more decimals than scale {scale} allows ({_decimals(scale)} at most)"
            )
    except InvalidOperation:
        raise ValueError(f"{str(value)[:40]!r} is not an amount") from None
    if abs(fen) > MAX_AMOUNT_FEN:
        raise ValueError(f"{value} is larger than the largest amount")
    return int(fen)


def _decimals(scale: int) -> int:
    n = 0
    while scale % 10 == 0 and scale > 1:
        scale //= 10
        n += 1
    return n


# -- applying the mappings -------------------------------------------------------------------


@dataclass(frozen=True)
class Produced:
    """One event a payload produces: the raw v1 event, or why it cannot be produced."""

    event: dict[str, Any] | None
    error: str | None
    mapping: int  # which entry of `events`
    element: int | None = None  # which element of its `each`


NO_MAPPING = "no mapping applies to this payload (no `when` matched)"


def _compiled(text: str, in_each: bool) -> Path:
    return compile_path(text, allow_element=in_each)


def _applies(m: EventMapping, payload: Any) -> bool:
    if m.when is None:
        return True
    got = get(compile_path(m.when.path), payload)
    if got is MISSING:
        return False
    want = m.when.equals
    if isinstance(got, bool) or isinstance(want, bool):  # True is not 1 here
        return isinstance(got, bool) and isinstance(want, bool) and got == want
    return bool(got == want)


def _event(m: EventMapping, payload: Any, element: Any) -> dict[str, Any]:
    in_each = m.each is not None
    event: dict[str, Any] = {"type": m.type}
    for name, spec in m.fields.items():
        if name == "type":
            continue
        if isinstance(spec, Const):
            if spec.const is not None:
                event[name] = spec.const
            continue
        path = spec if isinstance(spec, str) else spec.path
        value = get(_compiled(path, in_each), payload, element)
        if value is MISSING or value is None:
            continue  # a required field then fails validation with "is required"
        if isinstance(spec, Money):
            try:
                value = scaled(value, spec.scale)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        event[name] = value
    return event


def apply(config: MappedConfig, payload: Any) -> list[Produced]:
    """Every event the payload produces, in mapping order (and element order within an
    `each`); if no mapping applies, one `Produced` with `NO_MAPPING`."""
    out: list[Produced] = []
    matched = False
    for i, m in enumerate(config.events):
        if not _applies(m, payload):
            continue
        matched = True
        if m.each is None:
            elements: list[Any] = [MISSING]
        else:
            try:
                elements = each(compile_path(m.each, allow_wildcard=True), payload)
            except PathError as exc:
                out.append(Produced(None, f"events[{i}].each: {exc}", i))
                continue
        for n, element in enumerate(elements):
            if len(out) >= MAX_EVENTS_PER_DELIVERY:
                out.append(Produced(None, f"more than {MAX_EVENTS_PER_DELIVERY} events", i))
                return out
            where = None if m.each is None else n
            try:
                out.append(Produced(_event(m, payload, element), None, i, where))
            except ValueError as exc:
                out.append(Produced(None, str(exc), i, where))
    if not matched:
        return [Produced(None, NO_MAPPING, -1)]
    if not out:
        return [Produced(None, "the matching mappings' `each` found no elements", -1)]
    return out


def config_error(exc: Exception) -> str:
    """One readable line for a refused config (pydantic's first error)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = str(first["msg"]).removeprefix("Value error, ")
        return f"{where}: {msg}" if where else msg
    return str(exc)
