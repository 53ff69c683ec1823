"""The pure parts of sources: JSONPath subset, mappings, money scaling, signatures, WeCom
crypto (against WeCom's published example) and callback parsing."""

from __future__ import annotations

import os
import time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from warroom.core.sources import wecom
from warroom.core.sources.jsonpath import MISSING, PathError, compile_path, each, get
from warroom.core.sources.mapping import (
    NO_MAPPING,
    MappedConfig,
    PayloadError,
    apply,
    parse_payload,
    scaled,
)
from warroom.core.sources.signature import SignatureError, sign, verify

WECOM = wecom.WeComConfig(
    corp_id="wx5823bf96d3bd56c7",
    token="QDG6eK",
    encoding_aes_key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
)


def test_paths() -> None:
    doc = {"a": {"b": [10, {"c": "x"}]}, "ids": [{"i": 1}, {"i": 2}]}
    assert get(compile_path("$.a.b[0]"), doc) == 10
    assert get(compile_path("$.a.b[1].c"), doc) == "x"
    assert get(compile_path("$.a.zz"), doc) is MISSING
    assert get(compile_path("$.a.b[9]"), doc) is MISSING
    assert get(compile_path("$"), doc) is doc
    assert each(compile_path("$.ids[*].i", allow_wildcard=True), doc) == [1, 2]
    assert each(compile_path("$.a[*]", allow_wildcard=True), doc) == []  # not a list
    assert get(compile_path("@.i", allow_element=True), doc, {"i": 7}) == 7
    assert get(compile_path("$.订单.金额"), {"订单": {"金额": "1.00"}}) == "1.00"
    for bad in ["", "a.b", "$..a", "$.a[-1]", "$.a[", "$ .a", "$.a['x']"]:
        with pytest.raises(PathError):
            compile_path(bad)
    with pytest.raises(PathError):
        compile_path("$.a[*]")  # only in `each`
    with pytest.raises(PathError):
        compile_path("@.a")  # only under an `each`


def test_scaled_money_is_exact() -> None:
    assert scaled("12.50", 100) == 1250
    assert scaled(Decimal("12.5"), 100) == 1250
    assert scaled(12.5, 100) == 1250
    assert scaled(12, 100) == 1200
    assert scaled("0.1", 100) == 10
    assert scaled("1.005", 1000) == 1005
    assert scaled(0.29, 100) == 29  # 0.29 * 100 in floats is 28.999999999999996
    for bad in ["12.345", "1e3", " ", "abc", "1,000", True, None, [1], "0.001"]:
        with pytest.raises(ValueError):
            scaled(bad, 100)


@given(st.integers(min_value=0, max_value=10**9 - 1), st.integers(min_value=0, max_value=99))
def test_scaled_matches_integer_arithmetic(yuan: int, cents: int) -> None:
    assert scaled(f"{yuan}.{cents:02d}", 100) == yuan * 100 + cents


CONFIG = {
    "signature": {"scheme": "none"},
    "events": [
        {
            "when": {"path": "$.kind", "equals": "paid"},
            "each": "$.items[*]",
            "type": "order",
            "fields": {
                "order_id": "@.id",
                "amount_fen": {"path": "@.yuan", "scale": 100},
                "seller_id": {"const": "s1"},
                "group_id": "$.group",
                "buyer_id": "$.buyer",
                "product_id": "@.sku",
            },
        }
    ],
}


def test_apply_mapping() -> None:
    cfg = MappedConfig.model_validate(CONFIG)
    payload = parse_payload(
        b'{"kind":"paid","group":"g","buyer":"b","items":[{"id":"1","yuan":9.99,"sku":"p"},'
        b'{"id":"2","yuan":"1.001","sku":"p"}]}'
    )
    out = apply(cfg, payload)
    assert out[0].event == {
        "type": "order",
        "order_id": "1",
        "amount_fen": 999,
        "seller_id": "s1",
        "group_id": "g",
        "buyer_id": "b",
        "product_id": "p",
    }
    assert out[1].event is None and "more decimals" in (out[1].error or "")
    assert [p.error for p in apply(cfg, {"kind": "other"})] == [NO_MAPPING]
    assert "no elements" in (apply(cfg, {"kind": "paid", "items": []})[0].error or "")


def test_config_is_checked() -> None:
    with pytest.raises(ValidationError):
        MappedConfig.model_validate(
            {"signature": {"scheme": "hmac-sha256"}, "events": [CONFIG["events"][0]]}
        )
    with pytest.raises(ValidationError):
        MappedConfig.model_validate({**CONFIG, "events": []})
    with pytest.raises(ValidationError):  # @ without each
        MappedConfig.model_validate(
            {**CONFIG, "events": [{"type": "order", "fields": {"order_id": "@.x"}}]}
        )
    with pytest.raises(ValidationError):
        MappedConfig.model_validate({**CONFIG, "signature": {"scheme": "md5"}})
    with pytest.raises(ValidationError):  # three secrets
        MappedConfig.model_validate(
            {**CONFIG, "signature": {"scheme": "hmac-sha256", "secrets": ["a", "b", "c"]}}
        )
    # Stored and read back, a config is the same config.
    cfg = MappedConfig.model_validate(CONFIG)
    assert MappedConfig.model_validate(cfg.model_dump()) == cfg


def test_payload_parse_refuses_deep_nesting_fast() -> None:
    t0 = time.monotonic()
    with pytest.raises(PayloadError):
        parse_payload(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(PayloadError):
        parse_payload(b"")
    assert time.monotonic() - t0 < 1
    assert parse_payload(b'{"a": 1.10}') == {"a": Decimal("1.10")}


def test_signature_schemes() -> None:
    sig = MappedConfig.model_validate(
        {
            **CONFIG,
            "signature": {
                "scheme": "hmac-sha256",
                "secrets": ["new", "old"],
                "timestamp_header": "X-Ts",
                "tolerance_s": 60,
            },
        }
    ).signature
    body = b'{"x":1}'
    now = 1_800_000_000
    for secret in ("new", "old"):
        verify(sig, body, {"x-signature": sign(secret, body, str(now)), "x-ts": str(now)}, now)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(
            sig, body, {"x-signature": sign("new", body, str(now - 61)), "x-ts": str(now - 61)}, now
        )
    with pytest.raises(SignatureError, match="does not match"):
        verify(sig, body, {"x-signature": sign("new", body), "x-ts": str(now)}, now)
    with pytest.raises(SignatureError, match="missing"):
        verify(sig, body, {}, now)
    with pytest.raises(SignatureError, match="timestamp"):
        verify(sig, body, {"x-signature": "ab", "x-ts": "１２３"}, now)  # full-width digits


def test_wecom_published_example() -> None:
    echostr = (
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
    )
    assert wecom.msg_signature("QDG6eK", "1409659589", "263014780", echostr) == (
        "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
    )
    wecom.check_signature(
        WECOM, "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", echostr
    )
    assert wecom.decrypt(WECOM, echostr) == b"1616140317555161061"
    with pytest.raises(wecom.BadSignature):
        wecom.check_signature(
            WECOM, "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "1", echostr
        )


@given(st.binary(max_size=300))
def test_wecom_round_trip(msg: bytes) -> None:
    enc = wecom.encrypt(WECOM, msg, os.urandom(16))
    assert wecom.decrypt(WECOM, enc) == msg


def test_wecom_refuses_garbage() -> None:
    for bad in ["", "!!!", "QUJD", "A" * 64]:
        with pytest.raises(wecom.WeComError):
            wecom.decrypt(WECOM, bad)
    with pytest.raises(ValidationError):
        wecom.WeComConfig(corp_id="c", token="t", encoding_aes_key="x" * 42)


def test_wecom_events() -> None:
    xml = (
        b"<xml><CreateTime>1794364800</CreateTime><MsgType>event</MsgType>"
        b"<Event>change_external_chat</Event><ChatId>CHAT</ChatId><ChangeType>update</ChangeType>"
        b"<UpdateDetail>del_member</UpdateDetail><MemChangeList><Item>a</Item><Item>b</Item>"
        b"</MemChangeList></xml>"
    )
    events, notes = wecom.events_of(wecom.message(xml), use_create_time=True)
    assert notes == []
    assert [(e["member_id"], e["action"], e["ts"]) for e in events] == [
        ("a", "leave", 1794364800000),
        ("b", "leave", 1794364800000),
    ]
    assert events[0]["event_id"] == "wecom:CHAT:del_member:1794364800:a"
    stamped, _ = wecom.events_of(wecom.message(xml), use_create_time=False)
    assert "ts" not in stamped[0]
    long_id = wecom.events_of(
        {
            "Event": "change_external_chat",
            "ChatId": "C" * 200,
            "ChangeType": "update",
            "UpdateDetail": "add_member",
            "MemChangeList": ["m"],
        },
        False,
    )[0][0]["event_id"]
    assert len(long_id) <= 128
    assert wecom.events_of({"MsgType": "text"}, True)[0] == []
    with pytest.raises(wecom.WeComError):
        wecom.message(b'<!DOCTYPE x [<!ENTITY a "b">]><xml>&a;</xml>')
