"""A human in the loop (contract v3, "Stimulus that proves itself"): a rule in
`mode: "propose"` does not fire; the trigger worker claims a proposal, an operator
approves or dismisses it in the console (or the API), and an unanswered one expires
after the rule's `propose_ttl_minutes` of campaign time.

A proposal spends nothing and posts nothing. Its approval is the fire: one atomic
transition that counts the budget and the rule's max fires (fired stimuli only), draws
the holdout, makes the row `fired` at the approval's time and writes one task per host
of the treated groups (adapters/sql/proposal_store.py); then the stimulus report goes
out as for any fire (services/announcer.py `fired`). The fire's time moves to the first
host's "done" (services/host_tasks.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from warroom.adapters.sql.report_store import ReportStore
from warroom.core.campaign import StimulusAction, StimulusRule
from warroom.core.ingest.clock import MINUTE_MS
from warroom.core.live.shapes import StimulusItem
from warroom.core.people import current_actor
from warroom.core.records import CampaignRecord, FireRecord
from warroom.core.reports.rules import RuleState, evaluate_rule
from warroom.services import treatment
from warroom.services.announcer import fire_view
from warroom.services.campaigns import clock_of
from warroom.services.refusal import Refused
from warroom.services.runtime import Runtime

log = logging.getLogger(__name__)

WHY_NOT = {
    "budget": "over budget: the stimulus budget has {left} fen left, this proposal costs {cost}",
    "max_fires": "the rule has fired its max fires already",
    "expired": "the proposal expired before it was decided",
    "fired": "the proposal was approved already",
    "dismissed": "the proposal was dismissed already",
}


async def propose(
    reports: ReportStore, record: CampaignRecord, key: str, rule: StimulusRule, now_ms: int
) -> bool:
    """Claim the proposal `key` of `rule` at `now_ms` (campaign time), expiring after
    the rule's `propose_ttl_minutes`; True when this call claimed it."""
    action = rule.action
    claim = await asyncio.to_thread(
        reports.claim_fire,
        campaign_id=record.id,
        key=key,
        rule=rule.name,
        kind=action.kind,
        metric=rule.metric,
        window_minutes=rule.window_minutes,
        at_ms=now_ms,
        amount_fen=action.amount_fen,
        text=action.text,
        manual=False,
        status="proposed",
        proposed_at_ms=now_ms,
        expires_at_ms=now_ms + rule.propose_ttl_minutes * MINUTE_MS,
        holdout_share=float(rule.holdout_share),
        effect_minutes=rule.effect_window,
    )
    if claim.won:
        log.info("stimulus %s proposed for %s", key, record.settings.slug)
    return claim.won


def _rule(record: CampaignRecord, name: str) -> StimulusRule | None:
    return next((r for r in record.settings.stimulus_rules if r.name == name), None)


async def _row(rt: Runtime, record: CampaignRecord, fire_id: int) -> FireRecord:
    row = await asyncio.to_thread(rt.reports.fire, record.id, fire_id)
    if row is None:
        raise Refused(404, f"no stimulus {fire_id} in this campaign")
    return row


AFTER_END = "the campaign has ended: a proposal can no longer be approved (dismiss it)"


async def _refuse(rt: Runtime, record: CampaignRecord, row: FireRecord, why: str) -> Refused:
    if why == "missing":
        return Refused(404, f"no stimulus {row.id} in this campaign")
    if why == "budget":
        total = record.settings.stimulus_budget_fen or 0
        spent = await asyncio.to_thread(rt.reports.spent_fen, record.id)
        text = WHY_NOT["budget"].format(left=max(total - spent, 0), cost=row.amount_fen)
        return Refused(409, text)
    return Refused(409, WHY_NOT.get(why, f"the proposal is {why}"))


async def approve(rt: Runtime, record: CampaignRecord, fire_id: int) -> StimulusItem:
    """Approve a proposal: it fires now. Refused 404 (no such stimulus) or 409
    (decided already, expired, over budget, max fires reached, the campaign ended),
    with nothing changed."""
    row = await _row(rt, record, fire_id)
    if row.status != "proposed":
        raise await _refuse(rt, record, row, row.status)
    s = record.settings
    now = clock_of(record).now_ms(rt.clock.now_ms())
    if now >= s.ends_at:  # a fire after the close reaches groups whose sale is over
        raise Refused(409, AFTER_END)
    rule = _rule(record, row.rule)
    # Drawn and looked up before the transition (I/O outside the transaction); only
    # the winner's are written, with the row that becomes `fired`.
    drawn = (
        await treatment.draw(rt.hot, s.slug, row.holdout_share) if row.holdout_share > 0 else None
    )
    if drawn is not None:
        treated: list[str] = list(drawn.treated)
    else:
        treated = sorted(await rt.hot.group_sales(s.slug) or {})
    hosts = await treatment.hosts_of(rt.store, record.id, treated, now) if treated else {}
    won, why = await asyncio.to_thread(
        rt.reports.decide,
        record.id,
        fire_id,
        now,
        current_actor().label,
        approve=True,
        budget_fen=s.stimulus_budget_fen,
        max_fires=rule.max_fires if rule else None,
        assignment=drawn.as_dict() if drawn is not None else None,
        tasks=hosts,
    )
    if not won:
        raise await _refuse(rt, record, row, why)
    await asyncio.to_thread(
        rt.store.audit,
        record.id,
        rt.clock.now_ms(),
        "stimulus_approve",
        {"id": fire_id, "rule": row.rule, "amount_fen": row.amount_fen, "hosts": len(hosts)},
    )
    action = StimulusAction(kind=row.kind, amount_fen=row.amount_fen, text=row.text)  # type: ignore[arg-type]
    return await rt.announcer.fired(record, fire_id, row.key, row.rule, action, now)


async def dismiss(rt: Runtime, record: CampaignRecord, fire_id: int) -> StimulusItem:
    """Dismiss a proposal: it never fires. Refused 404 or 409 as `approve`."""
    row = await _row(rt, record, fire_id)
    now = clock_of(record).now_ms(rt.clock.now_ms())
    won, why = await asyncio.to_thread(
        rt.reports.decide, record.id, fire_id, now, current_actor().label, approve=False
    )
    if not won:
        raise await _refuse(rt, record, row, why)
    await asyncio.to_thread(
        rt.store.audit,
        record.id,
        rt.clock.now_ms(),
        "stimulus_dismiss",
        {"id": fire_id, "rule": row.rule, "amount_fen": row.amount_fen},
    )
    done = await _row(rt, record, fire_id)
    return fire_view(done, record.settings.timezone)


async def cards(rt: Runtime, record: CampaignRecord) -> list[dict[str, Any]]:
    """The console's proposal cards: each open proposal with its rule, the evidence
    (the decision's figures, recomputed from the minutes as of the proposal), its cost
    and the campaign time left before it expires."""
    rows = await asyncio.to_thread(rt.reports.entries, record.id)
    now = clock_of(record).now_ms(rt.clock.now_ms())
    open_ = [r for r in rows if r.status == "proposed" and (r.expires_at_ms or 0) >= now]
    if not open_:
        return []
    raw = await rt.hot.read_series(record.settings.slug)
    s = record.settings
    out = []
    for p in open_:
        rule = _rule(record, p.rule)
        at = p.proposed_at_ms if p.proposed_at_ms is not None else p.at_ms
        evidence = None
        if rule is not None:
            before = [r for r in rows if r.rule == p.rule and r.id != p.id and r.at_ms < at]
            fired = [r for r in before if r.status == "fired"]
            last = max(
                (r.proposed_at_ms or r.at_ms for r in before), default=None
            )  # the cooldown's anchor, as the trigger worker saw it
            d = evaluate_rule(
                rule,
                raw.minutes["gmv"],
                raw.minutes["orders"],
                s.starts_at,
                at,
                RuleState(len(fired), last),
                None,
            )
            evidence = {
                "metric": rule.metric,
                "current": d.current_per_min,
                "peak": d.peak_per_min,
                "threshold": d.threshold_per_min,
                "low_minutes": d.low_minutes,
                "ratio": rule.below_peak_ratio,
                "window_minutes": rule.window_minutes,
            }
        out.append(
            {
                "id": p.id,
                "rule": p.rule,
                "kind": p.kind,
                "text": p.text,
                "amount_fen": p.amount_fen,
                "proposed_at_ms": at,
                "expires_at_ms": p.expires_at_ms,
                "left_ms": max((p.expires_at_ms or now) - now, 0),
                "holdout_share": p.holdout_share,
                "evidence": evidence,
            }
        )
    return out
