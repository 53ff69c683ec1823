"""The outbox relay: re-publishes ledger rows that never reached their stream (the
web process died, or Redis was down, between the SQL commit and the stream append).
Re-publishing is safe: aggregation applies each ledger id once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any

import orjson

from warroom.adapters.clock import SYSTEM_CLOCK, Clock
from warroom.adapters.health import OutageLog
from warroom.adapters.redis.streams import EventStream
from warroom.adapters.sql.store import Store

log = logging.getLogger(__name__)


class Relay:
    def __init__(
        self,
        store: Store,
        stream: EventStream,
        grace_ms: int = 5000,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        self.store = store
        self.stream = stream
        self.grace_ms = grace_ms

    async def run_once(self) -> int:
        rows = await asyncio.to_thread(self.store.unrelayed, self.clock.now_ms() - self.grace_ms)
        if not rows:
            return 0
        slugs = {r.id: r.settings.slug for r in await asyncio.to_thread(self.store.list_campaigns)}
        batches: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for lid, campaign_id, body in rows:
            e = orjson.loads(body)
            e["lid"] = lid
            batches[slugs[campaign_id]].append(e)
        await self.stream.publish(batches)
        await asyncio.to_thread(self.store.mark_relayed, [r[0] for r in rows])
        log.info("relayed %d ledger rows that had not reached their stream", len(rows))
        return len(rows)

    async def run(self, stop: asyncio.Event, every_s: float = 2.0) -> None:
        outage = OutageLog(log, "relay")  # one line per change of state, not per pass
        while not stop.is_set():
            try:
                while await self.run_once():
                    pass
                outage.ok()
            except Exception as exc:
                outage.failed(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
