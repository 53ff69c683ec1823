"""The trigger worker: ticks on the campaign clock (so silence fires too), posts due
battle reports, evaluates stimulus rules, and scores past fires' uplift."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from warroom.adapters.announcer import Announcer
from warroom.adapters.campaigns import real_now_ms
from warroom.adapters.health import OutageLog
from warroom.adapters.hotstate import HotState
from warroom.adapters.report_store import ReportStore
from warroom.adapters.snapshots import load_state
from warroom.adapters.store import CampaignRecord, Store
from warroom.core.campaign import StimulusAction
from warroom.core.reports import due_reports, stimulus_report, stimulus_report_key
from warroom.core.rules import RuleState, evaluate_rules, fire_key, uplift, uplift_windows

log = logging.getLogger(__name__)


class Triggers:
    def __init__(
        self, store: Store, hot: HotState, reports: ReportStore, announcer: Announcer
    ) -> None:
        self.store = store
        self.hot = hot
        self.reports = reports
        self.announcer = announcer
        self._claimed: dict[int, set[str]] = {}  # report keys known taken, per campaign
        self._finished: set[int] = set()
        self._outages: dict[int, OutageLog] = {}

    async def tick(self) -> None:
        listing = self._outages.setdefault(0, OutageLog(log, "trigger tick"))
        try:  # a database outage must not end the trigger task
            records = await asyncio.to_thread(self.store.list_campaigns)
            listing.ok()
        except Exception as exc:
            listing.failed(exc)
            return
        for record in records:
            if record.id in self._finished:
                continue
            # One line per change of state (Redis full, database down), not per tick.
            outage = self._outages.setdefault(
                record.id, OutageLog(log, f"trigger tick for {record.settings.slug}")
            )
            try:
                await self.tick_campaign(record)
                outage.ok()
            except Exception as exc:
                outage.failed(exc)

    async def tick_campaign(self, record: CampaignRecord) -> None:
        s = record.settings
        state = await load_state(self.hot, record, real_now_ms())
        now = state.now_ms
        if now < s.starts_at:
            return
        claimed = self._claimed.get(record.id)
        if claimed is None:
            claimed = await asyncio.to_thread(self.reports.report_keys, record.id)
            self._claimed[record.id] = claimed
        for due in due_reports(s, state.snapshot["totals"]["gmv_fen"], now):
            if due.key in claimed:
                continue
            await self.announcer.post_report(record, state.snapshot, due)
            claimed.add(due.key)
        await self._rules(record, state.snapshot, state.raw.minutes, now)
        await self._announce_fires(record, state.snapshot, claimed)
        if "final" in claimed and await self._all_uplifts_known(record, state.raw.minutes, now):
            self._finished.add(record.id)

    async def _rules(
        self,
        record: CampaignRecord,
        snapshot: dict[str, Any],
        minutes: dict[str, dict[int, int]],
        now: int,
    ) -> None:
        s = record.settings
        if not s.stimulus_rules:
            return
        fires = await asyncio.to_thread(self.reports.fires, record.id)
        states = {}
        for rule in s.stimulus_rules:
            mine = [f for f in fires if f.rule == rule.name]
            states[rule.name] = RuleState(len(mine), max((f.at_ms for f in mine), default=None))
        spent = sum(f.amount_fen for f in fires)
        for rule, decision in evaluate_rules(
            s, minutes["gmv"], minutes["orders"], now, states, spent
        ):
            if not decision.fire or s.rules_paused:  # paused in the console
                continue
            await self.announcer.record_fire(
                record,
                snapshot,
                fire_key(rule.name, decision.fire_index),
                rule.name,
                rule.action,
                now,
                metric=rule.metric,
                window_minutes=rule.window_minutes,
            )
        await self._all_uplifts_known(record, minutes, now)

    async def _announce_fires(
        self, record: CampaignRecord, snapshot: dict[str, Any], claimed: set[str]
    ) -> None:
        """A fire is claimed before its report is posted; a process that died in
        between (a worker, or the web process after a manual fire) left a fire that no
        screen or group heard of. Post its report now: the claim keeps it to one."""
        fires = await asyncio.to_thread(self.reports.fires, record.id)
        for f in fires:
            key = stimulus_report_key(f.key)
            if key in claimed:
                continue
            action = StimulusAction(kind=f.kind, amount_fen=f.amount_fen, text=f.text)
            due = stimulus_report(f.key, f.rule, action, f.at_ms)
            if await self.announcer.post_report(record, snapshot, due) is not None:
                log.warning("announced fire %s of %s late", f.key, record.settings.slug)
                await self.announcer.refresh_stimuli(record)
            claimed.add(key)

    async def _all_uplifts_known(
        self, record: CampaignRecord, minutes: dict[str, dict[int, int]], now: int
    ) -> bool:
        fires = await asyncio.to_thread(self.reports.fires, record.id)
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
        while not stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
