"""The figures an engineer watches, read from Redis and SQL when asked (a scrape of
/metrics, the console's engineers' page): per live campaign the events not yet applied,
how far the settled figures trail the campaign clock, whether it is being restored and
the webhook deliveries waiting; and whether each dependency answers.

They are facts of the deployment, not of a process: every process that is scraped
reads the same values (aggregate them with `max`, docs/operations.md). A reading is
kept for `cache_s`, and callers that ask at once share one read, so a dashboard that
polls and a Prometheus that scrapes do not multiply the work. Every read is bounded by
the dependency timeout: a part that does not answer is reported down, never waited on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from warroom.adapters.clock import SYSTEM_CLOCK, Clock
from warroom.adapters.redis.hotstate import HotState
from warroom.adapters.redis.streams import EventStream
from warroom.adapters.sql.ops_store import queued_deliveries
from warroom.adapters.sql.store import Store
from warroom.core.records import CampaignRecord
from warroom.services.campaigns import clock_of
from warroom.services.watermark import Watermark

log = logging.getLogger(__name__)
REDIS, DATABASE = "redis", "database"


@dataclass(frozen=True)
class CampaignVitals:
    slug: str
    name: str
    pending_events: int | None  # None: Redis did not answer
    settled_lag_s: float | None  # None: restoring, or not known
    restoring: bool
    queued_deliveries: int


@dataclass(frozen=True)
class Reading:
    at_ms: int  # real time of the reading
    campaigns: list[CampaignVitals]  # the live ones, by slug
    dependencies: dict[str, bool] = field(default_factory=dict)


def is_live(record: CampaignRecord, real_ms: int) -> bool:
    """Started, and not past its end plus the final report's grace (real seconds)."""
    s = record.settings
    clock = clock_of(record)
    grace_end = clock.real_ms_for(s.ends_at) + s.final_grace_seconds * 1000
    return clock.now_ms(real_ms) >= s.starts_at and real_ms < grace_end


class Vitals:
    def __init__(
        self,
        store: Store,
        hot: HotState,
        stream: EventStream,
        watermark: Watermark,
        clock: Clock = SYSTEM_CLOCK,
        timeout_s: float = 5.0,
        cache_s: float = 1.0,
    ) -> None:
        self.store = store
        self.hot = hot
        self.stream = stream
        self.watermark = watermark
        self.clock = clock
        self.timeout_s = timeout_s
        self.cache_s = cache_s
        self._last: Reading | None = None
        self._last_at = 0.0
        self._pending: asyncio.Future[Reading] | None = None
        # Parsed campaign settings kept between readings (Store.list_campaigns' cache):
        # with thousands of campaigns, parsing each one's settings per scrape was most
        # of a scrape's cost.
        self._rows: dict[int, Any] = {}

    async def read(self) -> Reading:
        if self._last is not None and time.monotonic() - self._last_at < self.cache_s:
            return self._last
        if self._pending is not None and not self._pending.done():
            return await asyncio.shield(self._pending)
        self._pending = asyncio.ensure_future(self._read())
        reading = await asyncio.shield(self._pending)
        self._last, self._last_at = reading, time.monotonic()
        return reading

    async def _bounded(self, what: Any) -> Any:
        return await asyncio.wait_for(what, self.timeout_s)

    async def _read(self) -> Reading:
        now = self.clock.now_ms()
        deps: dict[str, bool] = {}
        try:
            await self._bounded(self.hot.redis.ping())
            deps[REDIS] = True
        except Exception:
            deps[REDIS] = False
        try:
            records = await self._bounded(asyncio.to_thread(self.store.list_campaigns, self._rows))
            queued = await self._bounded(asyncio.to_thread(queued_deliveries, self.store.engine))
            deps[DATABASE] = True
        except Exception:
            deps[DATABASE] = False
            return Reading(now, [], deps)  # no campaign list: nothing to say per campaign
        live = sorted((r for r in records if is_live(r, now)), key=lambda r: r.settings.slug)
        slugs = [r.settings.slug for r in live]
        pending: dict[str, int] = {}
        lags: list[float | None] = [None] * len(live)
        restoring: list[bool] = [False] * len(live)
        if deps[REDIS] and live:
            try:
                pending = await self._bounded(self.stream.pending_events(slugs))
                found = await self._bounded(self.watermark.settled_many(live, now, pending))
                lags = [
                    self._lag(r, settled, now) for r, (settled, _) in zip(live, found, strict=True)
                ]
                restoring = [r for _, r in found]
            except Exception as exc:  # half-answered: report what is known
                log.debug("vitals: campaign figures unavailable: %s", exc)
        return Reading(
            now,
            [
                CampaignVitals(
                    slug=r.settings.slug,
                    name=r.settings.name,
                    pending_events=pending.get(r.settings.slug),
                    settled_lag_s=lags[i],
                    restoring=restoring[i],
                    queued_deliveries=queued.get(r.id, 0),
                )
                for i, r in enumerate(live)
            ],
            deps,
        )

    @staticmethod
    def _lag(record: CampaignRecord, settled: int | None, now_real: int) -> float | None:
        if settled is None:
            return None
        campaign_now = clock_of(record).now_ms(now_real)
        return max(0.0, (campaign_now - settled) / 1000)
