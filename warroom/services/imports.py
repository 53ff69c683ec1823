"""Importing a sheet: every row becomes a v1 event through the ledger writer, as if it
had been POSTed to the events API (same identities, duplicates, conflicts, rejections).

The sheet streams: a chunk of rows is read and validated in a thread, handed to the
writer, and dropped before the next is read, so a 200,000-row file holds one chunk in
memory (docs/imports.md has the figures). A dry run reads the same way, validates, and
looks the identities up in the ledger (read only) instead of writing.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from warroom.adapters.health import DependencyTimeout, is_dependency_error
from warroom.adapters.metrics import catalogue as metrics
from warroom.adapters.sheets import Sheet, SheetError, SheetLimits, Stop, open_sheet
from warroom.adapters.sql.import_store import ImportStore
from warroom.core.imports import (
    Cell,
    Mapping,
    MappingError,
    RowError,
    locate,
    parse_mapping,
    row_event,
)
from warroom.core.ingest.events import (
    EventError,
    NormalizedEvent,
    TsWindow,
    conflict_error,
    differing_fields,
    normalize,
    ts_window,
    type_label,
)
from warroom.core.records import CampaignRecord
from warroom.services.campaigns import clock_of
from warroom.services.ledger import DUPLICATE, NEW, LedgerWriter, OutcomeUnknown, Overloaded
from warroom.services.refusal import Refused
from warroom.settings import ImportSettings

MAX_LISTED = 1_000  # rejections listed in an answer (all are counted)
OVERLOAD_RETRY_S = 0.2

INGEST_IMPORT = metrics.INGEST_SECONDS.labels("import")


@dataclass
class Outcome:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    rejected_count: int = 0
    scanned: int = 0
    stopped: Stop | None = None

    def reject(self, row: int, error: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_LISTED:
            self.rejected.append({"row": row, "error": error})

    def answer(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejected_count": self.rejected_count,
            "stopped": None
            if self.stopped is None
            else {"row": self.stopped.row, "reason": self.stopped.reason},
        }

    def figures(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected_count": self.rejected_count,
        }


def audit_detail(run_id: int, filename: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The audit row of an import (not of a dry run: it changes nothing)."""
    return {
        "run": run_id,
        "file": filename[:100],
        "rows": answer["rows"],
        "accepted": answer["accepted"],
        "duplicates": answer["duplicates"],
        "rejected": answer["rejected_count"],
    }


def limits_of(cfg: ImportSettings) -> SheetLimits:
    return SheetLimits(
        max_rows=cfg.max_rows,
        max_empty_run=cfg.max_empty_run,
        max_unzipped_bytes=cfg.max_unzipped_bytes,
    )


def parse_mapping_json(text: str | bytes | None) -> Any:
    if text is None or not str(text).strip():
        raise Refused(422, 'mapping: required (a JSON object: {"type", "columns"})')
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise Refused(422, f"mapping is not valid JSON: {exc}") from None


@dataclass
class _Chunk:
    events: list[NormalizedEvent]
    rows: list[int]  # the row number of each event
    stamped: set[int]
    rejected: list[tuple[int, str]]
    count: int  # non-empty rows read


def _prepare(
    mapping: Mapping,
    it: Iterator[tuple[int, list[Cell]]],
    size: int,
    arrival_ms: int,
    window: TsWindow,
) -> _Chunk:
    """The next `size` rows, read and validated (in a thread: this is the CPU part)."""
    chunk = _Chunk([], [], set(), [], 0)
    for row, cells in itertools.islice(it, size):
        chunk.count += 1
        try:
            raw = row_event(mapping, cells)
            event = normalize(raw, arrival_ms, window)
        except (RowError, EventError) as exc:
            chunk.rejected.append((row, locate(mapping, str(exc))))
            continue
        if "ts" not in raw:
            chunk.stamped.add(len(chunk.events))
        chunk.events.append(event)
        chunk.rows.append(row)
    return chunk


async def preview(f: IO[bytes], filename: str, limits: SheetLimits, n: int = 5) -> dict[str, Any]:
    """The header and the first `n` non-empty rows, for the console's mapping form."""

    def read() -> dict[str, Any]:
        with open_sheet(f, filename, limits) as sheet:
            rows = [
                {"row": row, "cells": [_shown(c) for c in cells[: len(sheet.header)]]}
                for row, cells in itertools.islice(sheet.rows(), n)
            ]
            return {
                "kind": sheet.kind,
                "encoding": sheet.encoding,
                "header": sheet.header,
                "rows": rows,
            }

    try:
        return await asyncio.to_thread(read)
    except SheetError as exc:
        raise Refused(
            413 if exc.too_large else 422,
            str(exc),
            limit="import_bytes" if exc.too_large else None,
        ) from None


def _shown(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)[:200]


async def import_sheet(
    *,
    record: CampaignRecord,
    f: IO[bytes],
    filename: str,
    raw_mapping: Any,
    dry_run: bool,
    writer: LedgerWriter,
    store: ImportStore,
    cfg: ImportSettings,
    now_ms: Callable[[], int],
    timeout_s: float,
    run_id: int | None = None,
) -> dict[str, Any]:
    """Import (or dry-run) one sheet; returns `{rows, accepted, duplicates, rejected, ...}`.

    Refuses (422) an unreadable file or a mapping that does not fit its header before
    anything is written; a ledger failure midway refuses with 503 and says how far the
    import got (importing the file again is safe: what was recorded is a duplicate)."""
    out = Outcome()
    loop_sheet: Any = None
    cm = open_sheet(f, filename, limits_of(cfg))
    try:
        try:
            loop_sheet = await asyncio.to_thread(cm.__enter__)
        except SheetError as exc:
            raise Refused(
                413 if exc.too_large else 422,
                str(exc),
                limit="import_bytes" if exc.too_large else None,
            ) from None
        sheet: Sheet = loop_sheet
        s = record.settings
        try:
            mapping = parse_mapping(raw_mapping, sheet.header, s.timezone)
        except MappingError as exc:
            raise Refused(422, str(exc)) from None
        arrival_ms = clock_of(record).now_ms(now_ms())
        window = ts_window(s.starts_at, s.ends_at, arrival_ms, s.timezone)
        rows = sheet.rows()
        seen: dict[int, tuple[int, int]] = {}  # dry run: identity → (row, fields digest)
        while True:
            try:
                chunk = await asyncio.to_thread(
                    _prepare, mapping, rows, cfg.chunk_rows, arrival_ms, window
                )
            except SheetError as exc:
                raise Refused(422, f"{exc} (after row {sheet.scanned})") from None
            out.rows += chunk.count
            out.scanned = sheet.scanned
            started = time.monotonic()
            outcomes = (
                await _dry(store, record.id, chunk, seen)
                if dry_run
                else await _write(writer, record, chunk, now_ms, timeout_s, out)
            )
            merged = [(row, err) for row, err in chunk.rejected]
            counts: Counter[tuple[str, str]] = Counter()
            counts[type_label({"type": mapping.type}), metrics.REJECTED] = len(chunk.rejected)
            for n, outcome in enumerate(outcomes):
                kind = chunk.events[n]["type"]
                if outcome == NEW:
                    out.accepted += 1
                    counts[kind, metrics.ACCEPTED] += 1
                elif outcome == DUPLICATE:
                    out.duplicates += 1
                    counts[kind, metrics.DUPLICATE] += 1
                else:
                    merged.append((chunk.rows[n], outcome))
                    counts[kind, metrics.REJECTED] += 1
            if not dry_run:  # a dry run answers, but nothing was ingested
                metrics.count_events(record.settings.slug, counts)
                INGEST_IMPORT.observe(time.monotonic() - started)
            for row, err in sorted(merged):
                out.reject(row, err)
            if run_id is not None:
                await asyncio.to_thread(store.progress, run_id, **out.figures())
            if chunk.count < cfg.chunk_rows:
                break
        out.stopped = sheet.stopped
        out.scanned = sheet.scanned
    finally:
        if loop_sheet is not None:
            await asyncio.to_thread(cm.__exit__, None, None, None)
    return out.answer()


async def _write(
    writer: LedgerWriter,
    record: CampaignRecord,
    chunk: _Chunk,
    now_ms: Callable[[], int],
    timeout_s: float,
    out: Outcome,
) -> list[str]:
    if not chunk.events:
        return []
    events: list[dict[str, Any]] = list(chunk.events)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await writer.submit(
                record.id,
                record.settings.slug,
                events,
                now_ms(),
                chunk.stamped,
                deadline=time.monotonic() + timeout_s,
            )
        except Overloaded:
            if time.monotonic() > deadline:
                raise _stopped(out, chunk, "the ledger is busy (too many events waiting)") from None
            await asyncio.sleep(OVERLOAD_RETRY_S)  # the live ingest goes first
        except OutcomeUnknown:
            raise _stopped(out, chunk, "the ledger did not answer in time") from None
        except DependencyTimeout:
            raise _stopped(
                out, chunk, f"the ledger was busy for more than {timeout_s:g} s"
            ) from None
        except Exception as exc:
            if is_dependency_error(exc):
                raise _stopped(out, chunk, "the database is unavailable") from None
            raise


def _stopped(out: Outcome, chunk: _Chunk, why: str) -> Refused:
    first = chunk.rows[0] if chunk.rows else out.scanned
    return Refused(
        503,
        f"import stopped at row {first}: {why}. Rows before it are recorded"
        f" ({out.accepted} new, {out.duplicates} duplicates); import the file again to"
        " finish (recorded rows come back as duplicates)",
        {"Retry-After": "5"},
    )


def _digest(event: dict[str, Any], stamped: bool) -> int:
    skip = ("lid", "ts") if stamped else ("lid",)
    body = orjson.dumps(
        {k: v for k, v in event.items() if k not in skip}, option=orjson.OPT_SORT_KEYS
    )
    return int.from_bytes(hashlib.blake2b(body, digest_size=8).digest(), "big")


async def _dry(
    store: ImportStore, campaign_id: int, chunk: _Chunk, seen: dict[int, tuple[int, int]]
) -> list[str]:
    """What the writer would answer, without writing: the ledger is read, not changed."""
    if not chunk.events:
        return []
    recorded = await asyncio.to_thread(
        store.recorded, campaign_id, [e["key"] for e in chunk.events]
    )
    outcomes: list[str] = []
    for n, event in enumerate(chunk.events):
        e: dict[str, Any] = dict(event)
        stamped = n in chunk.stamped
        body = recorded.get(e["key"])
        if body is not None:
            diff = differing_fields(orjson.loads(body), e, compare_ts=not stamped)
            outcomes.append(conflict_error(e["key"], diff) if diff else DUPLICATE)
            continue
        ident = int.from_bytes(hashlib.blake2b(e["key"].encode(), digest_size=8).digest(), "big")
        digest = _digest(e, stamped)
        if ident in seen:
            row, first = seen[ident]
            if first == digest:
                outcomes.append(DUPLICATE)
            else:
                kind, _, ident_text = e["key"].partition(":")
                outcomes.append(
                    f"conflict: {kind} {ident_text!r} is already in row {row} with different"
                    " fields; only the first would be recorded"
                )
            continue
        seen[ident] = (chunk.rows[n], digest)
        outcomes.append(NEW)
    return outcomes
