"""Operator actions shared by the admin API and the console pages: manual fires,
webhook test messages, ending a campaign early. Thin: the adapters do the work."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from warroom.adapters.outbound.webhook import Job
from warroom.core.campaign import StimulusAction
from warroom.core.live.shapes import StimulusItem
from warroom.core.records import CampaignRecord
from warroom.services.campaigns import clock_of
from warroom.services.ports import OperatorContext
from warroom.services.refusal import Refused as ApiError

TEST_TEXT = "🔔 Warroom 测试消息\n这是一条来自作战室运营台的测试消息，收到即表示配置正确。"
ENDED = "the campaign has ended: no manual fire, announcement or rule pause after its end"


def refuse_after_end(rt: OperatorContext, record: CampaignRecord) -> None:
    """A stimulus, an announcement or a pause after the close would reach groups whose
    sale is over (and a fire would spend budget on nothing): 409, nothing changed."""
    if clock_of(record).now_ms(rt.clock.now_ms()) >= record.settings.ends_at:
        raise ApiError(409, ENDED)


async def budget(rt: OperatorContext, record: CampaignRecord) -> dict[str, Any]:
    """The stimulus budget burn-down: every fire's cost, spent and left (fired
    stimuli only: a proposal spends nothing until it is approved)."""
    fires = await asyncio.to_thread(rt.reports.fires, record.id)
    spent = sum(f.amount_fen for f in fires)
    total = record.settings.stimulus_budget_fen
    return {
        "total_fen": total,
        "spent_fen": spent,
        "left_fen": None if total is None else max(total - spent, 0),
        "fires": fires,
    }


async def fire(
    rt: OperatorContext,
    record: CampaignRecord,
    *,
    rule_name: str | None,
    kind: str | None,
    amount_fen: int | None,
    text: str | None,
) -> StimulusItem | None:
    """A stimulus fired by hand (or an announcement: kind `announcement`, no cost).
    Raises ApiError 422 (bad input) or 409 (budget, or the campaign has ended)."""
    refuse_after_end(rt, record)
    s = record.settings
    rule = next((r for r in s.stimulus_rules if r.name == rule_name), None)
    if rule_name and rule is None:
        raise ApiError(422, f"rule: no stimulus rule named {rule_name!r}")
    base = rule.action if rule else StimulusAction(kind=kind or "announcement")  # type: ignore[arg-type]
    action = StimulusAction(
        kind=kind or base.kind,  # type: ignore[arg-type]
        amount_fen=base.amount_fen if amount_fen is None else amount_fen,
        text=base.text if text is None else text,
    )
    if not action.text:
        raise ApiError(422, "text: an announcement text is required")
    if s.stimulus_budget_fen is not None:
        spent = await asyncio.to_thread(rt.reports.spent_fen, record.id)
        if spent + action.amount_fen > s.stimulus_budget_fen:
            left = s.stimulus_budget_fen - spent
            raise ApiError(
                409, f"stimulus budget spent: {left} fen left, {action.amount_fen} asked"
            )
    now = clock_of(record).now_ms(rt.clock.now_ms())
    fired = await rt.announcer.record_fire(
        record,
        f"manual:{uuid.uuid4().hex}",
        rule_name or "manual",
        action,
        now,
        metric=rule.metric if rule else "gmv_per_min",
        window_minutes=rule.window_minutes if rule else s.velocity_window_minutes,
        manual=True,
        holdout_share=float(rule.holdout_share) if rule else 0.0,
        effect_minutes=rule.effect_window if rule else None,
    )
    if fired is None:  # the claim counted the budget again, atomically: spent meanwhile
        raise ApiError(409, "stimulus budget spent: another fire took what was left")
    await asyncio.to_thread(
        rt.store.audit,
        record.id,
        rt.clock.now_ms(),
        "fire",
        {"rule": rule_name or "manual", "kind": action.kind, "amount_fen": action.amount_fen},
    )
    return fired


async def end_now(rt: OperatorContext, record: CampaignRecord) -> CampaignRecord:
    s = record.settings
    now = clock_of(record).now_ms(rt.clock.now_ms())
    if not s.starts_at <= now < s.ends_at:
        raise ApiError(409, "the campaign is not live")
    settings = s.model_copy(update={"ends_at": max(now, s.starts_at + 1)})
    return await rt.campaigns.update(record, settings, action="end_early")


async def send_test(rt: OperatorContext, record: CampaignRecord, webhook_id: int) -> dict[str, Any]:
    """POST a test message to one target now, as the delivery worker would (same
    address guard, payload shapes, signature, shared 20-a-minute pace per target, no
    redirects), and record the outcome in the audit log, which the console shows."""
    hooks = await asyncio.to_thread(rt.webhooks.list, record.id)
    hook = next((h for h in hooks if h.id == webhook_id), None)
    if hook is None:
        raise ApiError(404, f"no webhook {webhook_id} in this campaign")
    now = rt.clock.now_ms()
    job = Job(
        0, hook.id, hook.url, hook.format, hook.secret, 0, 0, "stimulus", TEST_TEXT, now,
        campaign_id=record.id,
    )  # fmt: skip
    sender = rt.deliverer()
    try:
        outcome = await sender.send_now(job)
    finally:
        await sender.close()
    result = {
        "webhook_id": hook.id,
        "ok": outcome.ok,
        "status": outcome.status,
        "error": outcome.error,
    }
    await asyncio.to_thread(rt.store.audit, record.id, now, "webhook_test", result)
    return result


async def test_log(rt: OperatorContext, record: CampaignRecord) -> list[dict[str, Any]]:
    rows = await asyncio.to_thread(rt.store.audit_log, record.id, 200)
    return [r for r in rows if r["action"] == "webhook_test"]
