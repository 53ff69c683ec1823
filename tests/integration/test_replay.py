"""Time travel against a real `warroom web` process, Redis and database: a finished
campaign recorded through the ingest API, replayed over the socket at high speed, frame
by frame against a plain recomputation from the events; refusals (live campaign, bad
speeds, wrong token, the per-process cap); one ledger scan for many viewers; no task
left behind a viewer that leaves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
from websockets.exceptions import InvalidStatus

from tests.browser.live import Stack, WsClient, fresh_settings, live_stack, ws_url
from tests.conftest import ADMIN
from tests.review_day import MIN, generate_day
from tests.unit.test_replay import HOSTILE, recompute

pytestmark = pytest.mark.asyncio(loop_scope="module")
SPEED = 300  # five campaign minutes a second: a 40-minute sale in about 8 s
CAP = 4


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    redis_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("replay")
    settings = fresh_settings(redis_url, database_url, tmp)
    env = {"WARROOM_REPLAY_MAX_VIEWERS": str(CAP)}
    async with live_stack(settings, tmp, env=env) as s:
        yield s


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


async def finished_day(stack: Stack, slug: str) -> tuple[dict[str, str], list[dict[str, Any]], int]:
    """A 40-minute sale that ended three hours ago, recorded through the ingest API,
    with one report and one stimulus fire in SQL."""
    now = int(time.time() * 1000)
    starts = now - now % MIN - 3 * 60 * MIN
    ends = starts + 40 * MIN
    c = await stack.create_campaign(slug=slug, starts_at=starts, ends_at=ends,
                                    target_base_fen=3_000_000, target_stretch_fen=6_000_000)  # fmt: skip
    events = generate_day(starts, ends)
    events.append({"type": "order", "order_id": "evil", "amount_fen": 99_999, "seller_id": "s-evil",
                   "seller_name": HOSTILE[0], "group_id": "g0", "product_id": "p0",
                   "buyer_id": "b-evil", "ts": starts + 7 * MIN})  # fmt: skip
    for i in range(0, len(events), 200):
        await stack.post(slug, c["ingest_token"], events[i : i + 200])
    for e in events:  # the ledger's identity key, as the recomputation reads it
        if e["type"] == "member":
            e.setdefault("key", f"member:{e['event_id']}")
    rt = stack.runtime
    record = rt.store.get_campaign(slug)
    rt.reports.claim_report(record.id, "m:1", "milestone", starts + 12 * MIN + 30_000,
                            "🎉 突破 ¥1万 <b>团长</b>", "{}")  # fmt: skip
    rt.reports.claim_fire(campaign_id=record.id, key="f:1", rule="午后红包雨", kind="red_packet_rain",
                          at_ms=starts + 20 * MIN, amount_fen=50_000, text="红包雨来了")  # fmt: skip
    return c, events, starts


async def closed(v: WsClient, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while v._ws.close_code is None:
        assert time.monotonic() < deadline, "the socket did not close"
        await asyncio.sleep(0.05)
    return int(v._ws.close_code)


def as_of(frame: dict[str, Any]) -> int:
    return ms(frame["replay"]["as_of"])


async def test_replay_frames_follow_the_ledger_to_the_end(stack: Stack) -> None:
    c, events, starts = await finished_day(stack, "done")
    url = ws_url(stack.web, "done", c["viewer_token"], f"&replay={SPEED}")
    async with WsClient(url) as v:
        last = await v.wait_for(lambda f: f.get("replay", {}).get("state") == "ended", timeout=90)
        assert await closed(v) == 1000
    frames = v.frames
    assert frames[0]["type"] == "snapshot" and frames[0]["replay"]["speed"] == SPEED
    assert frames[0]["campaign"]["time_scale"] == SPEED  # the page's clock runs at N×
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    figures = [f for f in frames if "replay" in f]
    instants = [as_of(f) for f in figures]
    assert instants == sorted(instants), "frames go forward in virtual time"
    assert [ms(f["replay"]["at"]) for f in figures] == sorted(
        ms(f["replay"]["at"]) for f in figures
    )
    assert all(f["fresh"]["ingest_idle_ms"] is None for f in figures)  # no quiet warning

    # the end: everything in the ledger
    want = recompute(events, 10**15)["totals"]
    for k in ("gmv_fen", "refund_fen", "net_gmv_fen", "orders", "buyers"):
        assert last["totals"][k] == want[k], k
    assert last is figures[-1] and frames[-1]["type"] in ("update", "report", "stimulus")

    # an intermediate frame: the totals as of its instant
    middle = [f for f in figures if starts + 10 * MIN <= as_of(f) <= starts + 30 * MIN]
    assert len(middle) >= 5, instants
    for f in (middle[0], middle[len(middle) // 2], middle[-1]):
        want = recompute(events, as_of(f))["totals"]
        assert {k: f["totals"][k] for k in want} == want, f["replay"]

    # reports and fires only once the replay has passed their time, each once
    shown_as_of = None
    seen: list[tuple[str, int]] = []
    for f in frames:
        if "replay" in f:
            shown_as_of = as_of(f)
        elif f["type"] in ("report", "stimulus"):
            item = f[f["type"]]
            assert shown_as_of is not None and ms(item["at"]) < shown_as_of, f
            seen.append((f["type"], item["id"]))
    assert [k for k, _ in seen] == ["report", "stimulus"], seen
    report = next(f["report"] for f in frames if f["type"] == "report")
    assert report["text"] == "🎉 突破 ¥1万 <b>团长</b>"  # verbatim: the page escapes
    assert any(
        r["name"] == HOSTILE[0]
        for f in figures
        for r in f.get("leaderboards", {}).get("sellers", [])
    )


async def test_many_viewers_share_one_scan_and_leave_nothing_behind(stack: Stack) -> None:
    c, _events, _ = await finished_day(stack, "share")
    before = (await asyncio.to_thread(stack.web.stats))["replay_builds"]
    url = ws_url(stack.web, "share", c["viewer_token"], "&replay=1")  # slow: they stay
    viewers = [WsClient(url) for _ in range(CAP)]
    for v in viewers:
        await v.__aenter__()
    try:
        for v in viewers:
            await v.wait_for(lambda f: f["type"] == "snapshot", timeout=30)
        stats = await asyncio.to_thread(stack.web.stats)
        assert stats["replays"] == CAP and stats["replay_builds"] == before + 1
        async with WsClient(url) as extra:  # over the cap: refused with a reason
            assert await closed(extra) == 4429
    finally:
        for v in viewers:
            await v.__aexit__(None, None, None)
    deadline = time.monotonic() + 20
    while (await asyncio.to_thread(stack.web.stats))["replays"]:
        assert time.monotonic() < deadline, "a replay task outlived its viewer"
        await asyncio.sleep(0.1)


async def test_refusals(stack: Stack) -> None:
    c = await stack.create_campaign(slug="live")  # opened an hour ago, six hours to go
    done, _events, _ = await finished_day(stack, "over")
    async with httpx.AsyncClient(base_url=stack.web.url, timeout=30) as http:
        res = await http.get(f"/c/live?token={c['viewer_token']}&replay=60")
        assert res.status_code == 409 and "还没收官" in res.text
        for bad in ("nan", "inf", "-60", "abc", "0", "601", "1e2", ""):
            res = await http.get(f"/c/over?token={done['viewer_token']}&replay={bad}")
            assert res.status_code == 400 and "回放速度" in res.text, bad
        res = await http.get("/c/over?token=wrong&replay=60")
        assert res.status_code == 401
        res = await http.get(f"/c/over?token={done['viewer_token']}&replay=60")
        assert res.status_code == 200
        assert 'id="replay-badge"' in res.text and "回放 60×" in res.text
        assert 'id="live-tag"' not in res.text and 'id="cold-groups"' not in res.text
        res = await http.get(f"/c/over/review?token={done['viewer_token']}")
        assert "▶ 回放 60×" in res.text and "replay=60" in res.text
        res = await http.get(f"/c/live/review?token={c['viewer_token']}")
        assert 'id="replay-link"' not in res.text
    async with WsClient(ws_url(stack.web, "live", c["viewer_token"], "&replay=60")) as v:
        assert await closed(v) == 4409
    for bad in ("nan", "-1", "x"):
        async with WsClient(ws_url(stack.web, "over", done["viewer_token"], f"&replay={bad}")) as v:
            assert await closed(v) == 4400
    with pytest.raises(InvalidStatus) as err:
        async with WsClient(ws_url(stack.web, "over", "wrong", "&replay=60")):
            pass
    assert err.value.response.status_code == 401
    assert orjson.loads(err.value.response.body)["error"]


async def test_a_rotated_viewer_token_closes_a_playing_replay(stack: Stack) -> None:
    """As live sockets do: a replay opened with the old token stops at once (it kept
    playing to its end, 15 s and more, after the rotation)."""
    done, _events, _ = await finished_day(stack, "rotated")
    url = ws_url(stack.web, "rotated", done["viewer_token"], "&replay=1")  # minutes long
    async with WsClient(url) as v:
        await v.wait_for(lambda f: f["type"] == "snapshot", timeout=30)
        res = await stack.client.post(
            "/api/v1/campaigns/rotated/tokens/rotate",
            json={"which": "viewer"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert res.status_code == 200, res.text
        assert await closed(v, timeout=10) == 4401
