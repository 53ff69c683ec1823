"""The ledger writer: the one path by which events become durable, then reach Redis.

Requests hand their validated events to a single writer task. Whatever has queued up
while the previous write ran goes into the next SQL transaction and one stream entry
per campaign, so a burst of single-event POSTs shares one commit and one round trip.

Bounded waits, in total: a job carries the request's deadline (WARROOM_DEPENDENCY_TIMEOUT_S
after the request arrived). The writer drops a job whose deadline has passed before its
write starts (503: nothing recorded); the stream append after a write waits only until
the earliest deadline of the jobs in it (with Redis silent the answer is still 202: the
events are durable and the relay re-publishes them); and a request stops waiting at
its deadline plus a moment whatever the database does (503: the outcome is unknown, a
retry is safe). Before, each step had a timeout of its own: with Redis paused an ingest
answered after 8-11 s, a stream append's timeout after another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from warroom.adapters.health import DependencyTimeout, OutageLog
from warroom.adapters.metrics.catalogue import (
    LEDGER_BATCH_EVENTS,
    LEDGER_COMMIT_SECONDS,
    STREAM_APPEND_SECONDS,
)
from warroom.core.ingest.events import conflict_error, differing_fields
from warroom.services.ports import CampaignStreams, LedgerStore

log = logging.getLogger(__name__)
NEW, DUPLICATE = "new", "duplicate"  # any other outcome is a `conflict: ...` error
ANSWER_GRACE_S = 0.25  # past its deadline, a request waits this long for the writer
MIN_APPEND_WAIT_S = 0.05  # a stream append gets at least this, even at the deadline


class Overloaded(Exception):
    """Too much is queued: shed load (429) rather than grow without bound."""


class OutcomeUnknown(DependencyTimeout):
    """The write neither finished nor failed in time: it may still land. A retry is
    safe (a re-sent identity with the same fields is a duplicate)."""


@dataclass
class _Job:
    campaign_id: int
    slug: str
    events: list[dict[str, Any]]
    received_ms: int
    done: asyncio.Future[list[str]] = field(repr=False)
    deadline: float = float("inf")  # time.monotonic(); not written after it
    stamped: Collection[int] = ()  # indexes of events whose `ts` we stamped on arrival


class LedgerWriter:
    def __init__(
        self,
        store: LedgerStore,
        stream: CampaignStreams,
        max_pending_events: int = 200_000,
        timeout_s: float = 5.0,
    ) -> None:
        self.store = store
        self.stream = stream
        self.max_pending = max_pending_events
        self.timeout_s = timeout_s
        self._queue: list[_Job] = []
        self._queued_events = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._to_mark: list[int] = []
        self._sql_log = OutageLog(log, "ledger (SQL) write")
        self._stream_log = OutageLog(log, "stream append (the relay will re-publish)")
        # One thread: SQLite gets a single writer, PostgreSQL one connection at a time.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")

    @property
    def sql_failing(self) -> bool:
        """The last ledger write failed (locked, timed out, refused)."""
        return self._sql_log.state is not None

    @property
    def stream_failing(self) -> bool:
        """The last stream append failed: new events wait in SQL for the relay."""
        return self._stream_log.state is not None

    def sql_probed(self) -> None:
        """A health probe could start a write again: the last write's failure is stale."""
        self._sql_log.ok()

    def stream_probed(self) -> None:
        """A health probe found Redis taking writes again: the failure flag of the last
        append is stale. Without this it stayed set (and /healthz said `aggregation:
        stalled`) until the next event, however long after the recovery that came."""
        self._stream_log.ok()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ledger-writer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._to_mark:
            with contextlib.suppress(Exception):  # the relay re-publishes; harmless
                await self._in_thread(self.store.mark_relayed, self._to_mark)
        self._pool.shutdown(wait=True)

    async def submit(
        self,
        campaign_id: int,
        slug: str,
        events: list[dict[str, Any]],
        received_ms: int,
        stamped: Collection[int] = (),
        deadline: float | None = None,
    ) -> list[str]:
        """Record events durably; returns, per event, `new`, `duplicate` (the identity
        is recorded with the same fields) or a `conflict: ...` error (recorded with
        different fields: nothing changed). Raises on a failed or timed-out write, in
        which case nothing was recorded (OutcomeUnknown: it may have been). `deadline`
        (time.monotonic()) is the request's; by default the timeout from now."""
        if not events:
            return []
        if self._queued_events + len(events) > self.max_pending:
            raise Overloaded(f"{self._queued_events} events already waiting to be recorded")
        if self._task is None or self._task.done():
            raise RuntimeError("ledger writer is not running")
        fut: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        # If this request gives up first, the writer's answer still counts as seen.
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        if deadline is None:
            deadline = time.monotonic() + self.timeout_s
        self._queue.append(_Job(campaign_id, slug, events, received_ms, fut, deadline, stamped))
        self._queued_events += len(events)
        self._wake.set()
        try:
            # The writer answers by the deadline unless a write is stuck in the
            # database beyond it: then the request stops waiting anyway.
            # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a
            # cancellation that arrives in the loop step in which the answer does, and
            # the cancelled caller then carries on as if nothing happened.
            wait = max(0.0, deadline - time.monotonic()) + ANSWER_GRACE_S
            async with asyncio.timeout(wait):
                return await asyncio.shield(fut)
        except TimeoutError:
            raise OutcomeUnknown(f"the ledger did not answer within {self.timeout_s:g} s") from None

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                jobs, self._queue = self._queue, []
                self._queued_events -= sum(len(j.events) for j in jobs)
                jobs = self._drop_expired(jobs)
                if not jobs:
                    continue
                try:
                    await self._write(jobs)
                    self._sql_log.ok()
                except Exception as exc:  # the requests get a 503; the writer lives on
                    self._sql_log.failed(exc)
                    for j in jobs:
                        if not j.done.done():
                            j.done.set_exception(exc)
            if self._to_mark:  # idle: record what reached the stream
                to_mark, self._to_mark = self._to_mark, []
                try:
                    await self._in_thread(self.store.mark_relayed, to_mark)
                except Exception as exc:
                    self._sql_log.failed(exc)  # the relay may resend them: harmless

    def _drop_expired(self, jobs: list[_Job]) -> list[_Job]:
        now = time.monotonic()
        live = []
        for j in jobs:
            if j.deadline < now:
                if not j.done.done():
                    j.done.set_exception(
                        DependencyTimeout(f"the ledger was busy for more than {self.timeout_s:g} s")
                    )
            elif not j.done.done():  # a request that gave up is not written
                live.append(j)
        return live

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
        started = time.monotonic()
        try:
            inserted, existing = await self._in_thread(self.store.append_checked, rows, to_mark)
        except BaseException:
            self._to_mark.extend(to_mark)  # not marked: try again with the next write
            raise
        LEDGER_COMMIT_SECONDS.observe(time.monotonic() - started)
        LEDGER_BATCH_EVENTS.observe(len(rows))
        results = [[NEW] * len(j.events) for j in jobs]
        batches: dict[str, list[dict[str, Any]]] = {}
        lids: list[int] = []
        everything_new = len(inserted) == sum(len(j.events) for j in jobs)
        for jn, job in enumerate([] if everything_new else jobs):
            for en, e in enumerate(job.events):
                ident = (job.campaign_id, e["key"])
                if ident in inserted and owner[ident] == (jn, en):
                    continue
                if ident in inserted:  # lost the race to an identical identity in flight
                    first = owner[ident]
                    stored = jobs[first[0]].events[first[1]]
                else:
                    stored = orjson.loads(existing[ident]) if ident in existing else e
                diff = differing_fields(stored, e, compare_ts=en not in job.stamped)
                results[jn][en] = conflict_error(e["key"], diff) if diff else DUPLICATE
        for ident, lid in inserted.items():
            jn, en = owner[ident]
            job = jobs[jn]
            event = job.events[en]  # ours (normalized for this request): tag it in place
            event["lid"] = lid
            batches.setdefault(job.slug, []).append(event)
            lids.append(lid)
        # Durable now. Hand the events to Redis before answering, so that a client that
        # hears 202 and then drains the workers sees its events counted. Bounded: with
        # Redis down or full the answer is still a prompt 202 (the write is durable) and
        # the relay in the worker re-publishes the rows later.
        if batches:
            # Only until the earliest deadline among these requests: their answers
            # are due then, and the relay re-publishes whatever did not get through.
            started = time.monotonic()
            left = min(j.deadline for j in jobs) - started
            try:
                await asyncio.wait_for(
                    self.stream.publish(batches), min(self.timeout_s, max(MIN_APPEND_WAIT_S, left))
                )
                STREAM_APPEND_SECONDS.observe(time.monotonic() - started)
                self._to_mark.extend(lids)
                self._stream_log.ok()
            except Exception as exc:
                self._stream_log.failed(exc)
        for job, res in zip(jobs, results, strict=True):
            if not job.done.done():
                job.done.set_result(res)
