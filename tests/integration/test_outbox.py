"""A report or a fire's report whose poster dies right after its claim commits is still
announced, exactly once: its webhook deliveries were written in the claim's
transaction, and the next trigger tick puts it on the screens' feed (issue 17, item 1).
Real Redis, real SQL, a real HTTP receiver; the crash is the real store raising once
its claim has committed."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Harness, harness_for
from tests.integration.receivers import Receiver, add_hook
from warroom.adapters.outbound.delivery import Deliverer
from warroom.adapters.sql.tables import WebhookRow
from warroom.core.campaign import StimulusAction
from warroom.core.ingest.clock import minute_floor
from warroom.core.records import CampaignRecord
from warroom.core.reports.schedule import DueReport
from warroom.services.announcer import Announcer
from warroom.services.campaigns import clock_of
from warroom.workers.triggers import Triggers

HOUR = 3_600_000


class Died(Exception):
    """The process ended here (kill -9 right after the commit)."""


class DiesAfterClaim:
    """The real report store, except that the first won report claim raises once its
    transaction has committed: the poster dies before anything else happens."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.died_after: int | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def claim_report(self, *args: Any, **kwargs: Any) -> Any:
        claim = self._store.claim_report(*args, **kwargs)
        if claim.won and self.died_after is None:
            self.died_after = claim.id
            raise Died(f"killed right after claiming report {claim.id}")
        return claim


def dying_poster(announcer: Announcer, reports: DiesAfterClaim) -> Announcer:
    """The runtime's announcer (its hot state, watermark, clock) over the dying store."""
    poster = copy.copy(announcer)
    poster.reports = reports  # type: ignore[assignment]
    return poster


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


async def not_started_sale(h: Harness, receiver: Receiver) -> tuple[CampaignRecord, set[int]]:
    """A campaign that has not started (no tick posts anything of its own), with two
    enabled targets and a disabled one; returns it and the enabled targets' ids."""
    now = h.runtime.clock.now_ms()
    await h.create_campaign(starts_at=now + HOUR, ends_at=now + 7 * HOUR, milestones_fen=[])
    enabled = set()
    for path, fmt in (("json", "json"), ("wecom", "wecom"), ("off", "json")):
        res = await add_hook(h, f"{receiver.url}/{path}", fmt, "s3cret")
        assert res.status_code == 201, res.text
        if path != "off":
            enabled.add(res.json()["id"])
    record = await h.runtime.campaigns.get("sale")
    assert record is not None
    off = next(x.id for x in h.runtime.webhooks.list(record.id) if x.id not in enabled)
    t = WebhookRow.__table__  # no console switch for it yet: the row's own flag
    with h.runtime.store.engine.begin() as conn:
        conn.execute(t.update().where(t.c.id == off).values(enabled=False))
    return record, enabled


async def next_tick_announces_once(
    h: Harness, receiver: Receiver, record: CampaignRecord, report_id: int, enabled: set[int]
) -> None:
    rt = h.runtime
    for _ in range(2):  # a restarted worker's ticks; the second finds nothing to do
        await Triggers(rt.store, rt.hot, rt.reports, rt.announcer).tick()
    feed = await rt.hot.read_feed("sale", "reports")
    assert [x["id"] for x in feed].count(report_id) == 1, feed
    mine = [d for d in rt.webhooks.log(record.id) if d["report_id"] == report_id]
    assert sorted(d["webhook_id"] for d in mine) == sorted(enabled), mine
    d = Deliverer(rt.webhooks, rt.redis, allow_private=True)
    try:
        assert await d.run_once() == 2
        await asyncio.sleep(0.05)
        assert await d.run_once() == 0
    finally:
        await d.close()
    mine = [d for d in rt.webhooks.log(record.id) if d["report_id"] == report_id]
    assert [(d["status"], d["outcome"], d["attempts"]) for d in mine] == [
        ("delivered", "sent", 1)
    ] * 2
    assert sorted(r["path"] for r in receiver.requests) == ["/hook/json", "/hook/wecom"]
    sent = json.loads(next(r["body"] for r in receiver.requests if r["path"] == "/hook/json"))
    assert sent["report"]["id"] == report_id


async def test_a_report_claimed_by_a_poster_that_died_is_announced_once(
    settings, receiver: Receiver
) -> None:
    settings.warroom_allow_private_webhooks = True
    async with harness_for(settings) as h:
        rt = h.runtime
        record, enabled = await not_started_sale(h, receiver)
        dying = DiesAfterClaim(rt.reports)
        poster = dying_poster(rt.announcer, dying)
        at = record.settings.starts_at + 30 * 60_000
        due = DueReport("scheduled:1", "scheduled", at, {"slot": 1}, as_of_ms=minute_floor(at))
        with pytest.raises(Died):
            await poster.post_report(record, due)
        assert dying.died_after is not None
        assert await rt.hot.read_feed("sale", "reports") == []  # nobody heard of it yet
        await next_tick_announces_once(h, receiver, record, dying.died_after, enabled)


async def test_a_fire_whose_poster_died_after_claiming_its_report_is_announced_once(
    settings, receiver: Receiver
) -> None:
    settings.warroom_allow_private_webhooks = True
    async with harness_for(settings) as h:
        rt = h.runtime
        record, enabled = await not_started_sale(h, receiver)
        dying = DiesAfterClaim(rt.reports)
        poster = dying_poster(rt.announcer, dying)
        action = StimulusAction(kind="announcement", amount_fen=0, text="📣 满2件送1件")
        at = clock_of(record).now_ms(rt.clock.now_ms())
        with pytest.raises(Died):
            await poster.record_fire(record, "manual:crash", "manual", action, at, manual=True)
        assert dying.died_after is not None
        fires = rt.reports.fires(record.id)
        assert [f.key for f in fires] == ["manual:crash"]
        await next_tick_announces_once(h, receiver, record, dying.died_after, enabled)
        stimuli = await rt.hot.read_feed("sale", "stimuli")
        assert [x["id"] for x in stimuli] == [fires[0].id]
        (report,) = await rt.hot.read_feed("sale", "reports")
        assert report["kind"] == "stimulus" and "满2件送1件" in report["text"]
