from typing import Any

import httpx

from tests.conftest import Harness


def order(i: int, amount: int = 1000, seller: str = "s1", **kw: object) -> dict:
    return {
        "type": "order",
        "order_id": f"o{i}",
        "amount_fen": amount,
        "seller_id": seller,
        "group_id": "g1",
        "buyer_id": f"b{i}",
        "product_id": "p1",
        "ts": "2026-11-11T10:05:00+08:00",
        **kw,
    }


async def test_ingest_drain_snapshot(harness: Harness) -> None:
    c = await harness.create_campaign()
    res = await harness.post_events("sale", c["ingest_token"], [order(1), order(2, 2500)])
    assert res.status_code == 202, res.text
    assert res.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    await harness.drain()
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert snap["totals"]["gmv_fen"] == 3500
    assert snap["totals"]["orders"] == 2
    assert snap["per_minute"][0]["minute"] == "2026-11-11T10:05:00+08:00"
    assert snap["leaderboards"]["sellers"][0]["net_gmv_fen"] == 3500


async def test_ingest_is_served_ahead_of_the_framework_stack(harness: Harness) -> None:
    """The fast path answers event POSTs itself (errors included) and hands every other
    request to the app behind it."""
    from warroom.web.fastpath import IngestFastPath

    c = await harness.create_campaign()
    reached: list[str] = []

    async def inner(scope: dict, receive: object, send: Any) -> None:
        reached.append(f"{scope['method']} {scope['path']}")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    fast = IngestFastPath(inner)
    transport = httpx.ASGITransport(app=_with_app(fast, harness.app))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        auth = {"Authorization": f"Bearer {c['ingest_token']}"}
        res = await client.post("/api/v1/campaigns/sale/events", json=[order(1)], headers=auth)
        assert res.status_code == 202 and res.json()["accepted"] == 1
        res = await client.post("/api/v1/campaigns/sale/events", json=[order(2)])
        assert res.status_code == 401 and "ingest token" in res.json()["error"]
        res = await client.post("/api/v1/campaigns/nope/events", json=[order(3)], headers=auth)
        assert res.status_code == 401  # as for a wrong token: names cannot be probed
        assert reached == []
        assert (await client.get("/api/v1/campaigns/sale/events")).status_code == 204
        assert (await client.post("/api/v1/campaigns/sale/events/x")).status_code == 204
    assert reached == ["GET /api/v1/campaigns/sale/events", "POST /api/v1/campaigns/sale/events/x"]


def _with_app(asgi: object, app: object) -> object:
    """Starlette puts the app in the scope before middleware runs; do the same."""

    async def wrapped(scope: dict, receive: object, send: object) -> None:
        await asgi({**scope, "app": app}, receive, send)  # type: ignore[operator]

    return wrapped
