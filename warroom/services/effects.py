"""Each fired stimulus's effect, once its window is over and settled (docs/stimulus.md).

Called by the trigger worker's tick (`step`), on the fires it has already read:

- A fire is due when its effect window has passed and is settled: campaign time
  `at_ms + effect_minutes` at or before the watermark (services/watermark.py). Only
  fires with status `fired` have an effect (a proposal, dismissed or expired, never
  happened).
- At most one effect is computed per campaign per tick (the earliest window first), so
  a tick's cost stays bounded however many fires wait.
- The ledger is read for the fire's measured span only (`Store.sales_between`, in
  chunks, in a thread): `pre` minutes before the fire and `post` = effect_minutes
  after it, in minutes counted from the fire's instant (minute i after the fire is
  [at + i min, at + (i + 1) min)). Orders add their amount to their group's minute;
  refunds (which name their order, not their group) subtract from the minute the
  refund happened in, in the group of their order (looked up by key), never more than
  the order's amount. Memory: one int per group of the assignment per minute, and the
  refunds of the span.
- `pre` = effect_minutes, at least 3 (the trend needs a line and a spread), cut at the
  campaign's start (a baseline before the sale began would compare with no sale).
- The groups are the fire's assignment (treated and held out); no assignment (or an
  empty one: the draw ran while figures restored) means everyone was treated, and the
  groups are those that sold in the span: the trend method on their totals.
- `core/reports/effect.estimate` gets the series, the action's cost (`amount_fen`) and
  the fire's seed (its id when it has none). The stored JSON is `Effect.as_dict()`
  plus `overlaps` (ids of other fired stimuli whose effect window meets this fire's
  span, core/reports/effect_view.overlapping) and `pre_minutes`.
- Written once: `ReportStore.set_effect` updates the row only while its effect is
  NULL, so two workers racing compute the same figures (seeded) and one writes them;
  the writer refreshes the stimuli feed.
- An approved proposal with hosts' tasks is not due until a host has done it (the
  first done is the fire's time, and its window starts then); while none has, it is
  not waited for.
- A fire whose effect cannot be estimated (no holdout and fewer than 3 minutes of the
  campaign before it) keeps a null effect; it is remembered per process and no longer
  waited for, so the campaign can be done with.
- Events that arrive after the effect was written (later than the watermark) are not
  in it: like a report, an effect describes what was settled.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Collection, Sequence
from typing import Any

import orjson

from warroom.adapters.sql.report_store import ReportStore
from warroom.adapters.sql.store import Store
from warroom.core.ingest.clock import MINUTE_MS
from warroom.core.records import CampaignRecord, FireRecord
from warroom.core.reports.effect import MIN_PRE_MINUTES, Effect, estimate
from warroom.core.reports.effect_view import overlapping
from warroom.core.reports.holdout import Assignment
from warroom.services.announcer import Announcer

log = logging.getLogger(__name__)

FIRED = "fired"
LOOKUP_CHUNK = 500  # refunds' orders looked up per query

# Fires (by id) whose effect cannot be estimated, per report store (one per database):
# not waited for again in this process.
_unestimable: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()


def windows(fire: FireRecord, starts_at_ms: int) -> tuple[int, int]:
    """(pre, post) minutes of a fire's measured span: post = its effect_minutes, pre =
    as long, at least MIN_PRE_MINUTES, within the campaign (never before its start)."""
    post = max(int(fire.effect_minutes), 0)
    room = max((fire.at_ms - starts_at_ms) // MINUTE_MS, 0)
    return min(max(post, MIN_PRE_MINUTES), room), post


def settled_window(fire: FireRecord, settled_ms: int | None) -> bool:
    return settled_ms is not None and fire.at_ms + fire.effect_minutes * MINUTE_MS <= settled_ms


def assignment_of(fire: FireRecord) -> tuple[list[str], list[str]] | None:
    """(treated, holdout) as recorded, or None: everyone was treated."""
    if not fire.assignment:
        return None
    try:
        data = orjson.loads(fire.assignment)
        treated = [str(g) for g in data.get("treated") or []]
        holdout = [str(g) for g in data.get("holdout") or []]
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        log.warning("fire %s: unreadable assignment, taken as everyone treated", fire.id)
        return None
    if not treated and not holdout:
        return None
    return treated, holdout


def ledger_series(
    store: Store,
    campaign_id: int,
    from_ms: int,
    minutes: int,
    groups: Collection[str] | None,
) -> dict[str, list[int]]:
    """Net GMV (fen) per group per minute over [from_ms, from_ms + minutes min), from
    the ledger: orders add, refunds subtract (in their order's group, capped at the
    order's amount). `groups` None: every group that sold. Blocking."""
    to_ms = from_ms + minutes * MINUTE_MS
    wanted = None if groups is None else set(groups)
    series: dict[str, list[int]] = {}
    refunds: list[tuple[str, int, int]] = []  # (order id, amount, minute)
    for chunk in store.sales_between(campaign_id, from_ms, to_ms):
        for e in chunk:
            i = (int(e["ts"]) - from_ms) // MINUTE_MS
            if not 0 <= i < minutes:
                continue
            if e.get("type") == "order":
                group = str(e["group_id"])
                if wanted is not None and group not in wanted:
                    continue
                row = series.get(group)
                if row is None:
                    row = series[group] = [0] * minutes
                row[i] += int(e["amount_fen"])
            elif e.get("type") == "refund":
                refunds.append((str(e["order_id"]), int(e["amount_fen"]), i))
    if refunds:
        order_ids = list(dict.fromkeys(r[0] for r in refunds))
        orders: dict[str, dict[str, Any]] = {}
        for k in range(0, len(order_ids), LOOKUP_CHUNK):
            keys = [f"order:{o}" for o in order_ids[k : k + LOOKUP_CHUNK]]
            orders.update(store.events_by_key(campaign_id, keys))
        left: dict[str, int] = {}
        for order_id, amount, i in refunds:
            o = orders.get(f"order:{order_id}")
            if o is None:
                continue  # its order never came: no group to take it from
            group = str(o["group_id"])
            if wanted is not None and group not in wanted:
                continue
            rest = left.get(order_id, int(o["amount_fen"]))
            taken = min(amount, rest)
            left[order_id] = rest - taken
            if taken:
                series.setdefault(group, [0] * minutes)[i] -= taken
    return series


def _undone_fires(reports: ReportStore, campaign_id: int) -> set[int]:
    """Fires with hosts' tasks none of which is done yet."""
    done: dict[int, bool] = {}
    for t in reports.tasks(campaign_id, open_only=False):
        fid = int(t["fire_id"])
        done[fid] = done.get(fid, False) or t["done_at_ms"] is not None
    return {fid for fid, any_done in done.items() if not any_done}


def compute(
    store: Store, record: CampaignRecord, fire: FireRecord, fires: Sequence[FireRecord]
) -> dict[str, Any] | None:
    """The effect of one fire as stored (`Effect.as_dict()` plus `overlaps` and
    `pre_minutes`), or None when it cannot be estimated. Blocking: reads the ledger."""
    pre, post = windows(fire, record.settings.starts_at)
    arms = assignment_of(fire)
    holdout_usable = arms is not None and len(arms[0]) >= 2 and len(arms[1]) >= 2
    if post < 1 or pre < 1 or (pre < MIN_PRE_MINUTES and not holdout_usable):
        return None
    from_ms = fire.at_ms - pre * MINUTE_MS
    groups = None if arms is None else [*arms[0], *arms[1]]
    series = ledger_series(store, record.id, from_ms, pre + post, groups)
    seed = fire.seed if fire.seed is not None else fire.id
    if arms is None:
        assignment = Assignment(seed, 0.0, tuple(sorted(series)), ())
    else:
        assignment = Assignment(
            seed, fire.holdout_share, tuple(sorted(arms[0])), tuple(sorted(arms[1]))
        )
    effect: Effect | None = estimate(series, pre, post, assignment, fire.amount_fen, seed=seed)
    if effect is None:
        return None
    others = [(f.id, f.at_ms, f.effect_minutes) for f in fires if f.status == FIRED]
    out = effect.as_dict()
    out["overlaps"] = overlapping(fire.id, from_ms, fire.at_ms + post * MINUTE_MS, others)
    out["pre_minutes"] = pre
    return out


async def step(
    store: Store,
    reports: ReportStore,
    announcer: Announcer,
    record: CampaignRecord,
    fires: Sequence[FireRecord],
    settled_ms: int | None,
) -> bool:
    """One step of the trigger tick: compute and write the effect of at most one fire
    whose window is settled, refreshing the stimuli feed when this call wrote it.
    True while a fired stimulus still waits for its effect."""
    skip = _unestimable.get(reports, set())
    waiting = [f for f in fires if f.status == FIRED and f.effect is None and f.id not in skip]
    due = [f for f in waiting if settled_window(f, settled_ms)]
    if any(f.decided_at_ms is not None for f in due):
        # An approved proposal with hosts' tasks fires when the first host has done it
        # (its time moves then): until one has, its window has not begun.
        undone = await asyncio.to_thread(_undone_fires, reports, record.id)
        due = [f for f in due if f.id not in undone]
        waiting = [f for f in waiting if f.id not in undone]
    if not due:
        return bool(waiting)
    fire = min(due, key=lambda f: (f.at_ms + f.effect_minutes * MINUTE_MS, f.id))
    effect = await asyncio.to_thread(compute, store, record, fire, fires)
    if effect is None:
        log.warning("fire %s of %s: no effect can be estimated", fire.id, record.settings.slug)
        _unestimable.setdefault(reports, set()).add(fire.id)
        return len(waiting) > 1
    wrote = await asyncio.to_thread(reports.set_effect, fire.id, orjson.dumps(effect).decode())
    if wrote:
        log.info("effect of fire %s of %s written", fire.id, record.settings.slug)
        await announcer.refresh_stimuli(record)
    return len(waiting) > 1
