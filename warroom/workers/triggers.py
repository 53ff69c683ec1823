"""The trigger worker: posts due battle reports once their figures are settled (the
watermark, services/watermark.py), evaluates stimulus rules on settled minutes only
(held on a dead feed or while figures restore), scores past fires' uplift and effect,
and puts on the screens' feeds any report or fire whose poster died before pushing it
(services/feeds.py).

Work follows change, not the number of campaigns (issue 22). Each tick drains the
change feed (adapters/redis/changes.py: the slugs whose figures, feeds or settings
moved) and evaluates those campaigns, plus the ones whose next due moment has come
(core/reports/agenda.py: a report slot, a rule's next minute or cooldown end, an
uplift's or effect's window, a proposal's expiry, the end and its grace). An idle
campaign is looked at only when something is due. A new subscription (start, or after
Redis came back) looks at every campaign once; new campaigns are found by a cheap
census of the table each tick, and the whole table is read again every `sweep_s` in
case a settings hint was lost."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from typing import Any

from warroom.adapters.clock import SYSTEM_CLOCK, Clock
from warroom.adapters.health import OutageLog
from warroom.adapters.metrics import catalogue as metrics
from warroom.adapters.redis.changes import ChangeFeed
from warroom.adapters.redis.hotstate import HotState
from warroom.adapters.sql.report_store import ReportStore
from warroom.adapters.sql.store import Store
from warroom.core.campaign import StimulusAction
from warroom.core.live.figures import activity_by_minute, first_activity_ms
from warroom.core.live.shapes import Minutes
from warroom.core.records import CampaignRecord
from warroom.core.reports.agenda import Seen, next_due_real_ms
from warroom.core.reports.rules import (
    uplift,
    uplift_windows,
)
from warroom.core.reports.schedule import Progress, due_reports, stimulus_report_key
from warroom.logconfig import campaign_var
from warroom.services import effects
from warroom.services.announcer import Announcer
from warroom.services.campaigns import clock_of
from warroom.services.feeds import FeedCatchUp
from warroom.workers.rule_step import judge_rules

log = logging.getLogger(__name__)
RETRY_MS = 250  # a due moment whose figures are not settled yet: look again after this
FAILED_RETRY_MS = 1000  # an evaluation that failed (Redis or the database away)
EVALUATE_AT_ONCE = 8  # campaigns evaluated concurrently within one tick


class Triggers:
    def __init__(
        self,
        store: Store,
        hot: HotState,
        reports: ReportStore,
        announcer: Announcer,
        clock: Clock = SYSTEM_CLOCK,
        changes: ChangeFeed | None = None,
        sweep_s: float = 60.0,
        per_tick: int = 200,
    ) -> None:
        self.clock = clock
        self.store = store
        self.hot = hot
        self.reports = reports
        self.announcer = announcer
        self.changes = changes or ChangeFeed(hot.redis)
        self.sweep_s = sweep_s
        self.per_tick = per_tick
        self.evaluations = 0  # campaigns evaluated (tests count them; so does a metric)
        self._claimed: dict[int, set[str]] = {}  # report keys known taken, per campaign
        self._finished: set[int] = set()
        self._outages: dict[int, OutageLog] = {}
        self.feeds = FeedCatchUp(hot, reports, announcer)
        self._feeds_outage = OutageLog(log, "trigger tick: the feeds' catch-up")
        self._changes_outage = OutageLog(log, "trigger tick: the change feed")
        # The agenda: campaigns by id, each one's next due real instant (None: only a
        # change), and a heap of (instant, id) whose stale entries are skipped.
        self._records: dict[int, CampaignRecord] = {}
        self._by_slug: dict[str, int] = {}
        self._rows: dict[int, Any] = {}  # Store.list_campaigns' cache
        self._due: dict[int, int | None] = {}
        self._heap: list[tuple[int, int]] = []
        self._census: tuple[int, int] | None = None
        self._swept_at = float("-inf")

    def due_at(self, campaign_id: int) -> int | None:
        """The real instant the campaign is next evaluated at (None: on a change only)."""
        return self._due.get(campaign_id)

    def _schedule(self, campaign_id: int, at_ms: int | None) -> None:
        self._due[campaign_id] = at_ms
        if at_ms is not None:
            heapq.heappush(self._heap, (at_ms, campaign_id))

    async def tick(self) -> None:
        began = time.perf_counter()
        await self._tick()  # answers every failure itself: a tick always ends
        metrics.TICK_SECONDS.observe(time.perf_counter() - began)

    async def _tick(self) -> None:
        listing = self._outages.setdefault(0, OutageLog(log, "trigger tick"))
        try:
            changes = await self.changes.drain()
            self._changes_outage.ok()
        except Exception as exc:  # Redis away: nothing below could work either
            self._changes_outage.failed(exc)
            return
        now = self.clock.now_ms()
        try:  # a database outage must not end the trigger task
            await self._refresh(changes, now)
            listing.ok()
        except Exception as exc:
            listing.failed(exc)
            return
        for slug in changes.slugs:
            cid = self._by_slug.get(slug)
            if cid is not None and cid not in self._finished:
                self._schedule(cid, now)
        due_now = self._take_due(now)
        # A few at a time: an evaluation mostly waits on Redis and SQL, and a tick after
        # a resync has every campaign to look at.
        gate = asyncio.Semaphore(EVALUATE_AT_ONCE)
        await asyncio.gather(*(self._evaluate(record, gate) for record in due_now))
        # After the campaigns: what this tick posted is on its feed already.
        try:
            await self.feeds.tick(self._records)
            self._feeds_outage.ok()
        except Exception as exc:
            self._feeds_outage.failed(exc)

    async def _evaluate(self, record: CampaignRecord, gate: asyncio.Semaphore) -> None:
        async with gate:
            campaign_var.set(record.settings.slug)  # JSON log lines name the campaign
            # One line per change of state (Redis full, database down), not per tick.
            outage = self._outages.setdefault(
                record.id, OutageLog(log, f"trigger tick for {record.settings.slug}")
            )
            try:
                due = await self.tick_campaign(record)
                outage.ok()
            except Exception as exc:
                outage.failed(exc)
                due = self.clock.now_ms() + FAILED_RETRY_MS
            if record.id not in self._finished:
                self._schedule(record.id, due)

    async def _refresh(self, changes: Any, now: int) -> None:
        """Bring the campaigns up to date: every one on a new subscription or a sweep,
        new or removed ones when the census moved, re-read ones whose settings changed."""
        if changes.resync:
            log.info("change feed subscribed: every campaign is looked at once")
        census = await asyncio.to_thread(self.store.campaign_census)
        sweep = time.monotonic() - self._swept_at >= self.sweep_s
        if changes.resync or sweep or census != self._census:
            records = await asyncio.to_thread(self.store.list_campaigns, self._rows)
            self._swept_at = time.monotonic()
            self._census = census
            fresh = {r.id: r for r in records}
            for cid in self._records.keys() - fresh.keys():
                self._forget(cid)
            for cid, record in fresh.items():
                changed = self._records.get(cid) is not record  # new, or settings moved
                if changed:
                    self._finished.discard(cid)
                if changed or changes.resync:
                    self._schedule(cid, now)
            self._records = fresh
            self._by_slug = {r.settings.slug: r.id for r in records}
        for slug in changes.configs:
            found = await asyncio.to_thread(self.store.get_campaign, slug)
            if found is None:
                continue
            self._records[found.id] = found
            self._by_slug[slug] = found.id
            self._finished.discard(found.id)  # new settings: look again (ends_at moved?)
            self._schedule(found.id, now)

    def _forget(self, campaign_id: int) -> None:
        self._records.pop(campaign_id, None)
        self._due.pop(campaign_id, None)
        self._claimed.pop(campaign_id, None)
        self._finished.discard(campaign_id)

    def _take_due(self, now: int) -> list[CampaignRecord]:
        """The campaigns due at `now`, each once, in the order they fell due: at most
        `per_tick` of them, so that after a resync (every campaign due at once) each
        tick still drains the change feed and reaches the campaigns that changed."""
        out: list[CampaignRecord] = []
        taken: set[int] = set()
        while self._heap and self._heap[0][0] <= now and len(out) < self.per_tick:
            at, cid = heapq.heappop(self._heap)
            if self._due.get(cid) != at or cid in taken:
                continue  # rescheduled since, or already taken
            record = self._records.get(cid)
            if record is None or cid in self._finished:
                continue
            self._due[cid] = None
            taken.add(cid)
            out.append(record)
        return out

    async def tick_campaign(self, record: CampaignRecord) -> int | None:
        """Evaluate one campaign now: post what is due, judge its rules, note uplifts
        and effects. Returns the real instant it should next be evaluated at (None:
        only a change can make anything due; see core/reports/agenda.py)."""
        self.evaluations += 1
        metrics.TRIGGER_EVALUATIONS.inc()
        s = record.settings
        real = self.clock.now_ms()
        clock = clock_of(record)
        now = clock.now_ms(real)
        if now < s.starts_at:
            return clock.real_ms_for(s.starts_at)
        claimed = self._claimed.get(record.id)
        if claimed is None:
            claimed = await asyncio.to_thread(self.reports.report_keys, record.id)
            self._claimed[record.id] = claimed
        settled = await self.announcer.watermark.settled_ms(record, real)
        # Read after the watermark, so they hold every settled event. Totals and the
        # minute series only: nothing here needs a board or a snapshot.
        raw = await self.hot.read_series(s.slug)
        grace_over = real >= clock.real_ms_for(s.ends_at) + s.final_grace_seconds * 1000
        progress = Progress(
            now_ms=now,
            settled_ms=settled,
            gmv_by_minute=raw.minutes["gmv"],
            since_ms=clock.now_ms(record.created_at_ms),
            first_event_ms=first_activity_ms(raw.minutes, raw.totals.get("last_ts")),
            final_ready=settled is not None and settled >= s.ends_at and grace_over,
        )
        for due in due_reports(s, progress):
            if due.key in claimed:
                continue
            await self.announcer.post_report(record, due)
            claimed.add(due.key)
        final = "final" in claimed
        seen = Seen(now, settled, progress.gmv_by_minute, progress.first_event_ms, claimed)
        if not (s.stimulus_rules or settled is not None or final):
            return self._next(record, real, seen)  # nothing below would look at a fire
        # One read of the fires a tick, for the rules, the late announcements and the
        # uplifts. A fire won in this tick is announced by record_fire itself (its feed
        # push is a change: the campaign is looked at again on the next tick); one it
        # could not announce is in the next read (its claim keeps it to one).
        fires = await asyncio.to_thread(self.reports.fires, record.id)
        known: bool | None = None
        tried = False
        decisions: list[tuple[str, int | None]] = []
        proposed: list[Any] = []
        if s.stimulus_rules:
            tried, decisions, proposed = await judge_rules(
                self.reports, self.announcer, record, fires, raw, now, settled
            )
            known = await self._all_uplifts_known(record, fires, raw.minutes, now)
        await self._announce_fires(record, fires, claimed, settled)
        # Each fired stimulus's effect once its window is settled (one per tick; a
        # written one refreshes the stimuli feed, a change: the next is looked at next).
        effects_due = await effects.step(
            self.store, self.reports, self.announcer, record, fires, settled
        )
        if final and not tried:
            if known is None:
                known = await self._all_uplifts_known(record, fires, raw.minutes, now)
            if known and not effects_due:
                self._finished.add(record.id)
                return None
        seen = Seen(
            now,
            settled,
            progress.gmv_by_minute,
            progress.first_event_ms,
            claimed,
            decisions,
            [*fires, *proposed],
            activity_by_minute(raw.minutes).keys() if decisions else (),
        )
        return self._next(record, real, seen)

    def _next(self, record: CampaignRecord, real: int, seen: Seen) -> int | None:
        settle_ms = self.announcer.watermark.settle_ms
        return next_due_real_ms(record.settings, clock_of(record), real, seen, settle_ms, RETRY_MS)

    async def _announce_fires(
        self, record: CampaignRecord, fires: list[Any], claimed: set[str], settled: int | None
    ) -> None:
        """A fire is claimed before its report is posted; a process that died in
        between (a worker, or the web process after a manual fire), or a fire while
        figures were restoring, left a fire that no screen or group heard of. Post its
        report now, from settled figures: the claim keeps it to one."""
        if settled is None:
            return
        for f in fires:
            key = stimulus_report_key(f.key)
            if key in claimed:
                continue
            action = StimulusAction(kind=f.kind, amount_fen=f.amount_fen, text=f.text)
            if await self.announcer.announce_fire(record, f.key, f.rule, action, f.at_ms, settled):
                log.warning("announced fire %s of %s late", f.key, record.settings.slug)
                await self.announcer.refresh_stimuli(record)
            claimed.add(key)

    async def _all_uplifts_known(
        self,
        record: CampaignRecord,
        fires: list[Any],
        minutes: Minutes,
        now: int,
    ) -> bool:
        changed, pending = False, False
        for f in fires:
            if f.uplift is not None:
                continue
            series = minutes["gmv"] if f.metric == "gmv_per_min" else minutes["orders"]
            value = uplift(series, f.at_ms, f.window_minutes, now)
            if value is None:
                # Unknown until the after-window closes; forever unknown if nothing sold before.
                pending = (
                    pending or not uplift_windows(series, f.at_ms, f.window_minutes, now).complete
                )
                continue
            await asyncio.to_thread(self.reports.set_uplift, f.id, value)
            changed = True
        if changed:
            await self.announcer.refresh_stimuli(record)
        return not pending

    async def run(self, stop: asyncio.Event, every_s: float = 0.25) -> None:
        try:
            while not stop.is_set():
                await self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), every_s)
        finally:
            await self.changes.close()
