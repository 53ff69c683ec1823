"""Read the ledger for the retrospective and the exports: in id order, in chunks, so
neither the page nor a CSV ever holds the whole ledger in memory."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from warroom.adapters.campaigns import clock_of
from warroom.adapters.report_store import ReportStore
from warroom.adapters.store import CampaignRecord, LedgerEvent
from warroom.core.clock import minute_floor, parse_instant
from warroom.core.review import Refund, ReviewBuilder
from warroom.core.review_view import Fire, Report, build_review, checkpoints

CHUNK = 5000


@dataclass(frozen=True, slots=True)
class LedgerRow:
    lid: int
    type: str
    ts: int
    received_ms: int
    event: dict[str, Any]


class ReviewStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def rows(
        self, campaign_id: int, types: tuple[str, ...] | None = None, chunk: int = CHUNK
    ) -> Iterator[list[LedgerRow]]:
        """The ledger of a campaign, oldest id first, `chunk` rows at a time (keyset
        pagination: each chunk is its own short query, no cursor held open across a
        slow client)."""
        t = LedgerEvent.__table__
        after = 0
        cond = [t.c.campaign_id == campaign_id]
        if types:
            cond.append(t.c.type.in_(types))
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(t.c.id, t.c.type, t.c.ts_ms, t.c.received_ms, t.c.body)
                    .where(*cond, t.c.id > after)
                    .order_by(t.c.id)
                    .limit(chunk)
                ).all()
            if not rows:
                return
            after = rows[-1][0]
            yield [LedgerRow(r[0], r[1], r[2], r[3], orjson.loads(r[4])) for r in rows]

    def high_water(self, campaign_id: int) -> int:
        """The highest ledger id: the ledger only grows, so this changes whenever it does."""
        t = LedgerEvent.__table__
        with self.engine.connect() as conn:
            top = conn.execute(
                select(func.max(t.c.id)).where(t.c.campaign_id == campaign_id)
            ).scalar_one()
        return int(top or 0)


def late_cutoff_ms(record: CampaignRecord, reports: list[Any]) -> int | None:
    """Real time after which an arriving event is 'late': when the final report was
    written (its memo's campaign-clock `at`, converted back to real time). None while
    there is no final report."""
    final = next((r for r in reports if r.kind == "final"), None)
    if final is None:
        return None
    clock = clock_of(record)
    try:
        written = parse_instant(orjson.loads(final.memo_json)["at"])
    except (KeyError, ValueError, TypeError, orjson.JSONDecodeError):
        grace = getattr(record.settings, "final_grace_seconds", 30)
        return clock.real_ms_for(record.settings.ends_at) + int(grace * 1000)
    return clock.real_ms_for(max(written, record.settings.ends_at))


class ReviewLoader:
    """Computes the review from the ledger, and keeps the last few results: a finished
    sale's ledger does not change, so its review is computed once. The cache key is
    the ledger's high-water mark, the reports and fires seen, and (during the sale)
    the campaign minute."""

    def __init__(self, engine: Engine, reports: ReportStore, keep: int = 4) -> None:
        self.store = ReviewStore(engine)
        self.reports = reports
        self.keep = keep
        self._cache: dict[tuple[Any, ...], tuple[dict[str, Any], int | None]] = {}
        self._lock = threading.Lock()

    def load(self, record: CampaignRecord, real_now: int) -> tuple[dict[str, Any], int | None]:
        """(review model, late cutoff). Blocking: call it in a thread."""
        s = record.settings
        now = clock_of(record).now_ms(real_now)
        report_rows = self.reports.reports(record.id)
        fire_rows = self.reports.fires(record.id)
        top = self.store.high_water(record.id)
        live_minute = None if now >= s.ends_at else minute_floor(now)
        key = (
            record.id, s.model_dump_json(), top, live_minute,
            tuple((r.id, r.uplift) for r in fire_rows), len(report_rows),
        )  # fmt: skip
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
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
            Fire(r.id, r.rule, r.kind, r.at_ms, r.amount_fen, r.window_minutes, r.text)
            for r in fire_rows
        ]
        result = (build_review(s, facts, reports, fires, now), cutoff)
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > self.keep:
                self._cache.pop(next(iter(self._cache)))
        return result
