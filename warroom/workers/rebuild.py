"""Rebuild a campaign's hot state from the ledger (SQL is the truth)."""

from __future__ import annotations

import asyncio
import logging
import os

from warroom.adapters import keys
from warroom.adapters.campaigns import real_now_ms
from warroom.adapters.hotstate import HotState
from warroom.adapters.store import Store
from warroom.adapters.streams import EventStream

log = logging.getLogger(__name__)


def consumer_tag() -> str:
    return f"{os.getpid()}"


async def rebuild(store: Store, hot: HotState, stream: EventStream, slug: str) -> int:
    record = await asyncio.to_thread(store.get_campaign, slug)
    if record is None:
        raise LookupError(f"unknown campaign {slug!r}")
    await hot.wipe(slug)
    await stream.register(slug)
    total = 0
    chunks = store.iter_ledger(record.id)
    while True:
        batch = await asyncio.to_thread(next, chunks, None)
        if batch is None:
            break
        total += await hot.apply(slug, batch, real_now_ms())
    await hot.redis.publish(keys.CHANGED_CHANNEL, slug)
    log.info("rebuilt %s from %d ledger events", slug, total)
    return total


async def restore_lost(store: Store, hot: HotState, stream: EventStream) -> list[str]:
    """At worker start: re-register every campaign, and rebuild any whose hot state is
    gone while its ledger is not (Redis restarted empty)."""
    rebuilt = []
    for record in await asyncio.to_thread(store.list_campaigns):
        slug = record.settings.slug
        await stream.register(slug)
        if await hot.redis.exists(keys.totals(slug)):
            continue
        if not await asyncio.to_thread(store.count_events, record.id):
            continue
        # Several workers may start at once: one rebuilds, the others go on consuming.
        lock = keys.claim(slug, "rebuild")
        if await hot.redis.set(lock, consumer_tag(), nx=True, ex=600):
            try:
                await rebuild(store, hot, stream, slug)
                rebuilt.append(slug)
            finally:
                await hot.redis.delete(lock)
    return rebuilt
