"""The screens' feeds, driven from the rows: a report or fire that is in SQL but not on
its campaign's live feed in Redis (its poster died between the claim's commit and the
push, or Redis refused the push) is put there by the next trigger tick.

A tick must stay cheap, so it does not compare every campaign's rows with its feed.
It asks SQL for the rows written since it last looked, one round trip over the primary
keys of both tables, and reads a campaign's feed only for rows it has not seen on it
yet. Ids are handed out before the transactions that use them commit, and not always
commit in that order (PostgreSQL sequences): a row with a smaller id may become visible
after a larger one was seen. So the lower bound of the read trails the newest id seen
by `settle_s` seconds: rows committed within that time of being numbered are never
skipped (a claim's transaction takes milliseconds), and rows already checked are
remembered until the bound passes them. At start the bound is 0: every row is checked
once against the newest `FEED_KEEP` items of its feed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from warroom.adapters.redis.keys import FEED_KEEP
from warroom.adapters.sql.report_store import Written, report_view
from warroom.core.ingest.clock import rfc3339
from warroom.core.records import CampaignRecord
from warroom.services.announcer import Announcer
from warroom.services.ports import LiveState, ReportRecords

log = logging.getLogger(__name__)


def missing(on_feed: Sequence[int], ids: Sequence[int]) -> list[int]:
    """Which of `ids` belong on a feed holding `on_feed` and are not there. A feed keeps
    the newest FEED_KEEP items: once full, an id older than all of them is trimmed, not
    missing."""
    present = set(on_feed)
    full = len(on_feed) >= FEED_KEEP
    floor = min(on_feed, default=0)
    return [i for i in ids if i not in present and not (full and i < floor)]


class FeedCatchUp:
    def __init__(
        self,
        hot: LiveState,
        reports: ReportRecords,
        announcer: Announcer,
        settle_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hot = hot
        self.reports = reports
        self.announcer = announcer
        self.settle_s = settle_s
        self._monotonic = monotonic
        # (when, newest report id, newest fire id) as seen, oldest first
        self._seen: deque[tuple[float, int, int]] = deque()
        self._floor = (0, 0)  # rows at or below these ids are checked
        self._checked: set[tuple[str, int]] = set()  # rows above the floor, checked

    def _advance(self, rows: Sequence[Written]) -> None:
        now = self._monotonic()
        newest = (
            max((r.id for r in rows if r.feed == "reports"), default=self._floor[0]),
            max((r.id for r in rows if r.feed == "stimuli"), default=self._floor[1]),
        )
        last = self._seen[-1] if self._seen else None
        if last is None or (last[1], last[2]) != newest:
            self._seen.append((now, *newest))
        while self._seen and now - self._seen[0][0] >= self.settle_s:
            _, report_id, fire_id = self._seen.popleft()
            self._floor = (max(self._floor[0], report_id), max(self._floor[1], fire_id))
        self._checked = {
            (feed, i)
            for feed, i in self._checked
            if i > (self._floor[0] if feed == "reports" else self._floor[1])
        }

    async def tick(self, records: Sequence[CampaignRecord] | Mapping[int, CampaignRecord]) -> int:
        """Put every row written since the last look on its feed if it is not there;
        returns how many were missing."""
        rows = await asyncio.to_thread(self.reports.written_since, *self._floor)
        todo: dict[tuple[int, str], list[int]] = {}
        for r in rows:
            if (r.feed, r.id) not in self._checked:
                todo.setdefault((r.campaign_id, r.feed), []).append(r.id)
        # The trigger worker hands its campaigns by id (no per-campaign work a tick).
        by_id = records if isinstance(records, Mapping) else {r.id: r for r in records}
        repaired = 0
        for (campaign_id, feed), ids in todo.items():
            record = by_id.get(campaign_id)
            if record is not None:
                repaired += await self._catch_up(record, feed, sorted(ids))
            self._checked.update((feed, i) for i in ids)
        self._advance(rows)
        return repaired

    async def _catch_up(self, record: CampaignRecord, feed: str, ids: list[int]) -> int:
        slug, tz = record.settings.slug, record.settings.timezone
        if feed == "stimuli":
            on_feed = [int(i["id"]) for i in await self.hot.read_feed(slug, "stimuli")]
            lost = missing(on_feed, ids)
            if lost:
                log.warning("fires %s of %s were not on the screens' feed", lost, slug)
                await self.announcer.refresh_stimuli(record)
            return len(lost)
        on_feed = [int(i["id"]) for i in await self.hot.read_feed(slug, "reports")]
        lost = missing(on_feed, ids)
        for report_id in lost:
            row = await asyncio.to_thread(self.reports.report, report_id)
            if row is None:
                continue
            item = report_view(row, lambda ms: rfc3339(ms, tz))
            if await self.hot.push_feed(slug, "reports", item):
                log.warning("report %s of %s was not on the screens' feed", report_id, slug)
        return len(lost)
