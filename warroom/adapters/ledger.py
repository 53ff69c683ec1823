"""The ledger writer: the one path by which events become durable, then reach Redis.

Requests hand their validated events to a single writer task. Whatever has queued up
while the previous write ran goes into the next SQL transaction and one stream entry
per campaign, so a burst of single-event POSTs shares one commit and one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from warroom.adapters.store import Store
from warroom.adapters.streams import EventStream

log = logging.getLogger(__name__)


class Overloaded(Exception):
    """Too much is queued: shed load (429) rather than grow without bound."""


@dataclass
class _Job:
    campaign_id: int
    slug: str
    events: list[dict[str, Any]]
    received_ms: int
    done: asyncio.Future[list[bool]] = field(repr=False)


class LedgerWriter:
    def __init__(
        self, store: Store, stream: EventStream, max_pending_events: int = 200_000
    ) -> None:
        self.store = store
        self.stream = stream
        self.max_pending = max_pending_events
        self._queue: list[_Job] = []
        self._queued_events = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._to_mark: list[int] = []
        # One thread: SQLite gets a single writer, PostgreSQL one connection at a time.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ledger-writer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._to_mark:
            await self._in_thread(self.store.mark_relayed, self._to_mark)
        self._pool.shutdown(wait=True)

    async def submit(
        self, campaign_id: int, slug: str, events: list[dict[str, Any]], received_ms: int
    ) -> list[bool]:
        """Record events durably; returns, per event, True if new, False if a duplicate."""
        if not events:
            return []
        if self._queued_events + len(events) > self.max_pending:
            raise Overloaded(f"{self._queued_events} events already waiting to be recorded")
        if self._task is None or self._task.done():
            raise RuntimeError("ledger writer is not running")
        fut: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(campaign_id, slug, events, received_ms, fut))
        self._queued_events += len(events)
        self._wake.set()
        return await fut

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                jobs, self._queue = self._queue, []
                self._queued_events -= sum(len(j.events) for j in jobs)
                try:
                    await self._write(jobs)
                except Exception as exc:  # the requests get a 503; the writer lives on
                    log.exception("ledger write failed")
                    for j in jobs:
                        if not j.done.done():
                            j.done.set_exception(exc)
            if self._to_mark:  # idle: record what reached the stream
                to_mark, self._to_mark = self._to_mark, []
                try:
                    await self._in_thread(self.store.mark_relayed, to_mark)
                except Exception:
                    log.exception("could not mark relayed rows; the relay may resend them")

    async def _write(self, jobs: list[_Job]) -> None:
        rows: list[dict[str, Any]] = []
        owner: dict[tuple[int, str], tuple[int, int]] = {}
        for jn, job in enumerate(jobs):
            for en, e in enumerate(job.events):
                ident = (job.campaign_id, e["key"])
                if ident in owner:
                    continue  # the same identity twice in flight: the first one wins
                owner[ident] = (jn, en)
                rows.append(
                    {
                        "campaign_id": job.campaign_id,
                        "key": e["key"],
                        "type": e["type"],
                        "ts_ms": e["ts"],
                        "received_ms": job.received_ms,
                        "body": orjson.dumps(e).decode(),
                    }
                )
        to_mark, self._to_mark = self._to_mark, []
        inserted = await self._in_thread(self.store.append, rows, to_mark)
        results = [[False] * len(j.events) for j in jobs]
        batches: dict[str, list[dict[str, Any]]] = {}
        lids: list[int] = []
        for ident, lid in inserted.items():
            jn, en = owner[ident]
            results[jn][en] = True
            job = jobs[jn]
            event = job.events[en]  # ours (normalized for this request): tag it in place
            event["lid"] = lid
            batches.setdefault(job.slug, []).append(event)
            lids.append(lid)
        # Durable now. Hand the events to Redis before answering, so that a client that
        # hears 202 and then drains the workers sees its events counted.
        if batches:
            try:
                await self.stream.publish(batches)
                self._to_mark.extend(lids)
            except Exception:
                # The relay in the worker re-publishes unrelayed rows; nothing is lost.
                log.exception("stream append failed; the relay will retry")
        for job, res in zip(jobs, results, strict=True):
            if not job.done.done():
                job.done.set_result(res)
