"""Events that arrive by a source (a platform's webhook), recorded exactly as the events
API records its own: each validated by `core/ingest/events.normalize` against the
campaign's `ts` window, then handed to the one ledger writer (same identities, same
duplicates, same per-event rejections, same 429/503 for a whole-request fault).

The events API (`api/campaigns.ingest`) keeps its own validation loop on its fast path
(it reads JSON and NDJSON line by line) and shares `submit`; the two answer in the same
shape: `{accepted, duplicates, rejected: [{index, error}]}`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from warroom.adapters.health import DependencyTimeout, is_dependency_error
from warroom.adapters.metrics import catalogue as metrics
from warroom.core.ingest.events import (
    EventError,
    NormalizedEvent,
    normalize,
    ts_window,
    type_label,
)
from warroom.core.records import CampaignRecord
from warroom.services.campaigns import clock_of
from warroom.services.ledger import DUPLICATE, NEW, OutcomeUnknown, Overloaded
from warroom.web import deps
from warroom.web.errors import ApiError, unavailable


@dataclass
class Tally:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def answer(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def validate(
    record: CampaignRecord, arrival_ms: int, raws: list[tuple[dict[str, Any] | None, str | None]]
) -> tuple[list[NormalizedEvent], list[int], set[int], list[dict[str, Any]]]:
    """Each raw event normalized, or its error: (good, their indexes, the good ones
    stamped on arrival, rejected)."""
    s = record.settings
    window = ts_window(s.starts_at, s.ends_at, arrival_ms, s.timezone)
    good: list[NormalizedEvent] = []
    where: list[int] = []
    stamped: set[int] = set()
    rejected: list[dict[str, Any]] = []
    for i, (raw, error) in enumerate(raws):
        if raw is None:
            rejected.append({"index": i, "error": error or "not an event"})
            continue
        try:
            event = normalize(raw, arrival_ms, window)
        except EventError as exc:
            rejected.append({"index": i, "error": str(exc)})
            continue
        if raw.get("ts") is None:
            stamped.add(len(good))
        good.append(event)
        where.append(i)
    return good, where, stamped, rejected


async def submit(
    request: Request,
    record: CampaignRecord,
    good: list[NormalizedEvent],
    stamped: set[int],
    deadline: float,
) -> list[str]:
    """Hand validated events to the one ledger writer; each one's outcome (NEW,
    DUPLICATE or its error). A whole-request fault is ApiError: 429 when shedding load,
    503 with Retry-After when the ledger cannot answer (saying whether anything may
    have been recorded). The events API and every source share it."""
    rt = deps.runtime(request)
    timeout_s = rt.settings.warroom_dependency_timeout_s
    try:
        outcomes: list[str] = await request.app.state.writer.submit(
            record.id, record.settings.slug, good, rt.clock.now_ms(), stamped, deadline=deadline
        )
        return outcomes
    except Overloaded as exc:
        raise ApiError(
            429, f"shedding load: {exc}", {"Retry-After": "1"}, limit="pending_events"
        ) from None
    except OutcomeUnknown:
        raise unavailable(
            "the ledger did not answer in time; the events may or may not be recorded: "
            "retry (a re-sent event is recognized as a duplicate)",
            timeout_s,
            "database",
        ) from None
    except DependencyTimeout:
        raise unavailable(
            f"the ledger was busy for more than {timeout_s:g} s; nothing was recorded, retry",
            timeout_s,
            "database",
        ) from None
    except Exception as exc:
        if is_dependency_error(exc):
            raise unavailable(
                "could not record events (the database is unavailable); nothing was "
                "recorded, retry",
                timeout_s,
                "database",
            ) from None
        raise


async def record_events(
    request: Request,
    record: CampaignRecord,
    raws: list[tuple[dict[str, Any] | None, str | None]],
    deadline: float,
) -> Tally:
    """Validate and record; raise ApiError (429, 503) when nothing could be recorded."""
    rt = deps.runtime(request)
    arrival_ms = clock_of(record).now_ms(rt.clock.now_ms())
    good, where, stamped, rejected = validate(record, arrival_ms, raws)
    outcomes = await submit(request, record, good, stamped, deadline)
    tally = Tally(rejected=rejected)
    early: Counter[tuple[str, str]] = Counter(
        (type_label(raws[r["index"]][0]), metrics.REJECTED) for r in rejected
    )
    not_new: list[tuple[str, str]] = []
    for n, outcome in enumerate(outcomes):
        if outcome == NEW:
            tally.accepted += 1
        elif outcome == DUPLICATE:
            tally.duplicates += 1
            not_new.append((good[n]["type"], metrics.DUPLICATE))
        else:
            tally.rejected.append({"index": where[n], "error": outcome})
            not_new.append((good[n]["type"], metrics.REJECTED))
    tally.rejected.sort(key=lambda r: r["index"])
    metrics.count_answer(record.settings.slug, (e["type"] for e in good), not_new, early)
    return tally


def deadline_of(request: Request) -> float:
    return time.monotonic() + deps.runtime(request).settings.warroom_dependency_timeout_s
