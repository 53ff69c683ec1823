"""The holdout draw at a fire, from the live groups board, and the hosts of groups."""

from __future__ import annotations

from tests.conftest import Harness
from tests.e2e.test_smoke import order
from warroom.services import treatment


async def test_a_draw_over_the_live_groups_is_seeded_and_stratified(harness: Harness) -> None:
    c = await harness.create_campaign()
    orders = [
        order(i, 100 * (1 + i % 10), seller=f"host{i % 5}", group_id=f"g{i % 10}")
        for i in range(200)
    ]
    assert (await harness.post_events("sale", c["ingest_token"], orders)).json()["accepted"] == 200
    await harness.drain()
    rt = harness.runtime
    sales = await rt.hot.group_sales("sale")
    assert sales is not None and len(sales) == 10
    assert sales["g9"] == 20 * 1000  # 20 orders of 1,000 fen
    a = await treatment.draw(rt.hot, "sale", 0.2, seed=7)
    again = await treatment.draw(rt.hot, "sale", 0.2, seed=7)
    assert a == again  # the seed replays the draw
    assert len(a.holdout) == 2 and len(a.treated) == 8
    assert set(a.treated) | set(a.holdout) == set(sales) and not set(a.treated) & set(a.holdout)
    everyone = await treatment.draw(rt.hot, "sale", 0, seed=7)
    assert everyone.holdout == () and len(everyone.treated) == 10


async def test_hosts_of_groups_come_from_their_orders(harness: Harness) -> None:
    c = await harness.create_campaign()
    orders = [order(1, seller="amy", group_id="g1"), order(2, seller="bo", group_id="g2")]
    orders.append(order(3, seller="amy", group_id="g3"))
    await harness.post_events("sale", c["ingest_token"], orders)
    rec = await harness.runtime.campaigns.get("sale")
    at = orders[0]["ts"]
    from warroom.core.ingest.clock import parse_instant

    at_ms = parse_instant(at) + 60_000
    hosts = await treatment.hosts_of(harness.runtime.store, rec.id, {"g1", "g3"}, at_ms)
    assert hosts == {"amy": ["g1", "g3"]}  # bo sells only in g2
