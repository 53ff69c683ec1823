"""A cancelled request stops. Python 3.11's `asyncio.wait_for` returns the result
instead of raising when the cancellation arrives in the same loop step as the answer,
so a task cancelled in the middle of an ingest POST used to carry on as if never
cancelled: a test's 600 s sales loop then kept selling, and the test waited on it until
pytest-timeout (tests/e2e/test_wipe_sale.py after the trigger and wheel tests)."""

from __future__ import annotations

import asyncio
import random

from tests.conftest import Harness


def order(i: int) -> dict[str, object]:
    return {"type": "order", "order_id": f"o{i}", "amount_fen": 100, "seller_id": "s",
            "group_id": "g", "buyer_id": f"b{i}", "product_id": "p"}  # fmt: skip


async def test_every_cancelled_ingest_loop_stops(harness: Harness) -> None:
    c = await harness.create_campaign()
    rng = random.Random(17)

    async def post_forever(start: int) -> None:
        i = start
        while True:  # only a cancellation ends it
            res = await harness.post_events("sale", c["ingest_token"], [order(i)])
            assert res.status_code == 202, res.text
            i += 1

    kept_going = 0
    rounds = 120
    for k in range(rounds):
        task = asyncio.create_task(post_forever(k * 1_000_000))
        await asyncio.sleep(rng.uniform(0.005, 0.08))
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2.0)
        if not done:
            kept_going += 1
            task.cancel()  # once more, so that this test itself ends
            await asyncio.wait({task}, timeout=2.0)
    assert kept_going == 0, f"{kept_going} of {rounds} cancelled tasks kept posting"
