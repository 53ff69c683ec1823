"""The outbox over fakes: a report's claim writes its deliveries, whatever happens to
its poster after; the feeds' catch-up (services/feeds.py) puts reports and fires that
are in the rows but not on the screens' feed there, once (issue 17, item 1)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.fakes import FakeLiveState, FakeRuntime, fake_runtime
from warroom.adapters.outbound.webhook import INTERRUPTED, outcome
from warroom.adapters.redis.keys import FEED_KEEP
from warroom.core.campaign import CampaignSettings, StimulusAction
from warroom.core.records import CampaignRecord
from warroom.core.reports.schedule import DueReport
from warroom.services.feeds import FeedCatchUp, missing

WAN = 1_000_000


class Died(Exception):
    pass


class DiesAtPush(FakeLiveState):
    """The fake hot state, except that every feed push raises: the poster died between
    the claim's commit and the push (or Redis refused it)."""

    async def push_feed(self, slug: str, kind: str, item: Any) -> bool:
        raise Died("killed before the feed push")


def sale(rt: FakeRuntime) -> CampaignRecord:
    s = CampaignSettings.model_validate(
        {
            "slug": "520",
            "name": "520 宠粉节",
            "starts_at": "2024-05-20T10:00:00+08:00",
            "ends_at": "2024-05-20T17:00:00+08:00",
            "target_base_fen": 100 * WAN,
            "milestones_fen": [10 * WAN],
        }
    )
    record = asyncio.run(rt.campaigns.create(s)).record
    rt.hot.set_figures(s.slug, totals={"gmv": 0})
    return record


def targets(rt: FakeRuntime, record: CampaignRecord) -> set[int]:
    a = rt.webhooks.add(record.id, "https://a.example/hook", "json", "s")
    b = rt.webhooks.add(record.id, "https://b.example/hook", "wecom", "")
    rt.webhooks.disable(rt.webhooks.add(record.id, "https://c.example/hook", "json", "s"))
    return {a, b}


def scheduled(record: CampaignRecord, slot: int = 1) -> DueReport:
    at = record.settings.starts_at + slot * 30 * 60_000
    return DueReport(f"scheduled:{slot}", "scheduled", at, {"slot": slot}, as_of_ms=at)


def claim(rt: FakeRuntime, record: CampaignRecord, key: str) -> int:
    c = rt.reports.claim_report(record.id, key, "scheduled", record.settings.starts_at, "t", "{}")
    assert c.won
    return c.id


async def feed_ids(rt: FakeRuntime, kind: str = "reports") -> list[int]:
    return [int(i["id"]) for i in await rt.hot.read_feed("520", kind)]  # type: ignore[call-overload]


def test_the_deliveries_are_written_with_the_claim_even_if_the_poster_dies_after() -> None:
    rt = fake_runtime(settled=0)
    record = sale(rt)
    hooks = targets(rt, record)
    rt.announcer.hot = DiesAtPush()
    with pytest.raises(Died):
        asyncio.run(rt.announcer.post_report(record, scheduled(record)))
    (report,) = rt.reports.reports(record.id)
    assert set(rt.webhooks.deliveries) == {(h, report.id) for h in hooks}
    assert {d.status for d in rt.webhooks.deliveries.values()} == {"pending"}


def test_a_lost_claim_writes_no_delivery() -> None:
    rt = fake_runtime(settled=0)
    record = sale(rt)
    targets(rt, record)
    first = rt.reports.claim_report(record.id, "k", "scheduled", 0, "t", "{}")
    again = rt.reports.claim_report(record.id, "k", "scheduled", 0, "t", "{}")
    assert first.won and not again.won and again.id == first.id
    assert len(rt.webhooks.deliveries) == 2


def test_the_catch_up_puts_a_claimed_report_on_the_feed_once() -> None:
    rt = fake_runtime(settled=0)
    record = sale(rt)
    pushed = asyncio.run(rt.announcer.post_report(record, scheduled(record, 1)))
    assert pushed is not None
    orphan = claim(rt, record, "scheduled:2")  # its poster died after the claim
    feeds = FeedCatchUp(rt.hot, rt.reports, rt.announcer)
    assert asyncio.run(feeds.tick([record])) == 1
    assert asyncio.run(feed_ids(rt)) == [pushed["id"], orphan]
    hints = len(rt.hot.hints)
    assert asyncio.run(feeds.tick([record])) == 0  # checked: no feed read, no push
    assert asyncio.run(feed_ids(rt)) == [pushed["id"], orphan]
    assert len(rt.hot.hints) == hints
    # a restarted worker checks everything once, and finds nothing missing
    assert asyncio.run(FeedCatchUp(rt.hot, rt.reports, rt.announcer).tick([record])) == 0


def test_the_catch_up_refreshes_the_stimuli_feed_for_a_fire_it_lacks() -> None:
    rt = fake_runtime(settled=None)  # figures restoring: the fire's report waits
    record = sale(rt)
    action = StimulusAction(kind="announcement", amount_fen=0, text="公告")
    asyncio.run(rt.announcer.record_fire(record, "manual:1", "manual", action, 0, manual=True))
    orphan = rt.reports.claim_fire(
        campaign_id=record.id, key="manual:2", rule="manual", kind="announcement",
        at_ms=0, amount_fen=0, text="公告", manual=True,
    )  # fmt: skip
    assert len(asyncio.run(feed_ids(rt, "stimuli"))) == 1
    assert asyncio.run(FeedCatchUp(rt.hot, rt.reports, rt.announcer).tick([record])) == 1
    assert asyncio.run(feed_ids(rt, "stimuli"))[-1] == orphan.id
    assert len(asyncio.run(feed_ids(rt, "stimuli"))) == 2


def test_a_row_that_becomes_visible_after_a_newer_one_is_still_caught() -> None:
    """Ids are numbered before their transactions commit, not always in commit order:
    the catch-up's lower bound trails what it saw by `settle_s`."""
    rt = fake_runtime(settled=0)
    record = sale(rt)
    older, newer = claim(rt, record, "a"), claim(rt, record, "b")
    hidden = {older}  # numbered first, committed last
    written = rt.reports.written_since

    def visible(report_after: int, fire_after: int) -> Any:
        return [r for r in written(report_after, fire_after) if r.id not in hidden]

    rt.reports.written_since = visible  # type: ignore[method-assign]
    clock = [0.0]
    feeds = FeedCatchUp(rt.hot, rt.reports, rt.announcer, settle_s=10, monotonic=lambda: clock[0])
    asyncio.run(feeds.tick([record]))
    assert asyncio.run(feed_ids(rt)) == [newer]
    clock[0] = 5.0
    asyncio.run(feeds.tick([record]))
    hidden.clear()  # commits now, within settle_s of being numbered
    clock[0] = 9.0
    assert asyncio.run(feeds.tick([record])) == 1
    assert asyncio.run(feed_ids(rt)) == [older, newer]  # in id order
    clock[0] = 30.0
    asyncio.run(feeds.tick([record]))
    assert feeds._floor == (newer, 0)


def test_a_feed_push_is_once_per_id_and_in_id_order() -> None:
    hot = FakeLiveState()
    for i in (3, 1, 3, 2, 1):
        asyncio.run(hot.push_feed("520", "reports", {"id": i}))
    assert [x["id"] for x in asyncio.run(hot.read_feed("520", "reports"))] == [1, 2, 3]


def test_missing_leaves_out_what_a_full_feed_has_trimmed() -> None:
    full = list(range(100, 100 + FEED_KEEP))
    assert missing(full, [5, 99, 100, 500]) == [500]
    assert missing([100, 101], [5, 100, 102]) == [5, 102]
    assert missing([], [1]) == [1]


@pytest.mark.parametrize(
    ("status", "last_error", "expected"),
    [
        ("pending", "", "pending"),
        ("sending", "", "sending"),
        ("delivered", "", "sent"),
        ("failed", "HTTP 500", "failed"),
        ("failed", "url must name a public address", "failed"),
        ("failed", INTERRUPTED, "unknown"),
    ],
)
def test_a_delivery_says_what_is_known(status: str, last_error: str, expected: str) -> None:
    assert outcome(status, last_error) == expected
    assert "interrupted" in INTERRUPTED  # what the log line has always said
