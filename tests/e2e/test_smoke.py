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
