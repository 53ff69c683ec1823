"""Reports and stimuli end to end on a rehearsal clock (time_scale 60: a campaign
minute per real second), with the real aggregator and trigger loops running."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import ADMIN, Harness
from warroom.workers.aggregator import Aggregator
from warroom.workers.triggers import Triggers

RULE = {
    "name": "红包雨",
    "metric": "gmv_per_min",
    "window_minutes": 3,
    "below_peak_ratio": 0.5,
    "sustain_minutes": 1,
    "cooldown_minutes": 30,
    "max_fires": 3,
    "action": {"kind": "red_packet_rain", "amount_fen": 200_000, "text": "🧧红包雨来了！"},
}


@contextlib.asynccontextmanager
async def loops(h: Harness) -> AsyncIterator[None]:
    rt = h.runtime
    stop = asyncio.Event()
    agg = Aggregator(rt.hot, rt.stream, consumer="e2e", block_ms=50)
    trig = Triggers(rt.store, rt.hot, rt.reports, rt.announcer)
    tasks = [asyncio.create_task(agg.run(stop)), asyncio.create_task(trig.run(stop, every_s=0.1))]
    try:
        yield
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def live() -> dict[str, int]:
    now_ms = int(time.time() * 1000)
    return {"starts_at": now_ms - 3_600_000, "ends_at": now_ms + 6 * 3_600_000}


def order(i: int, amount: int = 50_000) -> dict[str, Any]:
    return {
        "type": "order",
        "order_id": f"o{i}",
        "amount_fen": amount,
        "seller_id": f"s{i % 3}",
        "group_id": "g1",
        "buyer_id": f"b{i}",
        "product_id": "p1",
    }


async def sell(h: Harness, token: str, start: int, seconds: float) -> int:
    i = start
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await h.post_events("sale", token, [order(i), order(i + 1)])
        i += 2
        await asyncio.sleep(0.05)
    return i


async def reports(h: Harness, c: dict[str, str]) -> list[dict[str, Any]]:
    res = await h.client.get("/api/v1/campaigns/sale/reports", params={"token": c["viewer_token"]})
    assert res.status_code == 200
    return res.json()


async def stimuli(h: Harness, c: dict[str, str]) -> list[dict[str, Any]]:
    res = await h.client.get("/api/v1/campaigns/sale/stimuli", params={"token": c["viewer_token"]})
    return res.json()


async def wait_for(pred: Any, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if await pred():
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_silence_fires_one_red_packet_rain_then_cooldown_then_uplift(
    harness: Harness,
) -> None:
    now_ms = int(time.time() * 1000)
    c = await harness.create_campaign(
        starts_at=now_ms,
        ends_at=now_ms + 7 * 3600 * 1000,
        time_scale=60,
        milestones_fen=[],
        target_base_fen=10**10,
        target_stretch_fen=10**10,
        report_every_minutes=60,
        stimulus_rules=[RULE],
        stimulus_budget_fen=1_500_000,
    )
    async with loops(harness):
        i = await sell(harness, c["ingest_token"], 0, 4.0)  # brisk: campaign minutes 0-3
        silence_began = time.monotonic()

        async def fired() -> bool:
            return len(await stimuli(harness, c)) >= 1

        await wait_for(fired, 8.0)
        assert time.monotonic() - silence_began < 6.0  # within a few campaign minutes
        fires = await stimuli(harness, c)
        assert len(fires) == 1
        fire = fires[0]
        assert (fire["rule"], fire["kind"], fire["amount_fen"]) == (
            "红包雨",
            "red_packet_rain",
            200_000,
        )
        assert fire["uplift"] is None

        # The fire is claimed first, its report and the screens' feed follow at once.
        async def announced() -> bool:
            snap = await harness.snapshot("sale", c["viewer_token"])
            kinds = [r["kind"] for r in await reports(harness, c)]
            return "stimulus" in kinds and bool(snap["stimuli"])

        await wait_for(announced, 3.0)
        texts = [r for r in await reports(harness, c) if r["kind"] == "stimulus"]
        assert len(texts) == 1 and "红包雨" in texts[0]["text"]
        snap = await harness.snapshot("sale", c["viewer_token"])
        assert snap["stimuli"][0]["id"] == fire["id"]

        # Silence goes on: the cooldown (30 campaign minutes) holds the next one back.
        await asyncio.sleep(3.0)
        assert len(await stimuli(harness, c)) == 1

        # Sales resume: once the after-window closes, the fire is scored.
        await sell(harness, c["ingest_token"], i, 4.5)

        async def scored() -> bool:
            return (await stimuli(harness, c))[0]["uplift"] is not None

        await wait_for(scored, 6.0)
        assert (await stimuli(harness, c))[0]["uplift"] > 0
        assert len(await stimuli(harness, c)) == 1


async def test_three_trigger_workers_post_each_milestone_once(harness: Harness) -> None:
    c = await harness.create_campaign(
        **live(),
        milestones_fen=[100_000, 200_000, 300_000],
        target_base_fen=400_000,
        target_stretch_fen=10**9,
    )
    await harness.post_events("sale", c["ingest_token"], [order(k, 100_000) for k in range(5)])
    await harness.drain()
    rt = harness.runtime
    workers = [Triggers(rt.store, rt.hot, rt.reports, rt.announcer) for _ in range(3)]
    for _ in range(3):
        await asyncio.gather(*(w.tick() for w in workers))
    kinds = [(r["kind"], r["text"].splitlines()[0]) for r in await reports(harness, c)]
    milestone = [k for k in kinds if k[0] == "milestone"]
    assert len(milestone) == 3
    assert [k[0] for k in kinds].count("target_base") == 1
    feed = await rt.hot.read_feed("sale", "reports")
    assert len(feed) == len(kinds)  # pushed to screens once each


async def test_a_fire_whose_report_was_never_posted_is_announced_once(harness: Harness) -> None:
    """A process died between claiming a fire and posting its report: the next tick
    posts it, to the reports and the screens' feeds, exactly once."""
    c = await harness.create_campaign(**live(), stimulus_rules=[RULE])
    rt = harness.runtime
    record = await rt.campaigns.get("sale")
    assert record is not None
    claim = rt.reports.claim_fire(
        campaign_id=record.id, key="fire:红包雨:1", rule="红包雨", kind="red_packet_rain",
        metric="gmv_per_min", window_minutes=2, at_ms=int(time.time() * 1000),
        amount_fen=200_000, text="整点红包雨", manual=False,
    )  # fmt: skip
    assert claim.won and await reports(harness, c) == []
    workers = [Triggers(rt.store, rt.hot, rt.reports, rt.announcer) for _ in range(3)]
    for _ in range(2):
        await asyncio.gather(*(w.tick() for w in workers))
    posted = [r for r in await reports(harness, c) if r["kind"] == "stimulus"]
    assert len(posted) == 1 and "整点红包雨" in posted[0]["text"]
    feed = await rt.hot.read_feed("sale", "reports")
    assert [r["id"] for r in feed if r["kind"] == "stimulus"] == [posted[0]["id"]]
    assert [f["id"] for f in await rt.hot.read_feed("sale", "stimuli")] == [claim.id]


async def test_manual_fire_budget_and_auth(harness: Harness) -> None:
    c = await harness.create_campaign(stimulus_rules=[RULE], stimulus_budget_fen=300_000)
    url = "/api/v1/campaigns/sale/stimuli"
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert (await harness.client.post(url, json={"rule": "红包雨"})).status_code == 401
    res = await harness.client.post(url, json={"rule": "红包雨"}, headers=admin)
    assert res.status_code == 201, res.text
    assert res.json()["amount_fen"] == 200_000 and res.json()["manual"] is True
    res = await harness.client.post(url, json={"rule": "红包雨"}, headers=admin)
    assert res.status_code == 409 and "budget" in res.json()["error"]
    res = await harness.client.post(
        url, json={"kind": "announcement", "text": "📣 满2件送1件", "amount_fen": 0}, headers=admin
    )
    assert res.status_code == 201
    res = await harness.client.post(url, json={"rule": "nope"}, headers=admin)
    assert res.status_code == 422
    res = await harness.client.post(
        url, json={"kind": "announcement", "amount_fen": -5, "text": "x"}, headers=admin
    )
    assert res.status_code == 422
    assert len(await stimuli(harness, c)) == 2
    assert [r["kind"] for r in await reports(harness, c)] == ["stimulus", "stimulus"]


@pytest.mark.parametrize(
    ("source", "status", "needle"),
    [
        ("{% if %}", 422, "语法"),
        ("{{ ''.__class__.__mro__ }}", 422, ""),
        ("{{ no_such_figure }}", 422, "no_such_figure"),
        ("{{ milestone.amount }}", 422, "amount"),
        ("🎉 破 {{ milestone }} 啦！GMV {{ gmv }}", 200, ""),
    ],
)
async def test_template_override_checked_at_save(
    harness: Harness, source: str, status: int, needle: str
) -> None:
    c = await harness.create_campaign(**live(), milestones_fen=[100_000])
    admin = {"Authorization": f"Bearer {ADMIN}"}
    res = await harness.client.put(
        "/api/v1/campaigns/sale/templates/milestone", json={"source": source}, headers=admin
    )
    assert res.status_code == status, res.text
    assert needle in res.text
    await harness.post_events("sale", c["ingest_token"], [order(1, 150_000)])
    await harness.drain()
    rt = harness.runtime
    await Triggers(rt.store, rt.hot, rt.reports, rt.announcer).tick()
    text = next(r["text"] for r in await reports(harness, c) if r["kind"] == "milestone")
    if status == 200:
        assert text == "🎉 破 ¥1,000 啦！GMV ¥1,500"
    else:
        assert "no_such_figure" not in text and "__class__" not in text


async def test_silent_campaign_still_gets_scheduled_top_and_final_reports(harness: Harness) -> None:
    now_ms = int(time.time() * 1000)
    c = await harness.create_campaign(
        starts_at=now_ms,
        ends_at=now_ms + 60 * 60_000,  # one campaign hour
        time_scale=1200,  # 20 campaign minutes per real second
        milestones_fen=[],
        report_every_minutes=30,
    )
    async with loops(harness):

        async def final() -> bool:
            return any(r["kind"] == "final" for r in await reports(harness, c))

        await wait_for(final, 10.0)
        await asyncio.sleep(0.5)  # ticks after the end add nothing
    kinds = [r["kind"] for r in await reports(harness, c)]
    assert kinds.count("scheduled") == 1  # 10:30; the 11:00 slot is the final's
    assert kinds.count("top") == 1 and kinds.count("final") == 1
    assert kinds[-1] in ("final", "top")
    text = next(r["text"] for r in await reports(harness, c) if r["kind"] == "scheduled")
    assert "¥0" in text or "0 单" in text  # true figures: nothing sold
