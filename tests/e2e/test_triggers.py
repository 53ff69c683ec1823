"""Reports and stimuli end to end on a rehearsal clock (time_scale 60: a campaign
minute per real second), with the real aggregator and trigger loops running."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import ADMIN, Harness
from warroom.core.ingest.money import format_wan
from warroom.services import snapshots
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


def order(i: int, amount: int = 50_000, ts: int | None = None) -> dict[str, Any]:
    e = {
        "type": "order",
        "order_id": f"o{i}",
        "amount_fen": amount,
        "seller_id": f"s{i % 3}",
        "group_id": "g1",
        "buyer_id": f"b{i}",
        "product_id": "p1",
    }
    if ts is not None:
        e["ts"] = ts
    return e


def message(i: int) -> dict[str, Any]:
    return {"type": "message", "message_id": f"m{i}", "group_id": "g1", "member_id": f"u{i % 7}"}


async def last_minute() -> int:
    """A `ts` in the minute before the present one, at a moment when that minute is
    settled (a real-time campaign settles a minute a second or two after it ends)."""
    while int(time.time() * 1000) % 60_000 < 3_000:
        await asyncio.sleep(0.2)
    now = int(time.time() * 1000)
    return now - now % 60_000 - 30_000


async def tick_until(h: Harness, pred: Any, timeout: float = 8.0) -> None:
    rt = h.runtime
    workers = [Triggers(rt.store, rt.hot, rt.reports, rt.announcer) for _ in range(3)]

    async def ticked() -> bool:
        await asyncio.gather(*(w.tick() for w in workers))
        return bool(await pred())

    await wait_for(ticked, timeout)


async def sell(
    h: Harness,
    token: str,
    start: int,
    seconds: float,
    *,
    orders: bool = True,
    every: int = 1,
    stop: asyncio.Event | None = None,
) -> int:
    """Orders and chat for `seconds` (or until `stop` is set); with `orders=False` the
    group only talks, with `every=n` orders come n times more slowly (a slump), chat as
    before. A caller that means to stop it early sets `stop` rather than rely on a
    cancel alone: a cancel can be lost on its way through a request."""
    i = start
    end = time.monotonic() + seconds
    k = 0
    while time.monotonic() < end and not (stop and stop.is_set()):
        batch = [order(i), order(i + 1)] if orders and k % every == 0 else []
        await h.post_events("sale", token, [*batch, message(i)])
        i += 2
        k += 1
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


async def test_a_slump_fires_one_red_packet_rain_then_cooldown_then_uplift(
    harness: Harness,
) -> None:
    """Orders slow to a trickle while the group keeps talking: a real slump, so the
    rule fires (once: the cooldown), and its uplift is scored once sales resume."""
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
        # a trickle of orders (a tenth of the pace) while the group keeps talking
        talking = asyncio.create_task(sell(harness, c["ingest_token"], 10_000, 30, every=10))

        async def fired() -> bool:
            return len(await stimuli(harness, c)) >= 1

        try:
            await wait_for(fired, 10.0)
        finally:
            talking.cancel()
        assert time.monotonic() - silence_began < 8.0  # within a few campaign minutes
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

        # The slump goes on: the cooldown (30 campaign minutes) holds the next one back.
        await sell(harness, c["ingest_token"], 20_000, 3.0, every=10)
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
    ts = await last_minute()
    await harness.post_events("sale", c["ingest_token"], [order(k, 100_000, ts) for k in range(5)])
    await harness.drain()
    rt = harness.runtime

    async def all_four() -> bool:
        return len(await reports(harness, c)) >= 4

    await tick_until(harness, all_four)
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
    c = await harness.create_campaign(**live(), stimulus_rules=[RULE], stimulus_budget_fen=300_000)
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
    await harness.post_events("sale", c["ingest_token"], [order(1, 150_000, await last_minute())])
    await harness.drain()

    async def posted() -> bool:
        return any(r["kind"] == "milestone" for r in await reports(harness, c))

    await tick_until(harness, posted)
    text = next(r["text"] for r in await reports(harness, c) if r["kind"] == "milestone")
    if status == 200:
        assert text == "🎉 破 ¥1,000 啦！GMV ¥1,500"
    else:
        assert "no_such_figure" not in text and "__class__" not in text


async def test_a_quiet_campaign_gets_true_reports_and_a_silent_one_only_the_final(
    harness: Harness,
) -> None:
    """Slots are reported from the first event on, with true (zero) sales figures; a
    campaign nothing ever arrived for has nothing to report until its final."""
    now_ms = int(time.time() * 1000)
    c = await harness.create_campaign(
        starts_at=now_ms,
        ends_at=now_ms + 60 * 60_000,  # one campaign hour
        time_scale=1200,  # 20 campaign minutes per real second
        milestones_fen=[],
        report_every_minutes=30,
        final_grace_seconds=1,
    )
    await harness.create_campaign(
        slug="mute",
        starts_at=now_ms,
        ends_at=now_ms + 60 * 60_000,
        time_scale=1200,
        milestones_fen=[],
        report_every_minutes=30,
        final_grace_seconds=1,
    )
    # Stamped at the doors' opening: stamped on arrival, at 20 campaign minutes a real
    # second, a slow post would land after the first hour mark, which is then (rightly)
    # not reported: the test would bet on the machine's speed.
    res = await harness.post_events("sale", c["ingest_token"], [{**message(1), "ts": now_ms}])
    assert res.json()["accepted"] == 1, res.text
    async with loops(harness):

        async def finals() -> bool:
            rt = harness.runtime
            mute = await rt.campaigns.get("mute")
            return any(r["kind"] == "final" for r in await reports(harness, c)) and any(
                r.kind == "final" for r in rt.reports.reports(mute.id)
            )

        await wait_for(finals, 15.0)
        await asyncio.sleep(0.5)  # ticks after the end add nothing
    kinds = [r["kind"] for r in await reports(harness, c)]
    assert kinds.count("scheduled") == 1  # 10:30; the 11:00 slot is the final's
    assert kinds.count("top") == 1 and kinds.count("final") == 1
    assert kinds[-1] in ("final", "top")
    scheduled = next(r for r in await reports(harness, c) if r["kind"] == "scheduled")
    assert "¥0" in scheduled["text"] and "0 单" in scheduled["text"]  # true figures
    assert scheduled["figures"]["gmv_fen"] == 0 and scheduled["figures"]["orders"] == 0
    rt = harness.runtime
    mute = await rt.campaigns.get("mute")
    assert [r.kind for r in rt.reports.reports(mute.id)] == ["final"]


# --- settled figures, compared with the ledger -------------------------------------------


def ledger_figures(h: Harness, slug: str, before_ms: int | None) -> dict[str, int]:
    """The SQL ledger's totals over events with `ts` before `before_ms` (None: all)."""
    rt = h.runtime
    record = rt.store.get_campaign(slug)
    gmv = orders = 0
    buyers: set[str] = set()
    for batch in rt.store.iter_ledger(record.id):
        for e in batch:
            if e["type"] != "order" or (before_ms is not None and e["ts"] >= before_ms):
                continue
            gmv += e["amount_fen"]
            orders += 1
            buyers.add(e["buyer_id"])
    return {"gmv_fen": gmv, "refund_fen": 0, "net_gmv_fen": gmv, "orders": orders,
            "buyers": len(buyers)}  # fmt: skip


def instant(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


async def test_scheduled_and_milestone_reports_carry_the_ledger_figures_of_their_instant(
    harness: Harness,
) -> None:
    """Sales never stop, yet each report describes exactly its slot (or the minute its
    milestone fell): figures equal the ledger's totals before `as_of`, the title names
    the slot, the text says the figures, and the change since the last one is signed."""
    now_ms = int(time.time() * 1000)
    now_ms -= now_ms % 60_000  # doors open on a minute: slots are minute marks
    c = await harness.create_campaign(
        starts_at=now_ms,
        ends_at=now_ms + 7 * 3600 * 1000,
        time_scale=60,
        milestones_fen=[500_000, 1_500_000],
        target_base_fen=10**10,
        target_stretch_fen=10**10,
        report_every_minutes=2,
    )
    async with loops(harness):
        done_selling = asyncio.Event()
        selling = asyncio.create_task(sell(harness, c["ingest_token"], 0, 60, stop=done_selling))

        async def enough() -> bool:
            kinds = [r["kind"] for r in await reports(harness, c)]
            return kinds.count("scheduled") >= 3 and kinds.count("milestone") == 2

        try:
            await wait_for(enough, 25.0)
        finally:
            done_selling.set()
            selling.cancel()
            await asyncio.gather(selling, return_exceptions=True)
    posted = await reports(harness, c)
    scheduled = [r for r in posted if r["kind"] == "scheduled"]
    for r in posted:
        if r["kind"] not in ("scheduled", "milestone"):
            continue
        f = r["figures"]
        as_of = instant(f["as_of"])
        assert as_of % 60_000 == 0
        expected = ledger_figures(harness, "sale", as_of)
        assert {k: f[k] for k in expected} == expected, r
        assert format_wan(f["gmv_fen"]) in r["text"]
        assert f"{f['orders']} 单" in r["text"]
        if r["kind"] == "scheduled":
            assert r["at"] == f["as_of"]  # the slot itself
            assert r["text"].splitlines()[0].endswith(f"{f['as_of'][11:16]} 战报")
        else:
            assert instant(r["at"]) == as_of - 60_000  # the minute it fell
            assert f["gmv_fen"] >= 500_000
    # the change since the previous scheduled report, from the two reports' figures
    a, b = scheduled[0]["figures"], scheduled[1]["figures"]
    assert f"本时段 +{format_wan(b['gmv_fen'] - a['gmv_fen'])}" in scheduled[1]["text"]
    assert "+-" not in "".join(r["text"] for r in posted)
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert snap["reports_total"] == len(posted)
    assert [r["n"] for r in posted] == list(range(1, len(posted) + 1))


async def test_the_final_waits_for_stragglers_and_equals_the_settled_totals(
    harness: Harness,
) -> None:
    """Events keep arriving in the last seconds of the sale: the final waits for the
    grace period and then says exactly what the ledger and the snapshot say."""
    now_ms = int(time.time() * 1000)
    c = await harness.create_campaign(
        starts_at=now_ms,
        ends_at=now_ms + 5 * 60_000,  # five campaign minutes = five real seconds
        time_scale=60,
        milestones_fen=[],
        report_every_minutes=60,
        final_grace_seconds=2,
    )
    end_real = now_ms + 5_000
    async with loops(harness):
        await sell(harness, c["ingest_token"], 0, 4.6)  # right up to the close
        # stragglers: stamped in the last second of the sale, arriving after it
        late = [order(50_000 + k, 70_000, now_ms + 5 * 60_000 - 1_000) for k in range(3)]
        await harness.post_events("sale", c["ingest_token"], late)

        async def final() -> bool:
            return any(r["kind"] == "final" for r in await reports(harness, c))

        await wait_for(final, 15.0)
        posted_real = int(time.time() * 1000)
    assert posted_real >= end_real + 2_000
    f = next(r for r in await reports(harness, c) if r["kind"] == "final")
    figures = f["figures"]
    assert instant(figures["as_of"]) == now_ms + 5 * 60_000
    expected = ledger_figures(harness, "sale", None)
    assert {k: figures[k] for k in expected} == expected
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert {k: snap["totals"][k] for k in expected} == expected
    assert f"总成交 {format_wan(expected['gmv_fen'])}" in f["text"]
    assert f"📦 {expected['orders']} 单" in f["text"]


async def test_a_dead_feed_holds_the_rule_and_says_so(harness: Harness) -> None:
    """Everything stops (an integration outage): no red-packet rain is paid for it,
    and the snapshot says the rule is held because the feed is silent."""
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
    )
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert snap["rules"] == [{"name": "红包雨", "state": "held", "reason": "no_events"}]
    async with loops(harness):
        await sell(harness, c["ingest_token"], 0, 4.0)
        await asyncio.sleep(8.0)  # eight campaign minutes of total silence
        assert await stimuli(harness, c) == []
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert snap["rules"] == [{"name": "红包雨", "state": "held", "reason": "feed_silent"}]


async def test_a_campaign_started_in_the_past_reports_no_slot_before_it_existed(
    harness: Harness,
) -> None:
    now_ms = int(time.time() * 1000)
    c = await harness.create_campaign(
        starts_at=now_ms - 150 * 60_000,  # doors opened 2.5 hours ago
        ends_at=now_ms + 3600 * 1000,
        milestones_fen=[],
        report_every_minutes=30,
    )
    ts = await last_minute()
    await harness.post_events("sale", c["ingest_token"], [order(1, 100_000, ts)])
    await harness.drain()
    rt = harness.runtime
    for _ in range(3):
        await Triggers(rt.store, rt.hot, rt.reports, rt.announcer).tick()
    assert await reports(harness, c) == []  # no ¥0 TOP for an hour before it existed


async def test_reports_due_while_restoring_are_written_after_once_each(
    harness: Harness,
) -> None:
    """While a campaign's figures restore (HotState.restoring), no report is written and
    no rule fires; afterwards every report that fell due meanwhile is written once,
    each with the ledger's figures of its own slot."""
    now_ms = int(time.time() * 1000)
    now_ms -= now_ms % 60_000
    c = await harness.create_campaign(
        starts_at=now_ms,
        ends_at=now_ms + 7 * 3600 * 1000,
        time_scale=60,
        milestones_fen=[],
        target_base_fen=10**10,
        target_stretch_fen=10**10,
        report_every_minutes=2,
        stimulus_rules=[{**RULE, "floor": 10**9, "sustain_minutes": 1}],  # fires at once
    )
    rt = harness.runtime
    real_restoring = rt.hot.restoring
    restoring = {"on": True}

    async def restoring_now(slug: str) -> bool:
        return restoring["on"] or await real_restoring(slug)

    rt.hot.restoring = restoring_now  # our own interface, flipped by hand
    try:
        async with loops(harness):
            await sell(harness, c["ingest_token"], 0, 6.5)  # slots at minutes 2 and 4 fall
            assert await reports(harness, c) == []
            assert await stimuli(harness, c) == []
            restoring["on"] = False

            async def caught_up() -> bool:
                kinds = [r["kind"] for r in await reports(harness, c)]
                return kinds.count("scheduled") >= 3

            await wait_for(caught_up, 10.0)
    finally:
        rt.hot.restoring = real_restoring
    posted = [r for r in await reports(harness, c) if r["kind"] == "scheduled"]
    keys = [r["text"].splitlines()[0] for r in posted]
    assert len(keys) == len(set(keys))  # once each
    for r in posted:
        as_of = instant(r["figures"]["as_of"])
        expected = ledger_figures(harness, "sale", as_of)
        assert {k: r["figures"][k] for k in expected} == expected


class Counted:
    """A thin wrapper that counts the calls to a real store's method."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.fn(*args, **kwargs)


async def test_a_tick_reads_the_fires_once_and_builds_no_snapshot(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An evaluation of a campaign (on a change or a due moment) reads the figures it
    needs from hot state, never a whole snapshot (a bounded board read), and the
    campaign's fires once, for the rules, the late announcements and the uplifts of an
    ended campaign alike. Counted on the real Redis and SQL stores."""
    now_ms = int(time.time() * 1000)
    end = now_ms - now_ms % 60_000 - 60_000  # ended, its last minute settled
    c = await harness.create_campaign(
        starts_at=end - 3_600_000,
        ends_at=end,
        milestones_fen=[],
        final_grace_seconds=0,
        stimulus_rules=[RULE],
    )
    await harness.post_events("sale", c["ingest_token"], [order(1, 100_000, end - 1_800_000)])
    await harness.drain()
    rt = harness.runtime
    record = await rt.campaigns.get("sale")
    assert record is not None
    # A fire in the last second whose report was never posted: announced late, and its
    # uplift unknown for an hour after the end, so the campaign is not done with.
    rt.reports.claim_fire(
        campaign_id=record.id, key="fire:红包雨:1", rule="红包雨", kind="red_packet_rain",
        metric="gmv_per_min", window_minutes=60, at_ms=end - 1_000, amount_fen=200_000,
        text="整点红包雨", manual=False,
    )  # fmt: skip
    trig = Triggers(rt.store, rt.hot, rt.reports, rt.announcer)
    await trig.tick()
    assert sorted(r["kind"] for r in await reports(harness, c)) == ["final", "stimulus"]

    fires = Counted(rt.reports.fires)
    monkeypatch.setattr(rt.reports, "fires", fires)
    board_reads = Counted(rt.hot.read)
    monkeypatch.setattr(rt.hot, "read", board_reads)
    built = Counted(snapshots.build_snapshot)
    monkeypatch.setattr(snapshots, "build_snapshot", built)
    for n in (1, 2, 3):
        await trig.tick_campaign(record)
        assert (fires.calls, board_reads.calls, built.calls) == (n, 0, 0)
    assert len(await reports(harness, c)) == 2  # nothing more was due
