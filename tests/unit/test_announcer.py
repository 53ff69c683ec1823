"""The announcer over fakes: a due report is claimed once, then its feed entry and its
webhook deliveries follow; a fire likewise (services/announcer.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes import FakeRuntime, fake_runtime
from warroom.core.campaign import CampaignSettings, StimulusAction
from warroom.core.records import CampaignRecord
from warroom.core.reports.schedule import DueReport, Progress, due_reports
from warroom.services.announcer import Announcer

WAN = 1_000_000  # fen in 1万 CNY
HOUR = 3_600_000


def local(text: str) -> int:
    dt = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return int(dt.timestamp() * 1000)


def settings(**kw: Any) -> CampaignSettings:
    base: dict[str, Any] = {
        "slug": "520",
        "name": "520 宠粉节",
        "starts_at": "2024-05-20T10:00:00+08:00",
        "ends_at": "2024-05-20T17:00:00+08:00",
        "target_base_fen": 100 * WAN,
        "milestones_fen": [10 * WAN, 50 * WAN],
    }
    base.update(kw)
    return CampaignSettings.model_validate(base)


def sold(rt: FakeRuntime, record: CampaignRecord, gmv_wan: int, minute: str) -> int:
    """Hot state as the aggregator leaves it after `gmv_wan` 万 sold in one minute."""
    m = local(minute)
    fen = gmv_wan * WAN
    rt.hot.set_figures(
        record.settings.slug,
        totals={"gmv": fen, "orders": 30, "buyers": 25, "last_ts": m + 30_000},
        minutes={"gmv": {m: fen}, "orders": {m: 30}, "buyers": {m: 25}},
    )
    return m


def due_now(s: CampaignSettings, gmv_by_minute: dict[int, int], now: int) -> list[DueReport]:
    return due_reports(s, Progress(now, now, gmv_by_minute, s.starts_at - HOUR, s.starts_at))


def with_targets(rt: FakeRuntime, record: CampaignRecord) -> list[int]:
    """Two enabled targets and a disabled one; returns the enabled ones."""
    a = rt.webhooks.add(record.id, "https://a.example/hook", "json", "secret-a")
    b = rt.webhooks.add(record.id, "https://b.example/hook", "wecom", "")
    off = rt.webhooks.add(record.id, "https://c.example/hook", "json", "secret-c")
    rt.webhooks.disable(off)
    return [a, b]


def setup() -> tuple[FakeRuntime, CampaignRecord]:
    rt = fake_runtime()
    s = settings()
    return rt, rt.store.create_campaign(s, "ingest-hash", "viewer-hash", s.starts_at - HOUR)


async def test_a_due_milestone_is_posted_from_its_figures_fed_and_queued_to_enabled_targets():
    rt, record = setup()
    hooks = with_targets(rt, record)
    minute = sold(rt, record, 12, "2024-05-20 10:05")
    (due,) = due_now(record.settings, {minute: 12 * WAN}, local("2024-05-20 10:06"))
    assert due.key == "milestone:10000000"

    item = await rt.announcer.post_report(record, due)

    assert item is not None
    assert item["kind"] == "milestone" and item["n"] == 1
    assert item["figures"]["gmv_fen"] == 12 * WAN  # written from the settled minute sums
    assert "成交 ¥12万" in item["text"]  # the text says what the figures say
    assert await rt.hot.read_feed("520", "reports") == [item]
    assert set(rt.webhooks.deliveries) == {(h, item["id"]) for h in hooks}
    assert rt.hot.hints == ["520"]  # the screens were told


async def test_a_second_claim_of_the_same_key_does_nothing():
    rt, record = setup()
    with_targets(rt, record)
    minute = sold(rt, record, 12, "2024-05-20 10:05")
    (due,) = due_now(record.settings, {minute: 12 * WAN}, local("2024-05-20 10:06"))
    first = await rt.announcer.post_report(record, due)

    again = await rt.announcer.post_report(record, due)

    assert first is not None and again is None
    assert len(rt.reports.reports(record.id)) == 1
    assert await rt.hot.read_feed("520", "reports") == [first]
    assert len(rt.webhooks.deliveries) == 2


async def test_two_workers_racing_for_one_report_post_it_once():
    rt, record = setup()
    with_targets(rt, record)
    minute = sold(rt, record, 12, "2024-05-20 10:05")
    (due,) = due_now(record.settings, {minute: 12 * WAN}, local("2024-05-20 10:06"))
    other = Announcer(rt.hot, rt.reports)  # a second worker, same stores

    results = await asyncio.gather(
        rt.announcer.post_report(record, due), other.post_report(record, due)
    )

    posted = [r for r in results if r is not None]
    assert len(posted) == 1
    assert await rt.hot.read_feed("520", "reports") == posted
    assert len(rt.webhooks.deliveries) == 2


async def test_reports_are_numbered_in_claim_order():
    rt, record = setup()
    minute = sold(rt, record, 60, "2024-05-20 10:05")
    dues = due_now(record.settings, {minute: 60 * WAN}, local("2024-05-20 10:06"))
    assert [d.key for d in dues] == ["milestone:10000000", "milestone:50000000"]

    items = [await rt.announcer.post_report(record, d) for d in dues]

    assert [i and i["n"] for i in items] == [1, 2]
    assert [i["id"] for i in await rt.hot.read_feed("520", "reports")] == [
        i and i["id"] for i in items
    ]


async def test_a_fire_is_claimed_once_and_announced_once_figures_are_settled():
    rt, record = setup()
    hooks = with_targets(rt, record)
    sold(rt, record, 12, "2024-05-20 10:05")
    rt.watermark.settled = local("2024-05-20 10:20")
    action = StimulusAction(kind="red_packet_rain", amount_fen=5_000, text="红包雨来了")
    at = local("2024-05-20 10:20:30")

    fired = await rt.announcer.record_fire(record, "rule:slow:1", "slow", action, at)
    again = await rt.announcer.record_fire(record, "rule:slow:1", "slow", action, at)

    assert fired is not None and again is None
    assert fired["rule"] == "slow" and fired["amount_fen"] == 5_000 and not fired["manual"]
    assert await rt.hot.read_feed("520", "stimuli") == [fired]
    (report,) = await rt.hot.read_feed("520", "reports")
    assert report["kind"] == "stimulus"
    assert set(rt.webhooks.deliveries) == {(h, report["id"]) for h in hooks}


async def test_a_fire_while_nothing_is_settled_waits_for_its_announcement():
    rt, record = setup()
    rt.watermark.settled = None  # figures restoring: the trigger worker announces it later
    action = StimulusAction(kind="announcement", text="下一波秒杀 10:30")

    fired = await rt.announcer.record_fire(
        record, "manual:1", "manual", action, local("2024-05-20 10:20"), manual=True
    )

    assert fired is not None and fired["manual"]
    assert len(rt.reports.fires(record.id)) == 1
    assert await rt.hot.read_feed("520", "stimuli") == [fired]
    assert await rt.hot.read_feed("520", "reports") == []
    assert rt.webhooks.deliveries == {}


async def test_feeds_are_rewritten_from_the_records_after_a_wipe():
    rt, record = setup()
    minute = sold(rt, record, 12, "2024-05-20 10:05")
    (due,) = due_now(record.settings, {minute: 12 * WAN}, local("2024-05-20 10:06"))
    await rt.announcer.post_report(record, due)
    action = StimulusAction(kind="announcement", text="整点抽奖")
    await rt.announcer.record_fire(record, "manual:1", "manual", action, minute)
    before = {k: await rt.hot.read_feed("520", k) for k in ("reports", "stimuli")}
    for kind in before:
        await rt.hot.replace_feed("520", kind, [])

    await rt.announcer.restore_feeds(record)

    assert {k: await rt.hot.read_feed("520", k) for k in before} == before
    assert all(before.values())
