"""The worker's metrics count where their fact becomes true: events applied, batches,
restores, rule evaluations, reports and fires (once each, whoever wins the claim) and
webhook attempts by outcome. Counters are process-global and other tests move them, so
every assertion is on a delta read before and after."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from tests.conftest import Harness, harness_for
from tests.integration.receivers import ADMIN_H, Receiver, add_hook, deliveries, fire
from warroom.adapters.metrics.catalogue import campaign_label
from warroom.adapters.outbound.delivery import Deliverer
from warroom.core.reports.rules import HELD_REASONS
from warroom.core.reports.schedule import REPORT_KINDS
from warroom.workers.rebuild import Restorer, rebuild, restore_lost
from warroom.workers.triggers import Triggers

REGISTRY_TIMEOUT_S = 30.0  # every wait below: generous for a machine half as fast
SALE = campaign_label("sale")


def value(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


class Deltas:
    """Sample values now, to compare with later: `d.delta(name, **labels)`."""

    def __init__(self, *samples: tuple[str, dict[str, str]]) -> None:
        self._before = {
            (name, tuple(sorted(lb.items()))): value(name, **lb) for name, lb in samples
        }

    def delta(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return value(name, **labels) - self._before[key]


def s(name: str, **labels: str) -> tuple[str, dict[str, str]]:
    return name, labels


async def until(pred: Callable[[], Awaitable[bool]], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await pred():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        await asyncio.sleep(0.05)


def order(i: int, amount_fen: int = 1000, ts: int | None = None) -> dict[str, Any]:
    return {
        **({"ts": ts} if ts is not None else {}),
        "type": "order",
        "order_id": f"o{i}",
        "amount_fen": amount_fen,
        "seller_id": f"s{i % 3}",
        "group_id": "g1",
        "buyer_id": f"b{i}",
        "product_id": "p1",
    }


async def last_minute() -> int:
    """A `ts` in the minute before the present one, at a moment when that minute is
    settled (a milestone is due once its crossing minute is complete and settled)."""
    while int(time.time() * 1000) % 60_000 < 3_000:
        await asyncio.sleep(0.2)
    now = int(time.time() * 1000)
    return now - now % 60_000 - 30_000


def live_window(**extra: Any) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {"starts_at": now - 3_600_000, "ends_at": now + 6 * 3_600_000, **extra}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


async def test_applied_events_are_counted_once_per_event_and_batches_are_observed(
    harness: Harness,
) -> None:
    c = await harness.create_campaign()
    d = Deltas(
        s("warroom_applied_events_total", campaign=SALE),
        s("warroom_aggregation_batch_events_sum"),
        s("warroom_aggregation_batch_events_count"),
        s("warroom_aggregation_batch_seconds_count"),
    )
    posted = 0
    for k in range(3):
        res = await harness.post_events(
            "sale", c["ingest_token"], [order(k * 10 + i) for i in range(7)]
        )
        assert res.json()["accepted"] == 7
        posted += 7
    dup = await harness.post_events("sale", c["ingest_token"], [order(0), order(1)])
    assert dup.json()["accepted"] == 0  # duplicates: never appended, never applied
    await harness.drain()
    assert d.delta("warroom_applied_events_total", campaign=SALE) == posted
    assert d.delta("warroom_aggregation_batch_events_sum") == posted
    batches = d.delta("warroom_aggregation_batch_events_count")
    assert 1 <= batches <= 3
    assert d.delta("warroom_aggregation_batch_seconds_count") == batches
    # Draining again applies nothing and observes no batch.
    await harness.drain()
    assert d.delta("warroom_applied_events_total", campaign=SALE) == posted
    assert d.delta("warroom_aggregation_batch_events_count") == batches
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert snap["totals"]["orders"] == posted


async def test_a_wipe_is_restored_and_counted_once_and_a_rebuild_by_its_own_reason(
    harness: Harness,
) -> None:
    c = await harness.create_campaign()
    await harness.post_events("sale", c["ingest_token"], [order(i) for i in range(20)])
    await harness.drain()
    rt = harness.runtime
    d = Deltas(
        s("warroom_restores_total", reason="lost"),
        s("warroom_restores_total", reason="rebuild"),
        s("warroom_restore_seconds_count", reason="lost"),
        s("warroom_restore_seconds_count", reason="rebuild"),
    )
    began = time.time()
    await rt.redis.flushdb()  # this test's database only, never the server's others
    stop = asyncio.Event()
    restorers = [Restorer(rt.store, rt.hot, rt.stream, interval_s=0.1) for _ in range(2)]
    tasks = [asyncio.create_task(r.run(stop)) for r in restorers]
    try:

        async def restored() -> bool:
            return d.delta("warroom_restores_total", reason="lost") >= 1

        await until(restored, "the wipe restored", REGISTRY_TIMEOUT_S)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    assert await restore_lost(rt.store, rt.hot, rt.stream) == []  # nothing lost now
    assert d.delta("warroom_restores_total", reason="lost") == 1
    assert sum(len(r.restored) for r in restorers) == 1
    assert d.delta("warroom_restore_seconds_count", reason="lost") == 1
    assert value("warroom_last_restore_timestamp_seconds") >= began
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert snap["restoring"] is False and snap["totals"]["orders"] == 20

    assert await rebuild(rt.store, rt.hot, rt.stream, "sale") == 20
    assert d.delta("warroom_restores_total", reason="rebuild") == 1
    assert d.delta("warroom_restore_seconds_count", reason="rebuild") == 1
    assert d.delta("warroom_restores_total", reason="lost") == 1


async def test_a_milestone_report_is_counted_once_with_two_triggers_racing(
    harness: Harness,
) -> None:
    c = await harness.create_campaign(
        **live_window(
            milestones_fen=[50_000],
            target_base_fen=10**10,
            target_stretch_fen=10**10,
            report_every_minutes=600,
        )
    )
    rt = harness.runtime
    kinds = REPORT_KINDS
    d = Deltas(
        *(s("warroom_reports_total", campaign=SALE, kind=k) for k in kinds),
        s("warroom_trigger_tick_seconds_count"),
    )
    ts = await last_minute()
    res = await harness.post_events(
        "sale", c["ingest_token"], [order(i, 20_000, ts) for i in range(4)]
    )
    assert res.json()["accepted"] == 4  # ¥800: past the ¥500 milestone
    await harness.drain()
    workers = [Triggers(rt.store, rt.hot, rt.reports, rt.announcer) for _ in range(2)]
    ticks = 0

    async def milestone_written() -> bool:
        nonlocal ticks
        await asyncio.gather(*(w.tick() for w in workers))
        ticks += 2
        listed = await _reports(harness)
        return any(r["kind"] == "milestone" for r in listed)

    await until(milestone_written, "the milestone report", REGISTRY_TIMEOUT_S)
    for _ in range(3):  # later ticks of both find it claimed: nothing more is counted
        await asyncio.gather(*(w.tick() for w in workers))
        ticks += 2
    listed = await _reports(harness)
    assert d.delta("warroom_reports_total", campaign=SALE, kind="milestone") == 1
    written = {k: sum(1 for r in listed if r["kind"] == k) for k in kinds}
    assert sum(written.values()) == len(listed), listed  # every kind written is checked
    for k in kinds:
        assert d.delta("warroom_reports_total", campaign=SALE, kind=k) == written[k], k
    assert d.delta("warroom_trigger_tick_seconds_count") == ticks


async def _reports(h: Harness) -> list[dict[str, Any]]:
    res = await h.client.get("/api/v1/campaigns/sale/reports", headers=ADMIN_H)
    assert res.status_code == 200, res.text
    return list(res.json())


async def test_rule_evaluations_and_holds_are_counted_by_reason(harness: Harness) -> None:
    rule = {
        "name": "rain",
        "metric": "gmv_per_min",
        "window_minutes": 3,
        "below_peak_ratio": 0.5,
        "sustain_minutes": 1,
        "cooldown_minutes": 30,
        "max_fires": 3,
        "action": {"kind": "red_packet_rain", "amount_fen": 100, "text": "🧧"},
    }
    await harness.create_campaign(**live_window(milestones_fen=[], stimulus_rules=[rule]))
    rt = harness.runtime
    trig = Triggers(rt.store, rt.hot, rt.reports, rt.announcer)
    reasons = sorted(HELD_REASONS | {"fire", "window_filling", "no_peak", "not_low"})
    d = Deltas(
        *(s("warroom_rule_evaluations_total", reason=r) for r in reasons),
        *(s("warroom_rule_holds_total", reason=r) for r in sorted(HELD_REASONS)),
    )
    for _ in range(3):
        await trig.tick()
    evaluated = {r: d.delta("warroom_rule_evaluations_total", reason=r) for r in reasons}
    # No event has arrived: each evaluation's one rule is held (no events, or
    # restoring). The campaign is evaluated when due, not on every tick: at least once.
    assert trig.evaluations >= 1
    assert sum(evaluated.values()) == trig.evaluations, evaluated
    for r in sorted(HELD_REASONS):
        assert d.delta("warroom_rule_holds_total", reason=r) == evaluated[r], r
    assert sum(evaluated[r] for r in HELD_REASONS) == trig.evaluations


async def test_a_manual_fire_is_counted_once_and_its_report_once(
    settings: Any, receiver: Receiver
) -> None:
    settings.warroom_allow_private_webhooks = True
    async with harness_for(settings) as h:
        await h.create_campaign(**live_window(milestones_fen=[], report_every_minutes=600))
        rt = h.runtime
        d = Deltas(
            s("warroom_stimulus_fires_total", campaign=SALE),
            s("warroom_reports_total", campaign=SALE, kind="stimulus"),
        )
        await fire(h, "📣 满2件送1件")  # the API: services/operator.py → the announcer
        assert d.delta("warroom_stimulus_fires_total", campaign=SALE) == 1
        workers = [Triggers(rt.store, rt.hot, rt.reports, rt.announcer) for _ in range(2)]

        async def announced() -> bool:
            await asyncio.gather(*(w.tick() for w in workers))
            return any(r["kind"] == "stimulus" for r in await _reports(h))

        await until(announced, "the fire's report", REGISTRY_TIMEOUT_S)
        for _ in range(2):
            await asyncio.gather(*(w.tick() for w in workers))
        assert d.delta("warroom_reports_total", campaign=SALE, kind="stimulus") == 1
        assert d.delta("warroom_stimulus_fires_total", campaign=SALE) == 1


async def test_webhook_attempts_are_counted_by_kind_and_outcome(
    settings: Any, receiver: Receiver
) -> None:
    settings.warroom_allow_private_webhooks = True
    redirecting = Receiver()  # answers 302: never followed, never retried
    redirecting.answer = lambda n: (302, {"Location": "http://127.0.0.1:1/elsewhere"})
    outcomes = ("delivered", "retry", "failed")
    d = Deltas(
        *(
            s("warroom_webhook_deliveries_total", kind=k, outcome=o)
            for k in ("json", "wecom")
            for o in outcomes
        ),
        s("warroom_webhook_delivery_seconds_count", kind="json"),
        s("warroom_webhook_delivery_seconds_count", kind="wecom"),
    )
    try:
        async with harness_for(settings) as h:
            await h.create_campaign()
            assert (await add_hook(h, receiver.url, "json", "s3cret")).status_code == 201
            assert (await add_hook(h, redirecting.url, "wecom")).status_code == 201
            receiver.fail_next = 1  # 500, then 200
            await fire(h, "📣 满2件送1件")
            rt = h.runtime
            deliverer = Deliverer(rt.webhooks, rt.redis, allow_private=True, backoff_base_s=0.05)
            try:

                async def settled() -> bool:
                    await deliverer.run_once()
                    return all(x["status"] in ("delivered", "failed") for x in await deliveries(h))

                await until(settled, "both deliveries ended", REGISTRY_TIMEOUT_S)
            finally:
                await deliverer.close()
            assert sorted(x["status"] for x in await deliveries(h)) == ["delivered", "failed"]
    finally:
        redirecting.close()
    got = {
        (k, o): d.delta("warroom_webhook_deliveries_total", kind=k, outcome=o)
        for k in ("json", "wecom")
        for o in outcomes
    }
    assert got == {
        ("json", "delivered"): 1,
        ("json", "retry"): 1,
        ("json", "failed"): 0,
        ("wecom", "delivered"): 0,
        ("wecom", "retry"): 0,
        ("wecom", "failed"): 1,
    }
    assert len(receiver.requests) == 2 and len(redirecting.requests) == 1
    assert d.delta("warroom_webhook_delivery_seconds_count", kind="json") == 2
    assert d.delta("warroom_webhook_delivery_seconds_count", kind="wecom") == 1
