"""Rebuild a campaign's hot state from the ledger (SQL is the truth), never in place.

A rebuild opens generation n+1 beside the live one, replays the ledger into it while
the aggregators keep applying new batches to both, then flips the live pointer in one
step: readers see the old figures, then the new ones, nothing in between. The same
path restores a campaign whose hot state was wiped (FLUSHALL, a failover to an empty
replica): the `Restorer` in every worker notices the missing pointer within a second
or two and rebuilds; until then readers answer `restoring`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from warroom.adapters.clock import SYSTEM_CLOCK, Clock
from warroom.adapters.metrics import catalogue as metrics
from warroom.adapters.redis import keys
from warroom.adapters.redis.hotstate import HotState
from warroom.adapters.redis.streams import EventStream
from warroom.adapters.sql.store import Store
from warroom.core.records import CampaignRecord

log = logging.getLogger(__name__)

# Restores the live feeds (reports, stimuli) from SQL after the switch.
FeedRestorer = Callable[[CampaignRecord], Awaitable[None]]
LOCK_S = 600
# Why a campaign's hot state is rebuilt (the `reason` label of the restore metrics):
# `lost` (the Restorer or a worker's start found it gone), `rebuild` (`warroom rebuild`).
RestoreReason = Literal["lost", "rebuild"]


def consumer_tag() -> str:
    return f"{os.getpid()}"


async def rebuild(
    store: Store,
    hot: HotState,
    stream: EventStream,
    slug: str,
    feeds: FeedRestorer | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Replay the ledger into a new generation and switch to it; returns the events
    replayed. Several callers may race: one holds the lock, the others wait for it."""
    record = await asyncio.to_thread(store.get_campaign, slug)
    if record is None:
        raise LookupError(f"unknown campaign {slug!r}")
    lock = keys.claim(slug, "rebuild")
    while not await hot.redis.set(lock, consumer_tag(), nx=True, ex=LOCK_S):
        await asyncio.sleep(0.2)
    try:
        return await _rebuild_locked(store, hot, stream, record, feeds, clock, reason="rebuild")
    finally:
        await hot.redis.delete(lock)


async def _rebuild_locked(
    store: Store,
    hot: HotState,
    stream: EventStream,
    record: CampaignRecord,
    feeds: FeedRestorer | None,
    clock: Clock = SYSTEM_CLOCK,
    *,
    reason: RestoreReason,
) -> int:
    slug = record.settings.slug
    began = time.perf_counter()
    # The group first: entries appended since a wipe must reach the aggregators, which
    # from now on write every batch into the new generation too.
    await stream.register(slug)
    gen = await hot.begin_generation(slug)
    total = 0
    try:
        chunks = store.iter_ledger(record.id)
        while True:
            batch = await asyncio.to_thread(next, chunks, None)
            if batch is None:
                break
            total += await hot.apply(slug, batch, clock.now_ms(), only_gen=gen)
        old = await hot.switch_generation(slug, gen)
    except BaseException:
        await hot.abandon_generation(slug, gen)
        raise
    if feeds is not None:
        await feeds(record)
    await hot.redis.publish(keys.CHANGED_CHANNEL, slug)
    # Counted once it is whole (switched, feeds back): a restore that failed is retried.
    metrics.RESTORE_SECONDS.labels(reason).observe(time.perf_counter() - began)
    metrics.RESTORES.labels(reason).inc()
    metrics.LAST_RESTORE.set(time.time())
    log.info("rebuilt %s from %d ledger events (generation %s -> %d)", slug, total, old, gen)
    return total


async def restore_lost(
    store: Store,
    hot: HotState,
    stream: EventStream,
    feeds: FeedRestorer | None = None,
    cache: dict[int, Any] | None = None,
) -> list[str]:
    """Re-register every campaign, and rebuild any whose hot state is gone (the live
    generation pointer is missing). Run at worker start and then by `Restorer` (whose
    `cache` spares parsing every campaign's settings again on each pass)."""
    records = await asyncio.to_thread(store.list_campaigns, cache)
    if not records:
        return []
    known = {
        m.decode() if isinstance(m, bytes) else str(m)
        for m in await hot.redis.smembers(keys.CAMPAIGNS)
    }
    pipe = hot.redis.pipeline(transaction=False)
    for r in records:
        pipe.exists(keys.generation(r.settings.slug))
    found = await pipe.execute()
    rebuilt = []
    for record, has_gen in zip(records, found, strict=True):
        slug = record.settings.slug
        registered = slug in known
        if not registered:
            await stream.register(slug)
        if has_gen:
            continue
        # Several workers notice at once: one rebuilds, the others go on consuming.
        lock = keys.claim(slug, "rebuild")
        if not await hot.redis.set(lock, consumer_tag(), nx=True, ex=LOCK_S):
            continue
        try:
            if await hot.redis.exists(keys.generation(slug)):
                continue  # another worker finished just before we took the lock
            log.warning("hot state of %s is lost; restoring it from the ledger", slug)
            await _rebuild_locked(store, hot, stream, record, feeds, reason="lost")
            rebuilt.append(slug)
        finally:
            await hot.redis.delete(lock)
    return rebuilt


class Restorer:
    """Checks every `interval_s` that Redis was not emptied and every `full_every_s`
    that each campaign's hot state is there; a wipe while running is repaired within a
    few seconds, without restarting anything."""

    def __init__(
        self,
        store: Store,
        hot: HotState,
        stream: EventStream,
        feeds: FeedRestorer | None = None,
        interval_s: float = 1.0,
        full_every_s: float = 10.0,
    ) -> None:
        self.store = store
        self.hot = hot
        self.stream = stream
        self.feeds = feeds
        self.interval_s = interval_s
        self.full_every_s = full_every_s
        self.restored: list[str] = []
        self._failing = False
        self._cache: dict[int, Any] = {}
        self._full_at = float("-inf")

    async def check(self) -> None:
        """Every campaign when due (every `full_every_s`, on a cluster every pass: one
        node may be emptied alone) or when Redis was emptied (`keys.ALIVE` gone);
        otherwise one EXISTS: with ten thousand campaigns, a full pass each second
        would be the worker's load."""
        full = (
            self.stream.cluster
            or time.monotonic() - self._full_at >= self.full_every_s
            or not await self.hot.redis.exists(keys.ALIVE)
        )
        if not full:
            return
        # Marked before the pass: an emptying during it removes the mark again.
        await self.hot.redis.set(keys.ALIVE, 1)
        self.restored += await restore_lost(
            self.store, self.hot, self.stream, self.feeds, self._cache
        )
        self._full_at = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self.check()
                if self._failing:
                    log.warning("hot-state check works again")
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or SQL down: say so once, not every second
                if not self._failing:
                    log.warning(
                        "hot-state check failed (%s); retrying every %.0f s", exc, self.interval_s
                    )
                self._failing = True
            wait = max(0.05, self.interval_s - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
