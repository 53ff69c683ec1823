"""The msgspec fast path of ingest (core/ingest/fastwire.py) against the strict path
(core/ingest/events.py): for any body, the fast path either declines it or gives the
very answer the strict path gives (the same normalized dicts, keys in the same order,
the same stamped set, the same rejections); and every kind of bad input declines, so
its rejection and message come from the strict path."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from warroom.core.ingest.events import (
    BodyError,
    EventError,
    is_unparsed,
    normalize,
    split_body,
    ts_window,
)
from warroom.core.ingest.fastwire import Declined, decode_body, validate_fast

STARTS, ENDS = 1_794_362_400_000, 1_794_362_400_000 + 7 * 3_600_000
NOW = STARTS + 3_600_000
WINDOW = ts_window(STARTS, ENDS, NOW, "Asia/Shanghai")

ORDER = {
    "type": "order",
    "order_id": "o1",
    "amount_fen": 100,
    "seller_id": "s",
    "group_id": "g",
    "buyer_id": "b",
    "product_id": "p",
}
REFUND = {"type": "refund", "refund_id": "r1", "order_id": "o1", "amount_fen": 50}
MESSAGE = {"type": "message", "message_id": "m1", "group_id": "g", "member_id": "u"}
MEMBER = {"type": "member", "event_id": "e1", "group_id": "g", "member_id": "u", "action": "join"}


def strict(body: bytes) -> Any:
    """The strict path's answer: a BodyError's text, or per item its normalized dict
    (with its keys in order and whether it was stamped) or its error."""
    try:
        items = split_body(body, False)
    except BodyError as exc:
        return f"400 {exc}"
    out: list[Any] = []
    for item in items:
        assert not is_unparsed(item)
        try:
            event = normalize(item, NOW, WINDOW)
        except EventError as exc:
            out.append(("rejected", str(exc)))
            continue
        out.append((list(event.items()), item.get("ts") is None))
    return out


def fast(body: bytes) -> Any:
    """The fast path's answer in the same shape, or None when it declines."""
    items = decode_body(body)
    if items is None:
        return None
    try:
        good, where, stamped, rejected, types = validate_fast(items, NOW, WINDOW)
    except Declined:
        return None
    out: list[Any] = [None] * len(items)
    for n, (event, i) in enumerate(zip(good, where, strict=True)):
        out[i] = (list(event.items()), n in stamped)
    for r, kind in zip(rejected, types, strict=True):
        out[r["index"]] = ("rejected", r["error"], kind)
    return out


def body_of(*events: dict[str, Any]) -> bytes:
    return orjson.dumps(list(events))


ACCEPTED = [
    body_of(ORDER),
    orjson.dumps(ORDER),  # one event, not an array
    body_of(ORDER, REFUND, MESSAGE, MEMBER),
    body_of({**ORDER, "ts": NOW - 1000}),
    body_of({**ORDER, "ts": None}),  # an explicit null is no ts: stamped
    body_of({**ORDER, "order_id": 42, "seller_id": -7, "buyer_id": 0}),  # ids as integers
    body_of({**ORDER, "quantity": 3, "seller_name": "张三", "group_name": None}),
    body_of({**ORDER, "amount_fen": 10**11, "order_id": "x" * 128, "product_name": "名" * 200}),
    body_of({**MESSAGE, "kind": "red_packet", "ts": NOW}, {**MEMBER, "action": "leave"}),
    b"[]",
    b'  [{"order_id":"o1","amount_fen":1,"seller_id":"s","group_id":"g","buyer_id":"b",'
    b'"product_id":"p","type":"order"}]  ',  # `type` last, whitespace around
]


@pytest.mark.parametrize("body", ACCEPTED)
def test_well_formed_bodies_take_the_fast_path_and_answer_as_the_strict_one(body: bytes) -> None:
    got = fast(body)
    assert got is not None, "declined a plainly well-formed body"
    assert got == strict(body)


OUTSIDE = [
    body_of({**ORDER, "ts": STARTS - 2 * 86_400_000}),  # before the window
    body_of(ORDER, {**REFUND, "ts": NOW + 3_600_000}, MESSAGE),  # ahead of the clock
]


@pytest.mark.parametrize("body", OUTSIDE)
def test_a_ts_outside_the_window_is_rejected_alone_with_the_strict_message(body: bytes) -> None:
    got = fast(body)
    assert got is not None
    sent = orjson.loads(body)
    for n, x in enumerate(got):
        if x[0] == "rejected":
            assert x[2] == sent[n]["type"]  # the metric's label
    assert [x[:2] for x in got] == strict(body)
    assert any(x[0] == "rejected" for x in got)


REJECTED = {
    "amount as a float": {**ORDER, "amount_fen": 12.5},
    "amount as a whole float": {**ORDER, "amount_fen": 100.0},
    "amount with an exponent": {**ORDER, "amount_fen": 1e3},
    "amount as text": {**ORDER, "amount_fen": "100"},
    "amount as a bool": {**ORDER, "amount_fen": True},
    "amount zero": {**ORDER, "amount_fen": 0},
    "amount negative": {**ORDER, "amount_fen": -100},
    "amount too large": {**ORDER, "amount_fen": 10**11 + 1},
    "amount missing": {k: v for k, v in ORDER.items() if k != "amount_fen"},
    "amount null": {**ORDER, "amount_fen": None},
    "quantity as a bool": {**ORDER, "quantity": True},
    "quantity fractional": {**ORDER, "quantity": 1.5},
    "quantity zero": {**ORDER, "quantity": 0},
    "quantity too large": {**ORDER, "quantity": 1_000_001},
    "quantity null": {**ORDER, "quantity": None},
    "id as a bool": {**ORDER, "order_id": True},
    "id as a float": {**ORDER, "order_id": 1.5},
    "id empty": {**ORDER, "order_id": ""},
    "id too long": {**ORDER, "order_id": "x" * 129},
    "id as an object": {**ORDER, "seller_id": {"a": 1}},
    "id as a list": {**ORDER, "seller_id": [1]},
    "id null": {**ORDER, "buyer_id": None},
    "id missing": {k: v for k, v in ORDER.items() if k != "product_id"},
    "name too long": {**ORDER, "seller_name": "x" * 201},
    "name as a number": {**ORDER, "group_name": 5},
    "type unknown": {**ORDER, "type": "payment"},
    "type missing": {k: v for k, v in ORDER.items() if k != "type"},
    "type not text": {**ORDER, "type": 1},
    "kind unknown": {**MESSAGE, "kind": "video"},
    "action unknown": {**MEMBER, "action": "kick"},
    "action missing": {k: v for k, v in MEMBER.items() if k != "action"},
    "ts as a bool": {**ORDER, "ts": True},
    "ts as a float": {**ORDER, "ts": 1.5},
    "ts negative": {**ORDER, "ts": -1},
    "ts too large": {**ORDER, "ts": 10**14},
    "ts text without an offset": {**ORDER, "ts": "2026-11-11T10:00:00"},
    "ts text not a time": {**ORDER, "ts": "soon"},
    "refund amount fractional": {**REFUND, "amount_fen": 0.5},
    "refund order id missing": {k: v for k, v in REFUND.items() if k != "order_id"},
}


@pytest.mark.parametrize("event", REJECTED.values(), ids=REJECTED.keys())
def test_every_bad_event_declines_so_the_strict_path_rejects_it(event: dict[str, Any]) -> None:
    body = body_of(ORDER, event, MESSAGE)
    assert fast(body) is None
    answer = strict(body)
    assert answer[1][0] == "rejected"  # and the neighbours are accepted there
    assert answer[0][0] != "rejected" and answer[2][0] != "rejected"


NOT_JSON = [
    b"",
    b"   ",
    b"{not json",
    b"[1, 2]",
    b'"text"',
    b"42",
    b"null",
    body_of(ORDER)[:-1],
    body_of(ORDER) + b" x",
    b'[{"type":"order","order_id":"\\ud800"}]',  # a lone surrogate
    b"\xff\xfe[]",
    b"[" + orjson.dumps(ORDER) + b", NaN]",
]


@pytest.mark.parametrize("body", NOT_JSON)
def test_unreadable_or_odd_bodies_decline(body: bytes) -> None:
    assert fast(body) is None


# Well-formed to the strict path, but the fast path stays out of them: the strict path
# answers. (An unknown field's value, which msgspec would skip unread: `1e999` there
# is invalid JSON to orjson, a 400 for the whole body; an id beyond int64 is a float
# to orjson.)
DECLINED = [
    body_of({**ORDER, "note": "hi"}),
    b"[" + orjson.dumps(ORDER)[:-1] + b',"extra":1e999}]',
    body_of({**ORDER, "order_id": 2**63}),
    b"[" + orjson.dumps(ORDER)[:-1] + b',"order_id":99999999999999999999999}]',
    body_of({**ORDER, "type": "order", "x": None}),
]


@pytest.mark.parametrize("body", DECLINED)
def test_bodies_the_fast_path_leaves_to_the_strict_one(body: bytes) -> None:
    assert fast(body) is None


def test_a_duplicated_key_counts_as_its_last_value_on_both_paths() -> None:
    body = b'[{"type":"order","order_id":"a","order_id":"b","amount_fen":1,"seller_id":"s",'
    body += b'"group_id":"g","buyer_id":"b","product_id":"p"}]'
    got = fast(body)
    assert got is not None and got == strict(body)
    assert dict(got[0][0])["key"] == "order:b"
    # a second `type` is not one the fast path guesses at
    assert (
        fast(b'[{"type":"order","type":"refund","refund_id":"r","order_id":"o","amount_fen":1}]')
        is None
    )  # noqa: E501


def test_rfc3339_ts_is_parsed_as_the_strict_path_does() -> None:
    body = body_of({**ORDER, "ts": "2026-11-11T11:00:00+08:00"})
    got = fast(body)
    assert got == strict(body)
