"""Hot-state generations: a wipe while running heals itself, a rebuild is atomic.

Figures are always compared with a plain recomputation from the events (the ledger),
never with the hot state itself."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from tests.conftest import Harness
from tests.integration.test_resilience import many_orders
from tests.reference import comparable, reference
from warroom.adapters.redis import keys
from warroom.workers.aggregator import Aggregator
from warroom.workers.rebuild import Restorer, rebuild


def mixed_events(n: int, start: int = 0) -> list[dict[str, Any]]:
    events = many_orders(n, start)
    events += [
        {
            "type": "refund",
            "refund_id": f"r{i}",
            "order_id": f"o{i * 3}",
            "amount_fen": 40,
            "ts": "2026-11-11T10:06:00+08:00",
        }
        for i in range(start, start + n // 10)
    ]
    return events


class Worker:
    """An aggregator and a restorer running as the worker process runs them."""

    def __init__(self, h: Harness) -> None:
        rt = h.runtime
        self.stop = asyncio.Event()
        self.agg = Aggregator(rt.hot, rt.stream, consumer="loop", block_ms=100)
        self.restorer = Restorer(
            rt.store, rt.hot, rt.stream, rt.announcer.restore_feeds, interval_s=0.5
        )
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Worker:
        self.tasks = [
            asyncio.create_task(self.agg.run(self.stop)),
            asyncio.create_task(self.restorer.run(self.stop)),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks), 30)


async def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


async def test_flushall_while_running_heals_without_restart(harness: Harness) -> None:
    c = await harness.create_campaign()
    token, viewer = c["ingest_token"], c["viewer_token"]
    before = mixed_events(600)
    after = mixed_events(300, start=10_000)
    async with Worker(harness):
        for i in range(0, len(before), 60):
            await harness.post_events("sale", token, before[i : i + 60])

        async def caught_up(events: list[dict[str, Any]]) -> bool:
            snap = await harness.snapshot("sale", viewer)
            return not snap["restoring"] and comparable(snap) == reference(events)

        await wait_for(lambda: caught_up(before), 60, "the figures before the wipe")
        settled = (await harness.snapshot("sale", viewer))["totals"]

        await harness.runtime.redis.flushall()
        wiped_at = time.monotonic()
        seen: list[dict[str, Any]] = []

        async def poll() -> None:
            while True:
                seen.append(await harness.snapshot("sale", viewer))
                await asyncio.sleep(0.02)

        poller = asyncio.create_task(poll())
        try:
            # Orders keep coming during and after the wipe: none may be lost.
            for i in range(0, len(after), 30):
                res = await harness.post_events("sale", token, after[i : i + 30])
                assert res.json()["accepted"] == 30
            await wait_for(lambda: caught_up(before + after), 60, "the healed figures")
            healed_in = time.monotonic() - wiped_at
        finally:
            poller.cancel()
    # Exact again without any restart, and well within the 10 s the issue asks (the
    # deadline above is generous for slow machines; the figure is printed).
    print(f"healed in {healed_in:.1f} s")
    for snap in seen:
        if snap["restoring"]:
            continue
        # Never a figure below what was true before the wipe: no zeros, no partials.
        assert snap["totals"]["orders"] >= settled["orders"], snap["totals"]
        assert snap["totals"]["gmv_fen"] >= settled["gmv_fen"], snap["totals"]
    rt = harness.runtime
    assert await rt.redis.sismember(keys.CAMPAIGNS, "sale")
    assert await rt.redis.exists(keys.generation("sale"))


async def test_restoring_snapshot_says_so(harness: Harness) -> None:
    c = await harness.create_campaign()
    await harness.post_events("sale", c["ingest_token"], many_orders(20))
    await harness.drain()
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert snap["restoring"] is False and snap["totals"]["orders"] == 20
    await harness.runtime.redis.delete(keys.generation("sale"))
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert snap["restoring"] is True
    assert await harness.runtime.hot.restoring("sale")
    # Batches arriving while lost are not applied to any half state.
    await harness.post_events("sale", c["ingest_token"], many_orders(5, start=100))
    await harness.drain()
    assert (await harness.snapshot("sale", c["viewer_token"]))["restoring"] is True
    rt = harness.runtime
    restorer = Restorer(rt.store, rt.hot, rt.stream, rt.announcer.restore_feeds)
    stop = asyncio.Event()
    task = asyncio.create_task(restorer.run(stop))
    try:
        await wait_for(lambda: _not_restoring(harness, c), 30, "the restore")
    finally:
        stop.set()
        await task
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert comparable(snap) == reference(many_orders(20) + many_orders(5, start=100))


async def _not_restoring(h: Harness, c: dict[str, str]) -> bool:
    return not (await h.snapshot("sale", c["viewer_token"]))["restoring"]


async def test_rebuild_is_atomic_for_a_client_polling(harness: Harness) -> None:
    c = await harness.create_campaign()
    token, viewer = c["ingest_token"], c["viewer_token"]
    events = mixed_events(6000)
    for i in range(0, len(events), 500):
        await harness.post_events("sale", token, events[i : i + 500])
    await harness.drain()
    rt = harness.runtime
    # Two reports in the feed (and in SQL): a rebuild must not empty the feed.
    record = await rt.campaigns.get("sale")
    for key in ("manual:1", "manual:2"):
        await asyncio.to_thread(
            rt.reports.claim_report, record.id, key, "scheduled", 1_794_369_600_000, key, "{}"
        )
    await rt.announcer.restore_feeds(record)
    old = await harness.snapshot("sale", viewer)
    assert comparable(old) == reference(events)
    assert len(old["reports"]) == 2

    seen: list[dict[str, Any]] = []

    async def poll() -> None:
        while True:
            seen.append(await harness.snapshot("sale", viewer))
            await asyncio.sleep(0.05)  # 20 a second

    poller = asyncio.create_task(poll())
    try:
        gen_before = await rt.hot.generation("sale")
        replayed = await rebuild(rt.store, rt.hot, rt.stream, "sale", rt.announcer.restore_feeds)
        await asyncio.sleep(0.2)
    finally:
        poller.cancel()
    assert replayed == len(events)
    assert await rt.hot.generation("sale") != gen_before
    assert len(seen) >= 3
    for snap in seen:
        # Old and new are the same figures here: every reading must be exactly them.
        assert not snap["restoring"]
        assert comparable(snap) == comparable(old)
        assert [r["id"] for r in snap["reports"]] == [r["id"] for r in old["reports"]]
    # The old generation's keys go away shortly (they expire, not linger).
    ttl = await rt.redis.ttl(keys.totals("sale", gen_before))
    assert 0 < ttl <= 30


class PausingStore:
    """The real store, whose ledger replay stops after its first chunk until released,
    so that a test can post and aggregate events in the middle of a rebuild."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.paused = threading.Event()
        self.resume = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def iter_ledger(self, campaign_id: int) -> Any:
        for n, chunk in enumerate(self.store.iter_ledger(campaign_id, chunk=500)):
            if n == 1:
                self.paused.set()
                assert self.resume.wait(60)
            yield chunk


async def test_events_during_a_rebuild_reach_the_new_generation(harness: Harness) -> None:
    c = await harness.create_campaign()
    token, viewer = c["ingest_token"], c["viewer_token"]
    first = many_orders(3000)
    for i in range(0, len(first), 500):
        await harness.post_events("sale", token, first[i : i + 500])
    await harness.drain()
    rt = harness.runtime
    during = many_orders(400, start=50_000)
    store = PausingStore(rt.store)
    task = asyncio.create_task(rebuild(store, rt.hot, rt.stream, "sale"))  # type: ignore[arg-type]
    assert await asyncio.to_thread(store.paused.wait, 60)
    assert await rt.redis.exists(keys.next_generation("sale"))
    # While the replay is half done, new events are posted and aggregated (into both).
    for i in range(0, len(during), 40):
        await harness.post_events("sale", token, during[i : i + 40])
        await harness.drain()
    mid = await harness.snapshot("sale", viewer)
    assert comparable(mid) == reference(first + during)  # the old generation, still live
    store.resume.set()
    await task
    await harness.drain()
    snap = await harness.snapshot("sale", viewer)
    assert comparable(snap) == reference(first + during)
