"""A fast path for the common request: a JSON body of well-formed events.

`decode_batch` decodes and validates a whole body with msgspec (in C, no dict per
event on the way) into the same normalized dicts as `events.normalize`. It only ever
*accepts*: it declines the whole body (returns None) whenever anything is not plainly
well-formed (a wrong type, a bound, an unknown field, a `ts` that `parse_instant`
refuses, malformed JSON), and the caller then runs the strict path of `events.py`
on it unchanged, which produces every rejection and its exact message. So the fast
path may be narrower than the contract, never wider:

- every field's type and bound is the wire model's (`events.OrderEvent`, ...), with
  booleans and floats refused where an integer is due (msgspec is strict by default);
- an unknown field declines the body: msgspec skips an unknown value without reading
  it as orjson does (`1e999` there is valid to msgspec, invalid JSON to orjson);
- an integer id beyond int64 declines (orjson reads one beyond 64 bits as a float, which the strict
  path refuses);
- the only per-event rejection made here is the campaign's `ts` window, with the
  strict path's own check (`TsWindow.check`), which runs after validation there too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, cast

import msgspec
from msgspec import Meta, Struct

from warroom.core.ingest.clock import parse_instant
from warroom.core.ingest.events import (
    MAX_ID_LEN,
    MAX_NAME_LEN,
    MAX_QUANTITY,
    EventError,
    NormalizedEvent,
    TsWindow,
)
from warroom.core.ingest.money import MAX_AMOUNT_FEN

Id = (
    Annotated[str, Meta(min_length=1, max_length=MAX_ID_LEN)]
    | Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
)
Fen = Annotated[int, Meta(ge=1, le=MAX_AMOUNT_FEN)]
Name = Annotated[str, Meta(max_length=MAX_NAME_LEN)] | None
Ts = int | str | None


class _Event(Struct, tag_field="type", forbid_unknown_fields=True):
    pass


class _Order(_Event, tag="order"):
    order_id: Id
    amount_fen: Fen
    seller_id: Id
    group_id: Id
    buyer_id: Id
    product_id: Id
    ts: Ts = None
    quantity: Annotated[int, Meta(ge=1, le=MAX_QUANTITY)] = 1
    seller_name: Name = None
    group_name: Name = None
    product_name: Name = None


class _Refund(_Event, tag="refund"):
    refund_id: Id
    order_id: Id
    amount_fen: Fen
    ts: Ts = None


class _Message(_Event, tag="message"):
    message_id: Id
    group_id: Id
    member_id: Id
    ts: Ts = None
    kind: Literal["text", "image", "order_screenshot", "red_packet", "other"] = "text"


class _Member(_Event, tag="member"):
    event_id: Id
    group_id: Id
    member_id: Id
    action: Literal["join", "leave"]
    ts: Ts = None


_Any = _Order | _Refund | _Message | _Member
_DECODER = msgspec.json.Decoder(list[_Any] | _Any)


class Declined(Exception):
    """Not plainly well-formed: let the strict path judge the whole body."""


def _text(value: str | int) -> str:
    return value if value.__class__ is str else str(value)


def _order(o: _Order) -> dict[str, Any]:
    d: dict[str, Any] = {
        "type": "order",
        "order_id": _text(o.order_id),
        "amount_fen": o.amount_fen,
        "seller_id": _text(o.seller_id),
        "group_id": _text(o.group_id),
        "buyer_id": _text(o.buyer_id),
        "product_id": _text(o.product_id),
    }
    if o.ts is not None:
        d["ts"] = o.ts
    d["quantity"] = o.quantity
    if o.seller_name is not None:
        d["seller_name"] = o.seller_name
    if o.group_name is not None:
        d["group_name"] = o.group_name
    if o.product_name is not None:
        d["product_name"] = o.product_name
    d["_id"] = d["order_id"]
    return d


def _refund(r: _Refund) -> dict[str, Any]:
    d: dict[str, Any] = {
        "type": "refund",
        "refund_id": _text(r.refund_id),
        "order_id": _text(r.order_id),
        "amount_fen": r.amount_fen,
    }
    if r.ts is not None:
        d["ts"] = r.ts
    d["_id"] = d["refund_id"]
    return d


def _message(m: _Message) -> dict[str, Any]:
    d: dict[str, Any] = {
        "type": "message",
        "message_id": _text(m.message_id),
        "group_id": _text(m.group_id),
        "member_id": _text(m.member_id),
    }
    if m.ts is not None:
        d["ts"] = m.ts
    d["kind"] = m.kind
    d["_id"] = d["message_id"]
    return d


def _member(m: _Member) -> dict[str, Any]:
    d: dict[str, Any] = {
        "type": "member",
        "event_id": _text(m.event_id),
        "group_id": _text(m.group_id),
        "member_id": _text(m.member_id),
        "action": m.action,
    }
    if m.ts is not None:
        d["ts"] = m.ts
    d["_id"] = d["event_id"]
    return d


_BUILD: dict[type, Callable[[Any], dict[str, Any]]] = {
    _Order: _order,
    _Refund: _refund,
    _Message: _message,
    _Member: _member,
}


def decode_body(body: bytes) -> list[Any] | None:
    """The body's events as msgspec structs, or None when the strict path must judge it."""
    try:
        data = _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return data if isinstance(data, list) else [data]


def normalize_fast(item: Any, arrival_ms: int, window: TsWindow) -> tuple[NormalizedEvent, bool]:
    """One decoded event normalized exactly as `events.normalize` would (the same keys in
    the same order), and whether its `ts` was stamped on arrival. Raises EventError for
    a `ts` outside the window (the strict path's message), Declined when `ts` is not a
    time `parse_instant` takes."""
    d = _BUILD[item.__class__](item)
    ident = d.pop("_id")
    ts = d.get("ts")
    stamped = ts is None
    if stamped:
        d["ts"] = arrival_ms
    else:
        try:
            d["ts"] = ts = parse_instant(ts)
        except ValueError:
            raise Declined from None
        window.check(ts)
    d["key"] = f"{d['type']}:{ident}"
    return cast(NormalizedEvent, d), stamped  # the wire model's fields, validated


def validate_fast(
    items: list[Any], arrival_ms: int, window: TsWindow
) -> tuple[list[NormalizedEvent], list[int], set[int], list[dict[str, Any]], list[str]]:
    """`decode_body`'s events normalized: (good, their request indexes, the good ones
    stamped on arrival, rejected, the rejected ones' types). Raises Declined."""
    good: list[NormalizedEvent] = []
    where: list[int] = []
    stamped: set[int] = set()
    rejected: list[dict[str, Any]] = []
    rejected_types: list[str] = []
    for i, item in enumerate(items):
        try:
            event, arrived = normalize_fast(item, arrival_ms, window)
        except EventError as exc:
            rejected.append({"index": i, "error": str(exc)})
            rejected_types.append(item.__struct_config__.tag)
            continue
        if arrived:
            stamped.add(len(good))
        good.append(event)
        where.append(i)
    return good, where, stamped, rejected, rejected_types
