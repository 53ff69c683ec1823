"""Warroom on a real 3-node Redis Cluster (WARROOM_REDIS_CLUSTER=true): several
campaigns on different slots, two web processes with viewers on each, a wipe of every
node healed, a rebuild. Figures are compared with a plain recomputation."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.browser.live import Stack, WsClient, live_stack, ws_url
from tests.conftest import clean_settings
from tests.integration.test_resilience import many_orders
from tests.redis_cluster import LocalCluster
from tests.reference import reference
from warroom.adapters.redis import keys
from warroom.workers.rebuild import Restorer, rebuild

pytestmark = pytest.mark.asyncio(loop_scope="module")

SLUGS = ("alpha", "bravo", "charlie")  # three hash tags: spread over the nodes


def orders_now(n: int, start: int = 0) -> list[dict[str, Any]]:
    """Orders stamped on arrival (the live campaigns here opened an hour ago)."""
    return [{k: v for k, v in e.items() if k != "ts"} for e in many_orders(n, start)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("cluster")) as c:
        yield c


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    cluster: LocalCluster, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("cluster-stack")
    cluster.flushall()
    settings = clean_settings(cluster.url, database_url, tmp, warroom_redis_cluster=True)
    env = {"WARROOM_REDIS_CLUSTER": "true", "WARROOM_WS_FRAMES_PER_S": "4"}
    async with live_stack(settings, tmp, webs=2, env=env) as s:
        yield s


def summary(snap: dict[str, Any]) -> dict[str, Any]:
    """Totals and leaderboards (events are stamped on arrival, so minutes and the
    recent-minute ranks are the live clock's; the per-minute rows are checked in
    test_scale_out.py, which stamps its events)."""
    t = dict(snap["totals"])
    boards = {
        b: [{k: r[k] for k in ("id", "net_gmv_fen", "orders", "rank")} for r in rows]
        for b, rows in snap["leaderboards"].items()
    }
    return {"totals": t, "boards": boards}


async def snapshot(stack: Stack, slug: str, token: str) -> dict[str, Any]:
    assert stack.client is not None
    res = await stack.client.get(
        f"/api/v1/campaigns/{slug}/snapshot", headers={"Authorization": f"Bearer {token}"}
    )
    assert res.status_code == 200, res.text
    return res.json()


async def wait_exact(
    stack: Stack, slug: str, token: str, events: list[dict[str, Any]], timeout: float = 60
) -> dict[str, Any]:
    want = summary(reference([{**e, "ts": 0} for e in events]))
    deadline = time.monotonic() + timeout
    while True:
        snap = await snapshot(stack, slug, token)
        if not snap["restoring"] and summary(snap) == want:
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"{slug} not exact after {timeout} s: {snap['totals']}")
        await asyncio.sleep(0.1)


async def test_campaigns_on_many_slots_across_two_web_processes(stack: Stack) -> None:
    slots = {await stack.runtime.redis.cluster_keyslot(keys.generation(s)) for s in SLUGS}
    assert len(slots) == 3
    nodes = {stack.runtime.redis.get_node_from_key(keys.generation(s)).name for s in SLUGS}
    assert len(nodes) >= 2, "the campaigns must not all live on one node"
    created = {s: await stack.create_campaign(slug=s) for s in SLUGS}
    events = {s: orders_now(300, start=i * 1000) for i, s in enumerate(SLUGS)}
    viewers = [
        WsClient(ws_url(web, "alpha", created["alpha"]["viewer_token"])) for web in stack.webs
    ]
    async with contextlib.AsyncExitStack() as ctx:
        for v in viewers:
            await ctx.enter_async_context(v)
        for v in viewers:
            await v.wait_for(lambda f: f["type"] == "snapshot", timeout=30)
        # Alternate the two web processes for ingest.
        async with httpx.AsyncClient(timeout=30) as client:
            for s in SLUGS:
                for n, i in enumerate(range(0, 300, 30)):
                    web = stack.webs[n % 2]
                    res = await client.post(
                        f"{web.url}/api/v1/campaigns/{s}/events",
                        json=events[s][i : i + 30],
                        headers={"Authorization": f"Bearer {created[s]['ingest_token']}"},
                    )
                    assert res.status_code == 202, res.text
                    assert res.json()["accepted"] == 30
        for s in SLUGS:
            await wait_exact(stack, s, created[s]["viewer_token"], events[s])
        gmv = reference([{**e, "ts": 0} for e in events["alpha"]])["totals"]["gmv_fen"]
        for v in viewers:  # every viewer on either web process sees the final figures
            await v.wait_for(lambda f, g=gmv: f.get("totals", {}).get("gmv_fen") == g, 60)
        # A report pushed once reaches each viewer once (pub/sub across the cluster).
        await stack.push_report("alpha", 77, "🎉 集群战报")
        for v in viewers:
            await v.wait_for(lambda f: f["type"] == "report" and f["report"]["id"] == 77, 60)
        await asyncio.sleep(1.0)
        for v in viewers:
            got = [f for f in v.of_type("report") if f["report"]["id"] == 77]
            assert len(got) == 1


async def test_wipe_of_every_node_heals_and_rebuild_is_exact(
    stack: Stack, cluster: LocalCluster
) -> None:
    c = await stack.create_campaign(slug="delta")
    events = orders_now(400, start=50_000)
    await stack.post("delta", c["ingest_token"], events)
    await wait_exact(stack, "delta", c["viewer_token"], events)
    rt = stack.runtime
    stop = asyncio.Event()
    restorer = Restorer(rt.store, rt.hot, rt.stream, rt.announcer.restore_feeds, interval_s=0.5)
    task = asyncio.create_task(restorer.run(stop))
    try:
        cluster.flushall()
        more = orders_now(100, start=60_000)
        await stack.post("delta", c["ingest_token"], more)
        await wait_exact(stack, "delta", c["viewer_token"], events + more)
    finally:
        stop.set()
        await task
    assert "delta" in restorer.restored
    replayed = await rebuild(rt.store, rt.hot, rt.stream, "delta", rt.announcer.restore_feeds)
    assert replayed == len(events) + len(more)
    await wait_exact(stack, "delta", c["viewer_token"], events + more)


async def test_announcements_and_a_scrape_span_the_slots(stack: Stack) -> None:
    """The append script's announcement is heard across nodes, and the scrape's batched
    watermark (MGET split by slot, pipelines over many slots) answers exactly what the
    one-campaign watermark does."""
    from warroom.adapters.redis.appended import Appended

    rt = stack.runtime
    slugs = ("echo", "foxtrot", "golf", "hotel")
    nodes = {rt.redis.get_node_from_key(keys.generation(s)).name for s in slugs}
    assert len(nodes) >= 2, "the campaigns must not all live on one node"
    made = {s: await stack.create_campaign(slug=s) for s in slugs}
    ear = Appended(rt.redis)
    try:
        assert await ear.wait(0) is None  # a new subscription: nothing known before it
        for i, s in enumerate(slugs):
            await stack.post(s, made[s]["ingest_token"], orders_now(5, start=70_000 + i * 10))
        heard: set[str] = set()
        deadline = time.monotonic() + 60
        while not set(slugs) <= heard:
            assert time.monotonic() < deadline, f"announcements heard: {heard}"
            heard |= await ear.wait(1.0) or set()
    finally:
        await ear.close()
    for i, s in enumerate(slugs):
        await wait_exact(stack, s, made[s]["viewer_token"], orders_now(5, start=70_000 + i * 10))
    # applied, then acknowledged: wait for the acknowledgements too
    deadline = time.monotonic() + 60
    while (pending := await rt.stream.pending_events(list(slugs))) != dict.fromkeys(slugs, 0):
        assert time.monotonic() < deadline, f"still pending: {pending}"
        await asyncio.sleep(0.1)
    records = [await rt.campaigns.get(s) for s in slugs]
    now = rt.vitals.clock.now_ms()
    alone = [
        (await rt.vitals.watermark.settled_ms(r, now), await rt.hot.restoring(r.settings.slug))
        for r in records
    ]
    assert await rt.vitals.watermark.settled_many(records, now) == alone
    assert await rt.vitals.watermark.settled_many(records, now, pending) == alone
    assert all(settled is not None and not restoring for settled, restoring in alone)
