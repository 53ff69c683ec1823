"""The stimulus rules' step of a campaign's evaluation (workers/triggers.py): judge
every rule on settled minutes, fire or propose where one decides so, expire overdue
proposals, and count each decision by its reason."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from warroom.adapters.metrics import catalogue as metrics
from warroom.adapters.sql.report_store import ReportStore
from warroom.core.ingest.clock import MINUTE_MS
from warroom.core.live.figures import activity_by_minute
from warroom.core.live.shapes import RawState
from warroom.core.records import CampaignRecord
from warroom.core.reports.rules import (
    HELD_REASONS,
    FeedState,
    RuleState,
    evaluate_rules,
    fire_key,
    proposal_key,
)
from warroom.services import proposals
from warroom.services.announcer import Announcer

log = logging.getLogger(__name__)
PAUSED = "paused"  # a rule that would fire, held by the console's pause switch

# The counters' children by decision reason (a fixed set, core/reports/rules.Reason),
# resolved once each rather than once per rule per tick.
_evaluations: dict[str, Any] = {}
_holds: dict[str, Any] = {}


def count_decision(reason: str) -> None:
    """One rule evaluated: by its decision's reason, and as a hold when the figures
    or the feed could not be trusted (HELD_REASONS)."""
    child = _evaluations.get(reason)
    if child is None:
        child = _evaluations[reason] = metrics.RULE_EVALUATIONS.labels(reason)
    child.inc()
    if reason in HELD_REASONS:
        held = _holds.get(reason)
        if held is None:
            held = _holds[reason] = metrics.RULE_HOLDS.labels(reason)
        held.inc()


async def judge_rules(
    reports: ReportStore,
    announcer: Announcer,
    record: CampaignRecord,
    fires: list[Any],
    raw: RawState,
    now: int,
    settled: int | None,
) -> tuple[bool, list[tuple[str, int | None]], list[Any]]:
    """Rules judge settled minutes only: a minute still being aggregated would
    look like a slump. No watermark (figures restoring) holds every rule. Returns
    whether a rule tried to fire (`fires` no longer holds every fire), each rule's
    (reason, end of its cooldown) for the agenda, and the proposals read."""
    s = record.settings
    # Proposals (contract v3, mode "propose"): read only where a rule proposes. A
    # pending one blocks its rule; any one anchors its rule's cooldown.
    proposed = await open_proposals(reports, announcer, record, now)
    states = {}
    for rule in s.stimulus_rules:
        mine = [f for f in fires if f.rule == rule.name]  # fired only
        asked = [p for p in proposed if p.rule == rule.name]
        last = max(
            [f.at_ms for f in mine] + [p.proposed_at_ms or p.at_ms for p in asked],
            default=None,
        )
        pending = any(p.status == "proposed" for p in asked)
        states[rule.name] = RuleState(len(mine), last, pending)
    spent = sum(f.amount_fen for f in fires)
    minutes = raw.minutes
    feed = FeedState(
        activity_by_minute(minutes), raw.totals.get("last_ts"), restoring=settled is None
    )
    horizon = now if settled is None else min(now, settled)
    tried = False
    decisions: list[tuple[str, int | None]] = []
    for rule, decision in evaluate_rules(
        s, minutes["gmv"], minutes["orders"], horizon, states, spent, feed
    ):
        last = states[rule.name].last_fire_at_ms
        cooldown_end = None if last is None else last + rule.cooldown_minutes * MINUTE_MS
        decisions.append((decision.reason, cooldown_end))
        if decision.fire and s.rules_paused:  # paused in the console
            count_decision(PAUSED)
            continue
        count_decision(decision.reason)
        if not decision.fire:
            continue
        if rule.mode == "propose":  # no fire, no report, no budget: an operator decides
            # every proposal of the rule so far, approved ones included
            attempt = 1 + sum(1 for p in proposed if p.rule == rule.name)
            attempt += sum(1 for f in fires if f.rule == rule.name and f.proposed_at_ms)
            key = proposal_key(rule.name, decision.fire_index, attempt)
            await proposals.propose(reports, record, key, rule, now)
            continue
        tried = True
        await announcer.record_fire(
            record,
            fire_key(rule.name, decision.fire_index),
            rule.name,
            rule.action,
            now,
            metric=rule.metric,
            window_minutes=rule.window_minutes,
            holdout_share=float(rule.holdout_share),
            effect_minutes=rule.effect_window,
            max_fires=rule.max_fires,
        )
    return tried, decisions, proposed


async def open_proposals(
    reports: ReportStore, announcer: Announcer, record: CampaignRecord, now: int
) -> list[Any]:
    """The campaign's proposals not fired (none read without a propose rule). The
    overdue ones expire first (`UPDATE ... WHERE status='proposed' AND
    expires_at_ms < now`), then the stimuli feed is refreshed."""
    if not any(r.mode == "propose" for r in record.settings.stimulus_rules):
        return []
    rows = await asyncio.to_thread(reports.proposals, record.id)
    if any(p.status == "proposed" and (p.expires_at_ms or 0) < now for p in rows):
        if await asyncio.to_thread(reports.expire_proposals, record.id, now):
            log.info("proposals expired for %s", record.settings.slug)
            await announcer.refresh_stimuli(record)
        rows = await asyncio.to_thread(reports.proposals, record.id)
    return rows
