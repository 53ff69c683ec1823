"""Mapped sources end to end (real Redis and SQL): a platform's signed JSON webhook
becomes v1 events through the same ledger as the events API; bad signatures, stale
timestamps, oversized and deeply nested bodies change nothing; secrets never show again."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

from tests.conftest import ADMIN, Harness, harness_for
from warroom.core.sources.signature import sign

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
SECRETS = ["current-secret-123456", "previous-secret-654321"]


def config(**signature: Any) -> dict[str, Any]:
    sig = {"scheme": "hmac-sha256", "header": "X-Signature", "secrets": SECRETS}
    sig.update(signature)
    return {
        "signature": sig,
        "events": [
            {
                "when": {"path": "$.event", "equals": "order.paid"},
                "each": "$.data.items[*]",
                "type": "order",
                "fields": {
                    "order_id": "@.oid",
                    "amount_fen": {"path": "@.payment", "scale": 100},
                    "seller_id": "$.data.seller.id",
                    "seller_name": "$.data.seller.name",
                    "group_id": "$.data.group",
                    "buyer_id": "$.data.buyer",
                    "product_id": "@.sku",
                    "ts": "$.data.paid_at",
                },
            },
            {
                "when": {"path": "$.event", "equals": "order.refunded"},
                "type": "refund",
                "fields": {
                    "refund_id": "$.data.rid",
                    "order_id": "$.data.oid",
                    "amount_fen": {"path": "$.data.amount", "scale": 100},
                },
            },
        ],
    }


def paid(items: list[tuple[str, str]], paid_at: str = "2026-11-11T10:05:00+08:00") -> bytes:
    # Raw text, as a platform sends it: 12.50 stays 12.50, never a float.
    body = {
        "event": "order.paid",
        "data": {
            "seller": {"id": "s1", "name": "王姐"},
            "group": "g1",
            "buyer": "b1",
            "paid_at": paid_at,
            "items": [{"oid": oid, "payment": "__P__", "sku": "p1"} for oid, _ in items],
        },
    }
    text = orjson.dumps(body).decode()
    for _, payment in items:
        text = text.replace('"__P__"', payment, 1)
    return text.encode()


async def add_source(
    h: Harness, kind: str = "mapped", name: str = "有赞", cfg: Any = None
) -> dict[str, Any]:
    res = await h.client.post(
        "/api/v1/campaigns/sale/sources",
        json={"kind": kind, "name": name, "config": cfg if cfg is not None else config()},
        headers=ADMIN_H,
    )
    assert res.status_code == 201, res.text
    return res.json()


def path_of(src: dict[str, Any]) -> str:
    assert src["url"].startswith("http://testserver/hooks/src_")
    return src["url"].removeprefix("http://testserver")


async def deliver(
    h: Harness, url: str, body: bytes, secret: str = SECRETS[0], **headers: str
) -> Any:
    hdrs = {"Content-Type": "application/json", "X-Signature": sign(secret, body)}
    hdrs.update(headers)
    return await h.client.post(url, content=body, headers=hdrs)


async def deliveries(h: Harness, src: dict[str, Any]) -> list[dict[str, Any]]:
    res = await h.client.get(
        f"/api/v1/campaigns/sale/sources/{src['id']}/deliveries", headers=ADMIN_H
    )
    assert res.status_code == 200, res.text
    return res.json()


async def test_signed_payload_becomes_orders_through_the_ledger(settings) -> None:
    async with harness_for(settings) as h:
        c = await h.create_campaign()
        src = await add_source(h)
        url = path_of(src)
        body = paid([("T1", '"12.50"'), ("T2", "7.5"), ("T3", "3")])
        res = await deliver(h, url, body)
        assert res.status_code == 202, res.text
        assert res.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
        # A re-sent delivery: duplicates, as on the events API.
        again = await deliver(h, url, body)
        assert again.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
        # The same identity sent over the events API is a duplicate too: one ledger.
        same = await h.post_events(
            "sale",
            c["ingest_token"],
            {
                "type": "order",
                "order_id": "T1",
                "amount_fen": 1250,
                "seller_id": "s1",
                "seller_name": "王姐",
                "group_id": "g1",
                "buyer_id": "b1",
                "product_id": "p1",
                "ts": "2026-11-11T10:05:00+08:00",
            },
        )
        assert same.json()["duplicates"] == 1, same.text
        await h.drain()
        snap = await h.snapshot("sale", c["viewer_token"])
        assert snap["totals"]["gmv_fen"] == 1250 + 750 + 300
        assert snap["totals"]["orders"] == 3
        log = await deliveries(h, src)
        assert [(d["outcome"], d["accepted"], d["duplicates"]) for d in log] == [
            ("recorded", 0, 3),
            ("recorded", 3, 0),
        ]


async def test_both_rotation_secrets_accepted_and_a_bad_signature_changes_nothing(settings) -> None:
    async with harness_for(settings) as h:
        c = await h.create_campaign()
        url = path_of(await add_source(h))
        assert (await deliver(h, url, paid([("A", "1")]), SECRETS[0])).json()["accepted"] == 1
        assert (await deliver(h, url, paid([("B", "1")]), SECRETS[1])).json()["accepted"] == 1
        bad = await deliver(h, url, paid([("C", "1")]), "not-the-secret")
        assert bad.status_code == 401 and bad.json() == {"error": "signature does not match"}
        missing = await h.client.post(url, content=paid([("D", "1")]))
        assert missing.status_code == 401
        # A valid signature over another body does not carry over.
        forged = await h.client.post(
            url, content=paid([("E", "1")]), headers={"X-Signature": sign(SECRETS[0], b"{}")}
        )
        assert forged.status_code == 401
        await h.drain()
        snap = await h.snapshot("sale", c["viewer_token"])
        assert snap["totals"]["orders"] == 2
        src_id = url.rsplit("/", 1)[1]
        log = await deliveries(h, {"id": src_id})
        assert [d["outcome"] for d in log][:3] == ["signature"] * 3
        assert all(d["status"] == 401 and d["accepted"] == 0 for d in log[:3])


async def test_timestamp_signature_and_tolerance(settings) -> None:
    async with harness_for(settings) as h:
        await h.create_campaign()
        url = path_of(
            await add_source(h, cfg=config(timestamp_header="X-Timestamp", tolerance_s=300))
        )
        body = paid([("T1", "1")])
        now = int(time.time())

        async def at(ts: int, secret: str = SECRETS[0]) -> Any:
            return await h.client.post(
                url,
                content=body,
                headers={"X-Timestamp": str(ts), "X-Signature": sign(secret, body, str(ts))},
            )

        assert (await at(now - 1000)).status_code == 401  # stale: a replay
        assert (await at(now + 1000)).status_code == 401  # from the future
        plain = await h.client.post(
            url, content=body, headers={"X-Signature": sign(SECRETS[0], body)}
        )
        assert plain.status_code == 401  # no timestamp where one is required
        ok = await at(now - 10, SECRETS[1])
        assert ok.status_code == 202 and ok.json()["accepted"] == 1
        log = await deliveries(h, {"id": url.rsplit("/", 1)[1]})
        assert "tolerance" in log[-1]["note"]


async def test_per_event_rejections_and_unmatched_payloads(settings) -> None:
    async with harness_for(settings) as h:
        c = await h.create_campaign()
        src = await add_source(h)
        url = path_of(src)
        res = await deliver(h, url, paid([("T1", '"12.345"'), ("T2", '"9.99"'), ("T3", '"abc"')]))
        out = res.json()
        assert out["accepted"] == 1
        assert [r["index"] for r in out["rejected"]] == [0, 2]
        assert "more decimals than scale 100 allows" in out["rejected"][0]["error"]
        assert out["rejected"][1]["error"].startswith("amount_fen:")
        # A refund whose order id is missing: the v1 validation's own message.
        refund = orjson.dumps({"event": "order.refunded", "data": {"rid": "R1", "amount": "1.00"}})
        r = (await deliver(h, url, refund)).json()
        assert r["accepted"] == 0 and r["rejected"] == [
            {"index": 0, "error": "order_id: is required"}
        ]
        # An event no mapping applies to is reported as such.
        other = orjson.dumps({"event": "shop.updated"})
        n = await deliver(h, url, other)
        assert n.status_code == 202
        assert n.json()["rejected"][0]["error"].startswith("no mapping applies")
        await h.drain()
        snap = await h.snapshot("sale", c["viewer_token"])
        assert snap["totals"]["gmv_fen"] == 999
        log = await deliveries(h, src)
        assert log[0]["rejected"][0]["error"].startswith("no mapping applies")


async def test_hostile_bodies_are_refused_cleanly(settings) -> None:
    async with harness_for(settings) as h:
        c = await h.create_campaign()
        src = await add_source(h, cfg={**config(), "signature": {"scheme": "none"}})
        url = path_of(src)
        big = b'{"event": "order.paid", "pad": "' + b"x" * (600 * 1024) + b'"}'
        assert (await h.client.post(url, content=big)).status_code == 413
        deep = b"[" * 200_000 + b"]" * 200_000
        t0 = time.monotonic()
        res = await h.client.post(url, content=deep)
        assert res.status_code == 400 and "JSON" in res.json()["error"]
        deep_obj = b'{"a":' * 5000 + b"1" + b"}" * 5000
        assert (await h.client.post(url, content=deep_obj)).status_code == 400
        assert time.monotonic() - t0 < 5
        assert (await h.client.post(url, content=b"not json")).status_code == 400
        assert (await h.client.post("/hooks/src_nope", content=b"{}")).status_code == 404
        await h.drain()
        assert (await h.snapshot("sale", c["viewer_token"]))["totals"]["orders"] == 0
        outcomes = [(d["status"], d["outcome"]) for d in await deliveries(h, src)]
        assert outcomes == [(400, "refused")] * 3 + [(413, "refused")]


async def test_sources_api_masks_secrets_and_deletes(
    settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with harness_for(settings) as h:
        await h.create_campaign()
        src = await add_source(h, name="<b>有赞</b>")
        assert set(src) == {"id", "kind", "url"} and src["kind"] == "mapped"
        listed = (await h.client.get("/api/v1/campaigns/sale/sources", headers=ADMIN_H)).json()
        assert len(listed) == 1 and listed[0]["name"] == "<b>有赞</b>"
        text = orjson.dumps(listed).decode()
        for s in SECRETS:
            assert s not in text
        assert listed[0]["config"]["signature"]["secrets"] == ["****56", "****21"]
        # No token, a viewer token or another campaign's source: refused.
        assert (await h.client.get("/api/v1/campaigns/sale/sources")).status_code == 401
        bad = await h.client.post(
            "/api/v1/campaigns/sale/sources",
            json={
                "kind": "mapped",
                "name": "x",
                "config": {"signature": {"scheme": "hmac-sha256"}, "events": []},
            },
            headers=ADMIN_H,
        )
        assert bad.status_code == 422 and "secrets" in bad.text
        path = await h.client.post(
            "/api/v1/campaigns/sale/sources",
            json={
                "kind": "mapped",
                "name": "x",
                "config": {
                    **config(),
                    "events": [{"type": "order", "fields": {"order_id": "$.a[*]"}}],
                },
            },
            headers=ADMIN_H,
        )
        assert path.status_code == 422 and "[*]" in path.text
        gone = await h.client.delete(f"/api/v1/campaigns/sale/sources/{src['id']}", headers=ADMIN_H)
        assert gone.status_code == 200
        assert (await deliver(h, path_of(src), paid([("T", "1")]))).status_code == 404
        again = await h.client.delete(
            f"/api/v1/campaigns/sale/sources/{src['id']}", headers=ADMIN_H
        )
        assert again.status_code == 404
        await asyncio.sleep(0)
    for s in SECRETS:
        assert s not in caplog.text


async def test_preview_shows_events_and_errors_without_recording(settings) -> None:
    async with harness_for(settings) as h:
        c = await h.create_campaign()
        sample = paid([("T1", "12.50"), ("T2", '"0.001"')]).decode()
        res = await h.client.post(
            "/api/v1/campaigns/sale/sources/preview",
            json={"config": config(), "sample": sample},
            headers=ADMIN_H,
        )
        assert res.status_code == 200, res.text
        out = res.json()
        assert [e["event"]["amount_fen"] for e in out["events"]] == [1250]
        assert out["rejected"][0]["index"] == 1 and "decimals" in out["rejected"][0]["error"]
        await h.drain()
        assert (await h.snapshot("sale", c["viewer_token"]))["totals"]["orders"] == 0
