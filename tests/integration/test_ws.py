"""The dashboard WebSocket against a real `warroom web` process, Redis and database:
admission (token, Origin), the frame protocol (snapshot, then update/report/stimulus
with a rising seq), coalescing, resync on request, and a pub/sub blip."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from websockets.exceptions import InvalidStatus

from tests.browser.live import Stack, WsClient, fresh_settings, live_stack, order, ws_url

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    redis_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("ws")
    settings = fresh_settings(redis_url, database_url, tmp)
    async with live_stack(settings, tmp, env={"WARROOM_WS_FRAMES_PER_S": "2"}) as s:
        yield s


async def campaign(stack: Stack, slug: str, **kw: object) -> dict[str, str]:
    return await stack.create_campaign(slug=slug, **kw)


async def test_snapshot_first_then_updates_with_rising_seq(stack: Stack) -> None:
    c = await campaign(stack, "seq")
    await stack.post("seq", c["ingest_token"], [order("a1", 1000, "s1", seller_name="阿芳")])
    await stack.settle("seq", c["viewer_token"], 1000)
    async with WsClient(ws_url(stack.web, "seq", c["viewer_token"])) as v:
        first = await v.wait_for(lambda f: True)
        assert first["type"] == "snapshot"
        assert first["totals"]["gmv_fen"] == 1000
        assert first["leaderboards"]["sellers"][0]["name"] == "阿芳"
        assert {"campaign", "target", "per_minute", "velocity", "reports", "stimuli"} <= set(first)
        assert first["fresh"]["lag_ms"] is not None
        await stack.post("seq", c["ingest_token"], [order("a2", 2500, "s2", seller_name="老周")])
        upd = await v.wait_for(lambda f: f["type"] == "update" and f["totals"]["gmv_fen"] == 3500)
        assert upd["seq"] > first["seq"]
        assert [r["id"] for r in upd["leaderboards"]["sellers"]] == ["s2", "s1"]
        assert upd["per_minute"], "the changed minute travels with the update"
        assert "now" in upd and "fresh" in upd
        seqs = [f["seq"] for f in v.frames]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs


async def test_report_and_stimulus_frames(stack: Stack) -> None:
    c = await campaign(stack, "feed")
    async with WsClient(ws_url(stack.web, "feed", c["viewer_token"])) as v:
        await v.wait_for(lambda f: f["type"] == "snapshot")
        await stack.push_report("feed", 1, "🎉 突破 ¥10万！")
        rep = await v.wait_for(lambda f: f["type"] == "report")
        assert rep["report"] == {
            "id": 1,
            "kind": "milestone",
            "at": rep["report"]["at"],
            "text": "🎉 突破 ¥10万！",
        }
        await stack.push_stimulus("feed", 7, "整点红包雨")
        stim = await v.wait_for(lambda f: f["type"] == "stimulus")
        assert stim["stimulus"]["id"] == 7 and stim["stimulus"]["text"] == "整点红包雨"
        assert stim["seq"] > rep["seq"]
        upd = await v.wait_for(lambda f: f["type"] == "update" and "stimuli" in f)
        assert [s["id"] for s in upd["stimuli"]] == [7]
    # A new viewer finds both in its snapshot, not as frames.
    async with WsClient(ws_url(stack.web, "feed", c["viewer_token"])) as late:
        snap = await late.wait_for(lambda f: f["type"] == "snapshot")
        assert [r["id"] for r in snap["reports"]] == [1]
        assert [s["id"] for s in snap["stimuli"]] == [7]
        await asyncio.sleep(0.8)
        assert not late.of_type("report") and not late.of_type("stimulus")


async def test_updates_are_coalesced(stack: Stack) -> None:
    c = await campaign(stack, "burst")
    async with WsClient(ws_url(stack.web, "burst", c["viewer_token"])) as v:
        await v.wait_for(lambda f: f["type"] == "snapshot")
        started = time.monotonic()
        for i in range(30):  # ~10 posts a second for 3 s
            await stack.post("burst", c["ingest_token"], [order(f"b{i}", 100, "s1")])
            await asyncio.sleep(0.1)
        await v.wait_for(lambda f: f["type"] == "update" and f["totals"]["gmv_fen"] == 3000)
        elapsed = time.monotonic() - started
        updates = v.of_type("update")
        # 2 frames/s: a leading frame plus at most one per half second.
        assert len(updates) <= elapsed * 2 + 2, (len(updates), elapsed)
        assert len(updates) >= 3


async def test_viewer_token_required(stack: Stack) -> None:
    c = await campaign(stack, "auth")
    for url, status in (
        (ws_url(stack.web, "auth", "wrong"), 401),
        (ws_url(stack.web, "auth", ""), 401),
        (ws_url(stack.web, "auth", c["ingest_token"]), 401),
        (ws_url(stack.web, "nope", c["viewer_token"]), 401),  # as a wrong token
        (ws_url(stack.web, "auth", "test-admin-token"), 401),  # admin: header only
    ):
        with pytest.raises(InvalidStatus) as err:
            async with WsClient(url):
                pass
        assert err.value.response.status_code == status
        assert b'"error"' in err.value.response.body
    admin_header = {"Authorization": "Bearer test-admin-token"}
    async with WsClient(ws_url(stack.web, "auth", ""), additional_headers=admin_header) as admin:
        assert (await admin.wait_for(lambda f: True))["type"] == "snapshot"


async def test_origin_is_checked(stack: Stack) -> None:
    c = await campaign(stack, "origin")
    url = ws_url(stack.web, "origin", c["viewer_token"])
    with pytest.raises(InvalidStatus) as err:
        async with WsClient(url, origin="http://evil.example"):
            pass
    assert err.value.response.status_code == 403
    own = f"http://127.0.0.1:{stack.web.port}"
    async with WsClient(url, origin=own) as v:  # the page's own host
        assert (await v.wait_for(lambda f: True))["type"] == "snapshot"
    async with WsClient(url) as v:  # not a browser: no Origin
        assert (await v.wait_for(lambda f: True))["type"] == "snapshot"


async def test_resync_on_request_and_lite_snapshot(stack: Stack) -> None:
    c = await campaign(stack, "resync")
    await stack.post("resync", c["ingest_token"], [order("r1", 900, "s1")])
    await stack.settle("resync", c["viewer_token"], 900)
    async with WsClient(ws_url(stack.web, "resync", c["viewer_token"], "&lite=1")) as v:
        first = await v.wait_for(lambda f: f["type"] == "snapshot")
        assert "per_minute" not in first and first["totals"]["gmv_fen"] == 900
        await v.send('{"type": "resync"}')
        await v.send("not json")  # ignored
        again = await v.wait_for(lambda f: f["type"] == "snapshot" and f is not first)
        assert again["seq"] >= first["seq"] and again["totals"]["gmv_fen"] == 900


async def test_updates_survive_a_pubsub_blip(stack: Stack) -> None:
    """Kill every pub/sub connection (as a network blip would): the hub resubscribes
    and the screens keep updating."""
    c = await campaign(stack, "blip")
    async with WsClient(ws_url(stack.web, "blip", c["viewer_token"])) as v:
        await v.wait_for(lambda f: f["type"] == "snapshot")
        r = aioredis.Redis.from_url(str(stack.settings.redis_url))
        try:
            killed = await r.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        finally:
            await r.aclose()
        assert killed >= 1
        await asyncio.sleep(1.0)
        await stack.post("blip", c["ingest_token"], [order("x1", 4200, "s1")])
        await v.wait_for(
            lambda f: f["type"] == "update" and f["totals"]["gmv_fen"] == 4200, timeout=6
        )
    stats = await asyncio.to_thread(stack.web.stats)
    assert stats["subscribed"] and stats["resubscribes"] >= 1


async def test_freshness_is_the_age_of_what_the_workers_have_not_applied(stack: Stack) -> None:
    """A stream the aggregator does not watch, driven by hand: unread and pending
    entries make the screens late by their age; caught up, by the last apply's delay."""
    from warroom.adapters.hub.freshness import pipeline_lag_ms
    from warroom.adapters.redis import keys

    r = stack.runtime.redis
    await stack.runtime.stream.ensure_group("lagx")  # not registered: no worker reads it
    now = int(time.time() * 1000)
    assert await pipeline_lag_ms(r, "lagx", now, None) == (0, 0, None)
    await r.xadd(keys.stream("lagx"), {"e": b"[]"}, id=f"{now - 3000}-0")
    assert await pipeline_lag_ms(r, "lagx", now, None) == (3000, 3000, now - 3000)  # unread
    got = await r.xreadgroup(keys.AGG_GROUP, "t", {keys.stream("lagx"): ">"}, count=1)
    assert await pipeline_lag_ms(r, "lagx", now + 500, None) == (
        3500,
        3500,
        now - 3000,
    )  # not applied
    await r.xack(keys.stream("lagx"), keys.AGG_GROUP, got[0][1][0][0])
    assert await pipeline_lag_ms(r, "lagx", now, now - 2960) == (
        40,
        0,
        now - 3000,
    )  # landed 40 ms after
    assert await pipeline_lag_ms(r, "nostream", now, None) == (0, 0, None)
