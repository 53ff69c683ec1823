"""The demo's pushes become the simulator's events: the shop push through the product's
mapping, the WeCom callbacks through the product's signature check and decryption."""

from __future__ import annotations

import orjson

from warroom.core.ingest.events import normalize
from warroom.core.sources import wecom
from warroom.core.sources.mapping import MappedConfig, apply, parse_payload
from warroom.core.sources.signature import verify
from warroom.demo_feeds import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    member_callbacks,
    member_change_xml,
    random_wecom_config,
    shop_config,
    shop_push,
    sign_push,
    wecom_request,
)
from warroom.simulator import generate_sale

START = 1_716_170_400_000  # 2024-05-20 10:00 +08:00
SALE = generate_sale(START, scale=0.1)


def test_the_shop_push_maps_back_to_the_simulators_orders_field_for_field() -> None:
    orders = [e for e in SALE.events if e["type"] == "order"][:300]
    cfg = MappedConfig.model_validate(shop_config("s3cret"))
    body = orjson.dumps(shop_push(orders, START))
    ts = "1716170400"
    headers = {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign_push("s3cret", body, ts)}
    verify(cfg.signature, body, headers, int(ts))  # raises if the signature is wrong
    produced = apply(cfg, parse_payload(body))
    assert [p.error for p in produced] == [None] * len(orders)
    got = [normalize(p.event, 0) for p in produced]
    assert got == [normalize(o, 0) for o in orders]


def test_member_callbacks_decrypt_to_member_events_of_the_same_people() -> None:
    cfg = random_wecom_config()
    members = [e for e in SALE.events if e["type"] == "member"]
    assert {e["action"] for e in members} == {"join", "leave"}
    seen: list[tuple[str, str, str]] = []
    for chat, detail, created, ids in member_callbacks(members):
        plain = member_change_xml(cfg.corp_id, chat, detail, created, ids)
        params, body = wecom_request(cfg, plain, "1716170400", "n0nce")
        encrypted = wecom.envelope(body)
        wecom.check_signature(cfg, params["msg_signature"], "1716170400", "n0nce", encrypted)
        events, notes = wecom.events_of(wecom.message(wecom.decrypt(cfg, encrypted)), False)
        assert notes == []
        for e in events:
            assert e["event_id"].startswith("wecom:")
            seen.append((e["group_id"], e["member_id"], e["action"]))
    assert sorted(seen) == sorted((e["group_id"], e["member_id"], e["action"]) for e in members)
    assert len({(g, m, a) for g, m, a in seen}) == len(seen)  # distinct identities


def test_in_one_batch_a_members_join_goes_before_their_leave() -> None:
    batch = [
        {"type": "member", "group_id": "g01", "member_id": "x", "action": "leave", "ts": 5000},
        {"type": "member", "group_id": "g01", "member_id": "y", "action": "join", "ts": 1000},
        {"type": "member", "group_id": "g01", "member_id": "y", "action": "leave", "ts": 9000},
    ]
    assert list(member_callbacks(batch)) == [
        ("g01", "add_member", 1, ["y"]),
        ("g01", "del_member", 9, ["x", "y"]),
    ]
