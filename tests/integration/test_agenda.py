"""Idle campaigns cost nothing (issue 22): the trigger worker evaluates a campaign when
it changed or when a moment on its agenda has come, never because a tick went by.

A thousand live campaigns, each with milestones, a report schedule and a stimulus rule,
on the real Redis and database; evaluations are counted, not timed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.conftest import Harness
from warroom.core.campaign import CampaignSettings
from warroom.core.records import CampaignRecord
from warroom.workers.triggers import Triggers

IDLE = 1000
RULE: dict[str, Any] = {
    "name": "红包雨",
    "metric": "gmv_per_min",
    "window_minutes": 3,
    "below_peak_ratio": 0.5,
    "sustain_minutes": 1,
    "action": {"kind": "red_packet_rain", "amount_fen": 100, "text": "🧧"},
}


class Recording(Triggers):
    """The real trigger worker, noting which campaign each evaluation was for."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: list[str] = []

    async def tick_campaign(self, record: CampaignRecord) -> int | None:
        self.seen.append(record.settings.slug)
        return await super().tick_campaign(record)


def settings(slug: str, starts_at: int, now: int) -> CampaignSettings:
    return CampaignSettings.model_validate(
        {
            "slug": slug,
            "name": slug,
            "starts_at": starts_at,
            "ends_at": now + 6 * 3_600_000,
            "target_base_fen": 100_000_000,
            "milestones_fen": [1_000_000, 10_000_000],
            "report_every_minutes": 30,
            "stimulus_rules": [RULE],
        }
    )


async def ticks_until(trig: Triggers, done: Any, deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    while not done():
        assert time.monotonic() < end, "the condition did not come about in time"
        await trig.tick()
        await asyncio.sleep(0.05)


async def test_a_thousand_idle_campaigns_are_evaluated_only_when_due(harness: Harness) -> None:
    rt = harness.runtime
    now = int(time.time() * 1000)
    tokens = {}
    began = time.monotonic()
    for i in range(IDLE):
        made = await rt.campaigns.create(settings(f"idle-{i}", now - 600_000, now))
        tokens[i] = made.ingest_token
    print(f"{IDLE} campaigns created in {time.monotonic() - began:.2f} s")
    trig = Recording(rt.store, rt.hot, rt.reports, rt.announcer)
    began = time.monotonic()
    # A new subscription: every campaign is looked at once, a bounded slice a tick (so
    # a change is never held back by the backlog).
    await trig.tick()
    assert len(trig.seen) == trig.per_tick
    await ticks_until(trig, lambda: len(trig.seen) >= IDLE)
    print(f"first look at {IDLE} campaigns: {time.monotonic() - began:.2f} s")
    assert sorted(trig.seen) == sorted(f"idle-{i}" for i in range(IDLE))
    # With no event yet, an idle campaign's only moment is its final; the rule is held.
    first_final = now + 6 * 3_600_000
    for i in (0, IDLE // 2, IDLE - 1):
        record = rt.store.get_campaign(f"idle-{i}")
        assert record is not None
        due = trig.due_at(record.id)
        assert due is not None and due >= first_final, due
    trig.seen.clear()

    # A new campaign opens its doors in a few seconds: found on the next tick (the
    # table's census moved), then due at its opening, a moment this test sees come.
    opening = int(time.time() * 1000) + 5_000
    await rt.campaigns.create(settings("opening", opening, now))
    await trig.tick()
    assert trig.seen == ["opening"]
    trig.seen.clear()

    # Ticks before the doors open: not one evaluation, however many ticks go by.
    while int(time.time() * 1000) < opening - 1_000:
        await trig.tick()
        await asyncio.sleep(0.05)
    assert trig.seen == []

    # The due moment comes: that campaign, and only it, is evaluated, once.
    await ticks_until(trig, lambda: trig.seen)
    for _ in range(5):
        await trig.tick()
    assert trig.seen == ["opening"]

    # A change: an order for one campaign is evaluated on the next tick, alone.
    trig.seen.clear()
    created = rt.store.get_campaign("idle-7")
    assert created is not None
    order = {
        "type": "order",
        "order_id": "o1",
        "amount_fen": 2_000_000,  # crosses the first milestone
        "seller_id": "s1",
        "group_id": "g1",
        "buyer_id": "b1",
        "product_id": "p1",
    }
    res = await harness.post_events("idle-7", tokens[7], order)
    assert res.json()["accepted"] == 1, res.text
    await harness.drain()
    await trig.tick()
    assert set(trig.seen) == {"idle-7"}
    # Its milestone falls due once its minute has settled: a moment on its agenda.
    due = trig.due_at(created.id)
    assert due is not None and due <= int(time.time() * 1000) + 62_000
