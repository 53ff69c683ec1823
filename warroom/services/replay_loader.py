"""Load a finished campaign's replay from the SQL ledger (never from Redis hot state,
which may be long gone for an old campaign), in chunks, and keep the last few.

A replay is built once per campaign and ledger state: ten viewers opening it share
one scan (concurrent first viewers wait for the one build in progress)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from warroom.adapters.sql.report_store import ReportStore, report_view
from warroom.adapters.sql.review_store import ReviewStore
from warroom.core.ingest.clock import rfc3339
from warroom.core.live.shapes import ReportItem, StimulusItem
from warroom.core.records import CampaignRecord
from warroom.core.review.replay import Replay, ReplayBuilder
from warroom.core.review.retrospective import Refund
from warroom.services.announcer import fire_view


@dataclass(frozen=True)
class LoadedReplay:
    replay: Replay
    reports: list[tuple[int, ReportItem]]  # (at_ms, view), by time then id
    stimuli: list[StimulusItem]  # fire views, by time then id
    stimuli_at: list[int]


class ReplayLoader:
    def __init__(self, engine: Any, reports: ReportStore, keep: int = 4) -> None:
        self.store = ReviewStore(engine)
        self.reports = reports
        self.keep = keep
        self.builds = 0  # ledger scans done (tests: ten viewers, one scan)
        self._cache: OrderedDict[tuple[Any, ...], LoadedReplay] = OrderedDict()
        self._lock = threading.Lock()
        self._busy: dict[int, threading.Lock] = {}

    def load(self, record: CampaignRecord) -> LoadedReplay:
        """Blocking: call it in a thread. The key is the ledger's high-water mark (it
        only grows), the settings, and the reports and fires, so a late event or a
        new report gives a fresh replay and nothing else does."""
        with self._lock:
            busy = self._busy.setdefault(record.id, threading.Lock())
        with busy:
            report_rows = self.reports.reports(record.id)
            fire_rows = self.reports.fires(record.id)
            key = (
                record.id,
                record.settings.model_dump_json(),
                self.store.high_water(record.id),
                tuple(r.id for r in report_rows),
                tuple((r.id, r.uplift) for r in fire_rows),
            )
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit
            loaded = self._build(record, report_rows, fire_rows)
            with self._lock:
                self.builds += 1
                self._cache[key] = loaded
                while len(self._cache) > self.keep:
                    self._cache.popitem(last=False)
            return loaded

    def _build(
        self, record: CampaignRecord, report_rows: list[Any], fire_rows: list[Any]
    ) -> LoadedReplay:
        s = record.settings
        refunds = [
            Refund(r.lid, r.event["order_id"], r.event["amount_fen"], r.ts)
            for chunk in self.store.rows(record.id, ("refund",))
            for r in chunk
        ]
        builder = ReplayBuilder(refunds)
        for chunk in self.store.rows(record.id):
            for r in chunk:
                builder.add(r.lid, r.type, r.ts, r.received_ms, r.event)
        replay = builder.build(s)

        def tz_render(ms: int) -> str:
            return rfc3339(ms, s.timezone)

        reports = sorted(
            ((r.at_ms, r.id, report_view(r, tz_render)) for r in report_rows),
            key=lambda x: (x[0], x[1]),
        )
        fires = sorted(fire_rows, key=lambda r: (r.at_ms, r.id))
        return LoadedReplay(
            replay,
            [(at, view) for at, _id, view in reports],
            [fire_view(r, s.timezone) for r in fires],
            [r.at_ms for r in fires],
        )
