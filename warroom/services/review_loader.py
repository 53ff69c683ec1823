"""The retrospective, computed from the ledger (adapters/sql/review_store.py reads it
in chunks) and kept for the next viewer."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson

from warroom.adapters.sql.report_store import ReportStore
from warroom.adapters.sql.review_store import ReviewStore
from warroom.core.ingest.clock import parse_instant
from warroom.core.records import CampaignRecord
from warroom.core.review.retrospective import Refund, ReviewBuilder
from warroom.core.review.shapes import Review
from warroom.core.review.view import Fire, Report, build_review, checkpoints
from warroom.services.campaigns import clock_of


def late_cutoff_ms(record: CampaignRecord, reports: list[Any]) -> int | None:
    """Real time after which an arriving event is 'late' (after the final report was
    written); None while there is no final report. The memo's `written_ms` (real time)
    when present; else the later of its campaign-clock `at` (in reports whose memo
    records when they were written) and the earliest a final may be written, `ends_at`
    plus `final_grace_seconds`, both turned back into real time."""
    final = next((r for r in reports if r.kind == "final"), None)
    if final is None:
        return None
    s = record.settings
    clock = clock_of(record)
    grace_ms = int(getattr(s, "final_grace_seconds", 30) * 1000)
    earliest = clock.real_ms_for(s.ends_at) + grace_ms
    try:
        memo = orjson.loads(final.memo_json)
    except (orjson.JSONDecodeError, TypeError):
        return earliest
    if isinstance(memo, dict) and isinstance(memo.get("written_ms"), int):
        return int(memo["written_ms"])
    try:
        at = parse_instant(memo["at"])
    except (KeyError, ValueError, TypeError):
        return earliest
    return max(clock.real_ms_for(at), earliest)


class ReviewLoader:
    """Computes the review from the ledger, and keeps the last few results: a finished
    sale's ledger does not change, so its review is computed once. The cache key is the
    ledger's high-water mark, the settings, the reports and fires seen. During the sale
    the ledger grows with every order, so a result up to `live_reuse_s` old is served
    instead of a rescan per view ("so far" figures, at most a minute behind). One
    computation per campaign at a time: concurrent first views wait for it."""

    def __init__(
        self, engine: Any, reports: ReportStore, keep: int = 4, live_reuse_s: float = 60.0
    ) -> None:
        self.store = ReviewStore(engine)
        self.reports = reports
        self.keep = keep
        self.live_reuse_s = live_reuse_s
        self._cache: dict[tuple[Any, ...], tuple[Review, int | None]] = {}
        self._live: dict[int, tuple[float, tuple[Review, int | None]]] = {}
        self._lock = threading.Lock()
        self._busy: dict[int, threading.Lock] = {}

    def load(self, record: CampaignRecord, real_now: int) -> tuple[Review, int | None]:
        """(review model, late cutoff). Blocking: call it in a thread."""
        s = record.settings
        now = clock_of(record).now_ms(real_now)
        live = now < s.ends_at
        with self._lock:
            busy = self._busy.setdefault(record.id, threading.Lock())
        with busy:
            report_rows = self.reports.reports(record.id)
            fire_rows = self.reports.fires(record.id)
            key = (
                record.id, s.model_dump_json(), self.store.high_water(record.id), live,
                tuple((r.id, r.uplift, r.status, r.effect) for r in fire_rows), len(report_rows),
            )  # fmt: skip
            with self._lock:
                hit = self._cache.get(key)
                recent = self._live.get(record.id)
            if hit is not None:
                return hit
            if live and recent and time.monotonic() - recent[0] < self.live_reuse_s:
                return recent[1]
            result = self._compute(record, now, report_rows, fire_rows)
            with self._lock:
                self._cache[key] = result
                while len(self._cache) > self.keep:
                    self._cache.pop(next(iter(self._cache)))
                if live:
                    self._live[record.id] = (time.monotonic(), result)
            return result

    def _compute(
        self, record: CampaignRecord, now: int, report_rows: list[Any], fire_rows: list[Any]
    ) -> tuple[Review, int | None]:
        s = record.settings
        cutoff = late_cutoff_ms(record, report_rows)
        refunds = [
            Refund(r.lid, r.event["order_id"], r.event["amount_fen"], r.ts)
            for chunk in self.store.rows(record.id, ("refund",))
            for r in chunk
        ]
        builder = ReviewBuilder(checkpoints(s), refunds, cutoff)
        for chunk in self.store.rows(record.id):
            for r in chunk:
                builder.add(r.lid, r.type, r.ts, r.received_ms, r.event)
        facts = builder.finish()
        reports = [Report(r.id, r.key, r.kind, r.at_ms, r.text) for r in report_rows]
        fires = [
            Fire(
                r.id, r.rule, r.kind, r.at_ms, r.amount_fen, r.window_minutes, r.text,
                r.status, r.effect_minutes, orjson.loads(r.effect) if r.effect else None,
            )
            for r in fire_rows
        ]  # fmt: skip
        return build_review(s, facts, reports, fires, now), cutoff
