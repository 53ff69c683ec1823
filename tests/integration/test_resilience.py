"""Crashes, poison entries, lost Redis: nothing lost, nothing counted twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import orjson
import redis as sync_redis

from tests.conftest import Harness
from tests.e2e.test_smoke import order
from tests.reference import comparable, reference
from warroom.adapters.redis import keys
from warroom.workers.rebuild import restore_lost
from warroom.workers.relay import Relay


def many_orders(n: int, start: int = 0) -> list[dict]:
    return [
        order(i, 100 + i % 997, seller=f"s{i % 7}", buyer_id=f"b{i % 301}", product_id=f"p{i % 5}")
        for i in range(start, start + n)
    ]


def live_totals(r: sync_redis.Redis, slug: str = "sale") -> str:
    gen = r.get(keys.generation(slug))
    return keys.totals(slug, int(gen or 0))


def child_env(h: Harness) -> dict[str, str]:
    s = h.runtime.settings
    env = dict(os.environ)
    env.update(
        REDIS_URL=s.redis_url,
        DATABASE_URL=s.effective_database_url,
        WARROOM_DATA_DIR=str(s.warroom_data_dir),
        WARROOM_ADMIN_TOKEN="x",
        WARROOM_RECLAIM_IDLE_S="0.5",
    )
    return env


async def test_sigkilled_worker_loses_and_doubles_nothing(harness: Harness) -> None:
    c = await harness.create_campaign()
    # Enough that the worker cannot apply them all between two looks (a faster
    # aggregator did 6,000 before the 5 ms poll saw the first): 120 entries of 500.
    events = many_orders(60_000)
    for i in range(0, len(events), 500):
        res = await harness.post_events("sale", c["ingest_token"], events[i : i + 500])
        assert res.json()["accepted"] == 500
    worker = subprocess.Popen(
        [sys.executable, "-m", "warroom.cli", "worker"],
        env=child_env(harness),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    r = sync_redis.Redis.from_url(harness.runtime.settings.redis_url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = int(r.hget(live_totals(r), "orders") or 0)
            if done > 0:
                break
            await asyncio.sleep(0.005)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    partial = int(r.hget(live_totals(r), "orders") or 0)
    assert 0 < partial < len(events), "the worker must die mid-stream"
    await asyncio.sleep(0.3)  # let its pending entries go idle past the reclaim threshold
    await harness.drain()
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert comparable(snap) == reference(events)


async def test_poison_entry_goes_to_dead_letters(harness: Harness) -> None:
    c = await harness.create_campaign()
    await harness.post_events("sale", c["ingest_token"], many_orders(3))
    r = harness.runtime.redis
    await r.xadd(keys.stream("sale"), {"e": b"not json"})
    await r.xadd(keys.stream("sale"), {"e": orjson.dumps([{"type": "order", "lid": 999}])})
    await harness.post_events("sale", c["ingest_token"], many_orders(2, start=3))
    await harness.drain()
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert snap["totals"]["orders"] == 5
    dead = await r.xrange(keys.dead_letters("sale"))
    assert len(dead) == 2
    assert all(b"error" in fields for _, fields in dead)
    pending = await r.xpending(keys.stream("sale"), keys.AGG_GROUP)
    assert pending["pending"] == 0


async def test_relay_publishes_rows_that_missed_the_stream(harness: Harness) -> None:
    c = await harness.create_campaign()
    await harness.post_events("sale", c["ingest_token"], many_orders(4))
    await harness.drain()
    # Rows committed to the ledger whose stream append never happened (a crash between).
    record = await harness.runtime.campaigns.get("sale")
    rows = [
        {
            "campaign_id": record.id,
            "key": f"order:{e['order_id']}",
            "type": "order",
            "ts_ms": 1,
            "received_ms": 1,
            "body": orjson.dumps(
                {**e, "key": f"order:{e['order_id']}", "ts": 1_794_369_600_000}
            ).decode(),
        }
        for e in many_orders(3, start=100)
    ]
    await asyncio.to_thread(harness.runtime.store.append, rows)
    relay = Relay(harness.runtime.store, harness.runtime.stream, grace_ms=0)
    assert await relay.run_once() == 3
    assert await relay.run_once() == 0  # marked relayed
    await harness.drain()
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert snap["totals"]["orders"] == 7


async def test_rebuild_after_redis_loss_restores_identical_snapshot(harness: Harness) -> None:
    c = await harness.create_campaign()
    events = many_orders(400)
    events += [
        {
            "type": "refund",
            "refund_id": f"r{i}",
            "order_id": f"o{i * 3}",
            "amount_fen": 5000,
            "ts": "2026-11-11T10:06:00+08:00",
        }
        for i in range(30)
    ]
    events += [
        {
            "type": "member",
            "event_id": f"m{i}",
            "group_id": "g1",
            "member_id": f"u{i % 40}",
            "action": "join" if i % 5 else "leave",
            "ts": f"2026-11-11T10:0{i % 7}:00+08:00",
        }
        for i in range(100)
    ]
    events += [
        {"type": "message", "message_id": f"x{i}", "group_id": "g1", "member_id": f"u{i % 25}"}
        for i in range(50)
    ]
    res = await harness.post_events("sale", c["ingest_token"], events)
    assert res.json()["accepted"] == len(events)
    await harness.drain()
    before = await harness.snapshot("sale", c["viewer_token"])
    await harness.runtime.redis.flushdb()
    lost = await harness.snapshot("sale", c["viewer_token"])
    assert lost["restoring"] is True and before["restoring"] is False
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "warroom.cli", "rebuild", "sale"],
        env=child_env(harness),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"from {len(events)} ledger events" in proc.stdout
    after = await harness.snapshot("sale", c["viewer_token"])
    before.pop("campaign"), after.pop("campaign")
    assert after == before
    # The stream goes on after a rebuild: new events count, old ones are not doubled.
    await harness.post_events("sale", c["ingest_token"], many_orders(1, start=5000))
    await harness.drain()
    assert (await harness.snapshot("sale", c["viewer_token"]))["totals"]["orders"] == 401


async def test_worker_start_restores_lost_hot_state(harness: Harness) -> None:
    c = await harness.create_campaign()
    await harness.post_events("sale", c["ingest_token"], many_orders(50))
    await harness.drain()
    before = await harness.snapshot("sale", c["viewer_token"])
    await harness.runtime.redis.flushdb()
    rt = harness.runtime
    assert await restore_lost(rt.store, rt.hot, rt.stream) == ["sale"]
    assert await restore_lost(rt.store, rt.hot, rt.stream) == []
    after = await harness.snapshot("sale", c["viewer_token"])
    assert after["totals"] == before["totals"]
    assert after["leaderboards"] == before["leaderboards"]


async def test_trim_keeps_unacknowledged_entries(harness: Harness) -> None:
    c = await harness.create_campaign()
    for i in range(5):
        await harness.post_events("sale", c["ingest_token"], many_orders(1, start=i))
    stream = harness.runtime.stream
    r = harness.runtime.redis
    # Another consumer read two entries and died holding them.
    await stream.read(["sale"], "dead-consumer", 2, None)
    await stream.trim("sale")
    assert await r.xlen(keys.stream("sale")) == 5  # nothing acknowledged: nothing trimmed
    await harness.drain()  # the two are not idle yet: still pending with the dead consumer
    await stream.trim("sale")
    assert await r.xlen(keys.stream("sale")) >= 2
    await asyncio.sleep(0.3)
    await harness.drain()  # now reclaimed and applied
    await stream.trim("sale")
    assert await r.xlen(keys.stream("sale")) <= 1
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert snap["totals"]["orders"] == 5


async def test_two_and_three_workers_match_one(harness: Harness) -> None:
    events = many_orders(1500) + [
        {
            "type": "refund",
            "refund_id": f"r{i}",
            "order_id": f"o{i * 7}",
            "amount_fen": 300,
            "ts": "2026-11-11T10:01:00+08:00",
        }
        for i in range(100)
    ]
    results = []
    for n, workers in enumerate((1, 2, 3)):
        slug = f"w{workers}"
        c = await harness.create_campaign(slug=slug)
        for i in range(0, len(events), 20):
            await harness.post_events(slug, c["ingest_token"], events[i : i + 20])
        await harness.drain_with(workers)
        snap = await harness.snapshot(slug, c["viewer_token"])
        results.append(comparable(snap))
        assert n == 0 or results[n] == results[0]
    assert results[0] == reference(events)
