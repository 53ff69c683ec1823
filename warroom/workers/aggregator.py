"""The aggregator: reads campaign streams in a consumer group, applies each batch once.

Crash-safe by construction: hot state changes only through the apply-once script, and
an entry is acknowledged after its events are applied. A worker that dies mid-batch
leaves its entries pending; another reclaims them, and the script skips any event whose
ledger id it has already applied.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import defaultdict
from typing import Any

from warroom.adapters.clock import SYSTEM_CLOCK, Clock
from warroom.adapters.health import OutageLog, is_dependency_error
from warroom.adapters.metrics import catalogue as metrics
from warroom.adapters.redis import keys
from warroom.adapters.redis.appended import Appended
from warroom.adapters.redis.hotstate import HotState
from warroom.adapters.redis.streams import Entry, EventStream

log = logging.getLogger(__name__)
MAX_EVENTS_PER_APPLY = 5000


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Aggregator:
    def __init__(
        self,
        hot: HotState,
        stream: EventStream,
        consumer: str | None = None,
        entries_per_read: int = 100,
        block_ms: int = 1000,
        reclaim_idle_ms: int = 30_000,
        clock: Clock = SYSTEM_CLOCK,
        sweep_s: float = 5.0,
    ) -> None:
        self.clock = clock
        self.hot = hot
        self.stream = stream
        self.redis = hot.redis
        self.consumer = consumer or consumer_name()
        self.entries_per_read = entries_per_read
        self.block_ms = block_ms
        self.reclaim_idle_ms = reclaim_idle_ms
        self.applied_events = 0
        self._slugs: list[str] = []
        self._slugs_at = 0.0
        self._reclaimed_at = 0.0
        self._applied_counters: dict[str, Any] = {}  # slug -> its APPLIED_EVENTS child
        self._grown: set[str] = set()  # streams read from since the last trim
        # Streams are read when their append is announced (adapters/redis/appended.py),
        # and every `sweep_s` all of them, in case an announcement was missed.
        self.appended = Appended(hot.redis)
        self.sweep_s = sweep_s
        self._swept_at = 0.0
        self._more: set[str] = set()  # streams whose last read was full: read again

    def _applied_counter(self, slug: str) -> Any:
        child = self._applied_counters.get(slug)
        if child is None:
            child = metrics.APPLIED_EVENTS.labels(metrics.campaign_label(slug))
            self._applied_counters[slug] = child
        return child

    async def _campaigns(self) -> list[str]:
        if time.monotonic() - self._slugs_at > 1.0 or not self._slugs:
            self._slugs = await self.stream.campaigns()
            self._slugs_at = time.monotonic()
        return self._slugs

    async def step(self, block_ms: int | None) -> int:
        """Reclaim what stalled consumers left, read one round of new entries, apply
        them; returns how many entries were handled (0 = nothing to do)."""
        entries: list[Entry] = []
        if time.monotonic() - self._reclaimed_at >= self.reclaim_idle_ms / 1000 / 2:
            self._reclaimed_at = time.monotonic()
            entries = await self.stream.reclaim_many(
                await self._campaigns(), self.consumer, self.reclaim_idle_ms, self.entries_per_read
            )
        if not entries:
            wanted = await (self._campaigns() if block_ms is None else self._announced(block_ms))
            if wanted:
                entries = await self.stream.read(wanted, self.consumer, self.entries_per_read, None)
            per_stream: dict[str, int] = defaultdict(int)
            for e in entries:
                per_stream[e.slug] += 1
            self._more = {s for s, n in per_stream.items() if n >= self.entries_per_read}
        if entries:
            began = time.perf_counter()
            applied = await self.handle(entries)
            # A batch: read, applied, acknowledged (an exception above observes nothing).
            metrics.AGG_BATCH_SECONDS.observe(time.perf_counter() - began)
            metrics.AGG_BATCH_EVENTS.observe(applied)
        return len(entries)

    async def _announced(self, block_ms: int) -> list[str]:
        """The streams to read now: those announced (waiting up to `block_ms` for one),
        or every stream when a sweep is due or the announcements cannot be trusted."""
        since = time.monotonic() - self._swept_at
        if since >= self.sweep_s:
            self._swept_at = time.monotonic()
            return await self._campaigns()
        wait = 0.0 if self._more else min(block_ms / 1000, self.sweep_s - since)
        try:
            heard = await self.appended.wait(wait)
        except Exception:
            self._swept_at = 0.0  # the next step reads every stream
            raise
        if heard is None:  # a new subscription: what came before it is unknown
            self._swept_at = time.monotonic()
            return await self._campaigns()
        return sorted(heard | self._more)

    async def handle(self, entries: list[Entry]) -> int:
        """Apply and acknowledge `entries`; returns the events applied (events whose
        ledger id hot state had already applied are skipped, not counted)."""
        applied = 0
        by_slug: dict[str, list[Entry]] = defaultdict(list)
        for e in entries:
            by_slug[e.slug].append(e)
        for slug, group in by_slug.items():
            self._grown.add(slug)
            decoded: list[tuple[Entry, list[dict[str, Any]]]] = []
            for entry in group:
                try:
                    decoded.append((entry, entry.events()))
                except Exception as exc:
                    log.error("dead-lettering unreadable entry %s: %s", entry.entry_id, exc)
                    await self.stream.dead_letter(entry, f"unreadable: {exc}")
            n = await self._apply_group(slug, decoded)
            if n:
                self._applied_counter(slug).inc(n)
                applied += n
            await self.redis.publish(keys.CHANGED_CHANNEL, slug)
        return applied

    async def _apply_group(
        self, slug: str, decoded: list[tuple[Entry, list[dict[str, Any]]]]
    ) -> int:
        chunks: list[list[tuple[Entry, list[dict[str, Any]]]]] = [[]]
        size = 0
        for item in decoded:
            if chunks[-1] and size + len(item[1]) > MAX_EVENTS_PER_APPLY:
                chunks.append([])
                size = 0
            chunks[-1].append(item)
            size += len(item[1])
        # Concurrently: while Redis runs one chunk's script, Python folds the next one.
        return sum(await asyncio.gather(*(self._apply_chunk(slug, c) for c in chunks if c)))

    async def _apply_chunk(self, slug: str, chunk: list[tuple[Entry, list[dict[str, Any]]]]) -> int:
        """Returns the events applied (0 for an entry sent to the dead letters)."""
        events = [ev for _, evs in chunk for ev in evs]
        try:
            applied = await self.hot.apply(slug, events, self.clock.now_ms())
            self.applied_events += applied  # after the await: concurrent chunks
            await self.stream.ack([e for e, _ in chunk])
            return applied
        except Exception as exc:
            if is_dependency_error(exc):
                raise  # Redis full or gone: not the entry's fault; it stays pending
            if len(chunk) == 1:
                log.error("dead-lettering entry %s: %s", chunk[0][0].entry_id, exc)
                await self.stream.dead_letter(chunk[0][0], f"apply failed: {exc}")
                return 0
        # One bad entry must not hold back the rest: retry them one by one.
        return sum([await self._apply_chunk(slug, [item]) for item in chunk])

    async def run_until_idle(self, max_rounds: int = 100_000) -> int:
        """Drain everything readable now (tests: ingest, drain, assert — no sleeps)."""
        self._slugs_at = 0.0
        self._reclaimed_at = 0.0
        total = 0
        for _ in range(max_rounds):
            n = await self.step(block_ms=None)
            total += n
            if n == 0:
                return total
        return total

    async def run(self, stop: asyncio.Event) -> None:
        log.info("aggregator %s started", self.consumer)
        try:
            await self._run(stop)
        finally:
            await self.appended.close()

    async def _run(self, stop: asyncio.Event) -> None:
        trimmed_at = time.monotonic()
        outage = OutageLog(log, "aggregation")  # one line per change, not per batch
        while not stop.is_set():
            try:
                await self.step(self.block_ms)
                if time.monotonic() - trimmed_at > 30:
                    trimmed_at = time.monotonic()
                    # Only streams this worker read from: an idle campaign's stream
                    # has not grown, and another worker trims what it read.
                    grown, self._grown = self._grown, set()
                    for slug in sorted(grown):
                        await self.stream.trim(slug)
                outage.ok()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outage.failed(exc)
                await asyncio.sleep(1)
