"""The watermark read for many campaigns at once (what a scrape of /metrics asks of
every live campaign) gives each campaign exactly what reading it alone gives, in every
state a stream can be in; and a scrape with many live campaigns costs a few round
trips, not a few per campaign."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Harness
from tests.e2e.test_smoke import order
from tests.integration.test_metrics_scrape import fresh, live_campaign, scrape
from warroom.adapters.redis import keys
from warroom.core.records import CampaignRecord


async def record(h: Harness, slug: str) -> CampaignRecord:
    found = await h.runtime.campaigns.get(slug)
    assert found is not None
    return found


async def post(h: Harness, slug: str, token: str, n: int, first: int = 0) -> None:
    batch = [fresh(order(first + i)) for i in range(n)]
    res = await h.post_events(slug, token, batch)
    assert res.json()["accepted"] == n, res.text


async def test_many_at_once_equals_one_at_a_time(harness: Harness) -> None:
    h = harness
    rt = h.runtime
    tokens: dict[str, Any] = {}
    for slug in ("applied", "undelivered", "unacked", "restoring", "unrelayed", "silent"):
        tokens[slug] = (await live_campaign(h, slug))["ingest_token"]
    await post(h, "applied", tokens["applied"], 5)
    await post(h, "restoring", tokens["restoring"], 3)
    await post(h, "unrelayed", tokens["unrelayed"], 2)
    await h.drain()  # everything so far applied
    # delivered to a consumer that never acknowledges: the oldest pending holds it back
    await post(h, "unacked", tokens["unacked"], 4)
    got = await rt.hot.redis.xreadgroup(
        keys.AGG_GROUP, "stalled", {keys.stream("unacked"): ">"}, count=10
    )
    assert got and got[0][1]
    await asyncio.sleep(0.01)  # a later entry id than the one just delivered
    # appended, never delivered: the oldest undelivered entry holds it back
    await post(h, "undelivered", tokens["undelivered"], 3)
    # its live generation gone: restoring
    await rt.hot.redis.delete(keys.generation("restoring"))
    # a ledger row that never reached its stream (the relay's case)
    rec = await record(h, "unrelayed")
    early = rec.settings.starts_at + 60_000
    await asyncio.to_thread(
        rt.store.append,
        [
            {
                "campaign_id": rec.id,
                "key": "order:lost",
                "type": "order",
                "ts_ms": early,
                "received_ms": early,
                "body": '{"type":"order"}',
            }
        ],
    )

    watermark = rt.vitals.watermark
    records = [
        await record(h, s)
        for s in ("applied", "undelivered", "unacked", "restoring", "unrelayed", "silent")
    ]
    now = rt.vitals.clock.now_ms()
    many = await watermark.settled_many(records, now)
    alone = [
        (await watermark.settled_ms(r, now), await rt.hot.restoring(r.settings.slug))
        for r in records
    ]
    assert many == alone
    # the scrape's way: campaigns with nothing pending skip their stream reads
    pending = await rt.stream.pending_events([r.settings.slug for r in records])
    assert pending["undelivered"] == 3 and pending["unacked"] == 4 and pending["silent"] == 0
    assert await watermark.settled_many(records, now, pending) == alone
    by_slug = dict(zip([r.settings.slug for r in records], many, strict=True))
    # each state shows: not one of them is the plain "settled up to now" answer
    assert by_slug["restoring"] == (None, True)
    assert by_slug["unrelayed"] == (early, False)
    settled_now = by_slug["applied"][0]
    assert settled_now is not None
    for slug in ("undelivered", "unacked"):
        held = by_slug[slug][0]
        assert held is not None and held <= settled_now
    assert by_slug["silent"][0] is not None and by_slug["silent"][1] is False


async def test_a_scrape_of_many_campaigns_takes_a_few_round_trips(harness: Harness) -> None:
    h = harness
    for i in range(60):
        await live_campaign(h, f"c{i:02d}")
    calls = 0
    redis = h.runtime.hot.redis
    original = redis.execute_command

    async def counting(*args: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        return await original(*args, **kw)

    redis.execute_command = counting  # type: ignore[method-assign]
    h.runtime.vitals.cache_s = 0
    try:
        text = (await scrape(h)).text
    finally:
        redis.execute_command = original  # type: ignore[method-assign]
    assert text.count('warroom_campaign_live{campaign="c') == 60
    assert 'warroom_settled_lag_seconds{campaign="c59"}' in text
    # pipelines go through their own path: single commands are the PING alone, not
    # a handful per campaign as before (60 campaigns made it 181)
    assert calls <= 5, calls
