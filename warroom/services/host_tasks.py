"""What a host's page shows of the stimuli (contract v3): the tasks of approved stimuli
("发红包雨" with a 完成 button), and, for a fire with a holdout, whether this host hears
of it at all.

A host link names one seller. That seller sees a fire's banner only when it is a host
of at least one treated group: a host with a task for it (an approved stimulus), else
a seller with recent orders in a treated group (services/treatment.hosts_of). The full
viewer token sees every fire. A fire's treated hosts never change once it fired, so
each process works them out once per fire (a bounded cache): a thousand phones asking
after a fire cost one ledger read, not a thousand."""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import orjson

from warroom.core.ingest.clock import rfc3339
from warroom.core.live.shapes import StimulusItem
from warroom.core.records import CampaignRecord
from warroom.core.reports.schedule import stimulus_report_key
from warroom.services import treatment
from warroom.services.campaigns import clock_of
from warroom.services.refusal import Refused
from warroom.services.runtime import Runtime

CACHE_FIRES = 512
# per store (a process has one; tests make many): (campaign id, fire id) -> the sellers
# who hear of the fire, None: everyone does
Treated = OrderedDict[tuple[int, int], frozenset[str] | None]
_caches: weakref.WeakKeyDictionary[object, Treated] = weakref.WeakKeyDictionary()


async def treated_hosts(rt: Runtime, record: CampaignRecord, fire_id: int) -> frozenset[str] | None:
    """The sellers a fire is announced to; None when it is announced to everyone (no
    holdout, or nobody held out)."""
    _treated = _caches.setdefault(rt.reports, OrderedDict())
    key = (record.id, fire_id)
    if key in _treated:
        _treated.move_to_end(key)
        return _treated[key]
    found: frozenset[str] | None = None
    row = await asyncio.to_thread(rt.reports.fire, record.id, fire_id)
    if row is not None and row.status == "fired" and row.assignment:
        arms = orjson.loads(row.assignment)
        if arms.get("holdout"):
            tasks = await asyncio.to_thread(rt.reports.task_sellers, fire_id)
            if tasks is not None:
                found = frozenset(tasks)
            else:
                hosts = await treatment.hosts_of(rt.store, record.id, arms["treated"], row.at_ms)
                found = frozenset(hosts)
    if row is not None and row.status == "fired":  # settled: worth keeping
        _treated[key] = found
        while len(_treated) > CACHE_FIRES:
            _treated.popitem(last=False)
    return found


async def hidden(
    rt: Runtime, record: CampaignRecord, seller_id: str | None, stimuli: Iterable[StimulusItem]
) -> list[int]:
    """The ids among `stimuli` that a host link of `seller_id` must not see (held out
    of every group the seller hosts); none for the full viewer (`seller_id` None)."""
    if seller_id is None:
        return []
    out = []
    for s in stimuli:
        try:
            fire_id = int(s["id"])
        except (KeyError, TypeError, ValueError):
            continue
        hosts = await treated_hosts(rt, record, fire_id)
        if hosts is not None and seller_id not in hosts:
            out.append(fire_id)
    return out


async def hidden_reports(rt: Runtime, record: CampaignRecord, fire_ids: list[int]) -> list[int]:
    """The `stimulus` reports announcing these fires: a held-out host's page shows
    neither the fire's banner nor its report to paste."""
    if not fire_ids:
        return []
    keys = []
    for fire_id in fire_ids:
        row = await asyncio.to_thread(rt.reports.fire, record.id, fire_id)
        if row is not None:
            keys.append(stimulus_report_key(row.key))
    return await asyncio.to_thread(rt.reports.report_ids, record.id, keys)


async def open_tasks(
    rt: Runtime, record: CampaignRecord, seller_id: str | None
) -> list[dict[str, Any]]:
    """A host's tasks not yet done, oldest first (none without a seller)."""
    if seller_id is None:
        return []
    rows = await asyncio.to_thread(rt.reports.tasks, record.id, seller_id)
    tz = record.settings.timezone
    return [
        {
            "id": r["id"],
            "fire_id": r["fire_id"],
            "rule": r["rule"],
            "kind": r["kind"],
            "text": r["text"],
            "amount_fen": r["amount_fen"],
            "groups": r["groups"],
            "approved_at": rfc3339(r["decided_at_ms"], tz) if r["decided_at_ms"] else None,
        }
        for r in rows
    ]


async def done(
    rt: Runtime, record: CampaignRecord, task_id: int, seller_id: str | None
) -> dict[str, Any]:
    """Mark a task done (idempotent). A host link (`seller_id`) may mark only its own
    seller's tasks: any other answers 404, as an unknown task does. The first done of
    a fire is its time: the stimuli feed is refreshed with it."""
    now = clock_of(record).now_ms(rt.clock.now_ms())
    result = await asyncio.to_thread(rt.reports.task_done, record.id, task_id, now, seller_id)
    if result is None:
        raise Refused(404, f"no task {task_id} for this host")
    fire_id, moved = result
    if moved:
        await rt.announcer.refresh_stimuli(record)
    return {"id": task_id, "fire_id": fire_id, "done": True, "moved_fire_time": moved}
