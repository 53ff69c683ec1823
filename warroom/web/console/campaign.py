"""Console pages of one campaign beyond its settings: stimulus rules (report templates:
`report_templates.py`), and the actions during the sale (links, tokens and webhooks: `admin_links.py`)."""

from __future__ import annotations

from typing import Any, cast

from fastapi import Request
from fastapi.responses import HTMLResponse

from warroom.core.live.shapes import StimulusItem
from warroom.core.records import CampaignRecord
from warroom.services import operator, proposals
from warroom.web import deps
from warroom.web.console import report_templates as _report_templates  # noqa: F401
from warroom.web.console.auth import ConsoleChange, ConsoleSession
from warroom.web.console.base import (
    ConsoleCampaign,
    ConsoleError,
    form_of,
    overview_context,
    page,
    router,
)
from warroom.web.console.forms import (
    FieldError,
    parse_yuan,
    rule_form_values,
    rule_from_form,
    rule_preview,
)
from warroom.web.errors import ApiError
from warroom.web.pages.review import review_html

# -- stimulus rules ----------------------------------------------------------------------


def rules_context(record: CampaignRecord, **extra: Any) -> dict[str, Any]:
    rules = [{"rule": r, "preview": rule_preview(r)} for r in record.settings.stimulus_rules]
    ctx: dict[str, Any] = {
        "record": record,
        "rules": rules,
        "values": rule_form_values(None),
        "errors": {},
        "editing": "",
        "tab": "rules",
    }
    ctx.update(extra)
    return ctx


@router.get("/admin/c/{slug}/rules", response_class=HTMLResponse)
async def rules_page(
    request: Request, slug: str, session: ConsoleSession, record: ConsoleCampaign
) -> HTMLResponse:
    edit = request.query_params.get("edit", "")
    rule = next((r for r in record.settings.stimulus_rules if r.name == edit), None)
    ctx = rules_context(record)
    if rule is not None:
        ctx.update(values=rule_form_values(rule), editing=rule.name, preview=rule_preview(rule))
    return page(request, session, "admin/rules.html", ctx)


@router.post("/admin/c/{slug}/rules/preview", response_class=HTMLResponse)
async def rule_preview_fragment(
    request: Request, slug: str, session: ConsoleChange, _: ConsoleCampaign
) -> HTMLResponse:
    """Not a change: the preview sentence (or the errors) of the form as typed."""
    rule, errors = rule_from_form(await form_of(request))
    ctx = {"preview": rule_preview(rule) if rule else None, "errors": errors}
    return page(request, session, "admin/_rule_preview.html", ctx)


@router.post("/admin/c/{slug}/rules", response_class=HTMLResponse)
async def save_rule(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    form = await form_of(request)
    original = form.get("original", "")
    rule, errors = rule_from_form(form)
    rules = list(record.settings.stimulus_rules)
    if rule is not None:
        names = {r.name for r in rules if r.name != original}
        if rule.name in names:
            errors = {"name": "已有同名规则"}
    if rule is None or errors:
        ctx = rules_context(record, values=form, errors=errors, editing=original)
        return page(request, session, "admin/_rules.html", ctx, 422)
    if original and any(r.name == original for r in rules):
        rules = [rule if r.name == original else r for r in rules]
    else:
        rules.append(rule)
    settings = record.settings.model_copy(update={"stimulus_rules": rules})
    record = await deps.runtime(request).campaigns.update(record, settings, action="rules")
    ctx = rules_context(record, saved=rule.name)
    return page(request, session, "admin/_rules.html", ctx)


@router.post("/admin/c/{slug}/rules/delete", response_class=HTMLResponse)
async def delete_rule(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    name = (await form_of(request)).get("name", "")
    rules = [r for r in record.settings.stimulus_rules if r.name != name]
    if len(rules) != len(record.settings.stimulus_rules):
        settings = record.settings.model_copy(update={"stimulus_rules": rules})
        record = await deps.runtime(request).campaigns.update(record, settings, action="rules")
    return page(request, session, "admin/_rules.html", rules_context(record))


# -- report templates: report_templates.py ----------------------------------------------


# -- during the sale ------------------------------------------------------------------------


# A refusal after the close (operator.ENDED), as the console says it; the fragment it
# comes with shows the ended panel instead of the actions.
ENDED_SAID = "活动已收官：不能再手动触发、发布通知或暂停自动规则，未做任何改动"


async def live_fragment(
    request: Request, session: Any, record: CampaignRecord, status: int = 200, **extra: Any
) -> HTMLResponse:
    rt = deps.runtime(request)
    fresh = await rt.campaigns.get(record.settings.slug) or record
    ctx = await overview_context(request, fresh)
    ctx["proposals"] = await proposals.cards(rt, fresh)
    ctx.update(extra)
    return page(request, session, "admin/_live.html", ctx, status)


# -- proposals (rules in mode "propose") ---------------------------------------------------


@router.get("/admin/c/{slug}/proposals", response_class=HTMLResponse)
async def proposal_cards(
    request: Request, slug: str, session: ConsoleSession, record: ConsoleCampaign
) -> HTMLResponse:
    """htmx, every few seconds on the overview: the open proposals as cards (reads
    only; analysts see them without the buttons)."""
    rt = deps.runtime(request)
    ctx = {
        "s": record.settings,
        "proposals": await proposals.cards(rt, record),
        "budget": await operator.budget(rt, record),
    }
    return page(request, session, "admin/_proposals.html", ctx)


PROPOSAL_REFUSED = {404: "没有这条建议：", 409: "无法执行："}


async def _decide(
    request: Request, session: Any, record: CampaignRecord, fire_id: str, approve: bool
) -> HTMLResponse:
    if not fire_id.isdigit() or not 1 <= int(fire_id) <= 2**62:
        raise ConsoleError(404, "没有这条建议")
    rt = deps.runtime(request)
    decide = proposals.approve if approve else proposals.dismiss
    try:
        await decide(rt, record, int(fire_id))
    except ApiError as exc:
        said = PROPOSAL_ERRORS.get(exc.message, exc.message)
        if exc.message.startswith("over budget"):
            said = "刺激预算不足（" + exc.message + "）"
        msg = PROPOSAL_REFUSED.get(exc.status, "") + said
        return await live_fragment(request, session, record, fire_error=msg)
    notice = "已批准：刺激已发出，团长将收到任务" if approve else "已忽略这条建议"
    return await live_fragment(request, session, record, notice=notice)


# The services' refusals, as the console says them.
PROPOSAL_ERRORS = {
    proposals.WHY_NOT["max_fires"]: "该规则已达最多触发次数",
    proposals.WHY_NOT["expired"]: "建议已过期",
    proposals.WHY_NOT["fired"]: "建议已被批准",
    proposals.WHY_NOT["dismissed"]: "建议已被忽略",
}


@router.post("/admin/c/{slug}/proposals/{fire_id}/approve", response_class=HTMLResponse)
async def approve_proposal(
    request: Request, slug: str, fire_id: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    return await _decide(request, session, record, fire_id, approve=True)


@router.post("/admin/c/{slug}/proposals/{fire_id}/dismiss", response_class=HTMLResponse)
async def dismiss_proposal(
    request: Request, slug: str, fire_id: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    return await _decide(request, session, record, fire_id, approve=False)


@router.post("/admin/c/{slug}/fire", response_class=HTMLResponse)
async def fire(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    form = await form_of(request)
    rule = form.get("rule") or None
    kind = form.get("kind") or None
    text = form.get("text", "").strip() or None
    try:
        amount = parse_yuan(form.get("amount", ""), required=False)
    except FieldError as exc:
        return await live_fragment(request, session, record, fire_error=str(exc))
    if kind is not None and kind not in ("red_packet_rain", "buy_n_gift", "announcement"):
        return await live_fragment(request, session, record, fire_error="未知动作")
    if rule is None and kind is None:
        kind = "announcement"
    try:
        fired = await operator.fire(
            deps.runtime(request), record, rule_name=rule, kind=kind, amount_fen=amount, text=text
        )
    except ApiError as exc:
        if exc.message == operator.ENDED:
            return await live_fragment(request, session, record, fire_error=ENDED_SAID, status=409)
        msg = {409: "刺激预算不足：", 422: "无法触发："}.get(exc.status, "") + exc.message
        return await live_fragment(request, session, record, fire_error=msg)
    done = (
        "已发布通知"
        if cast(StimulusItem, fired or {}).get("kind") == "announcement"
        else "已触发刺激"
    )
    return await live_fragment(request, session, record, notice=done)


@router.post("/admin/c/{slug}/pause", response_class=HTMLResponse)
async def pause(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    paused = (await form_of(request)).get("paused") == "1"
    try:
        operator.refuse_after_end(deps.runtime(request), record)
    except ApiError:
        return await live_fragment(request, session, record, fire_error=ENDED_SAID, status=409)
    settings = record.settings.model_copy(update={"rules_paused": paused})
    action = "pause_rules" if paused else "resume_rules"
    record = await deps.runtime(request).campaigns.update(record, settings, action=action)
    notice = "自动规则已暂停" if paused else "自动规则已恢复"
    return await live_fragment(request, session, record, notice=notice)


@router.get("/admin/c/{slug}/review", response_class=HTMLResponse)
async def console_review(
    request: Request, slug: str, session: ConsoleSession, record: ConsoleCampaign
) -> HTMLResponse:
    """The retrospective for a signed-in person (every role reads it): the ended
    console links here, since the viewer token is stored hashed."""
    return await review_html(request, record, "", console=True)


@router.post("/admin/c/{slug}/end", response_class=HTMLResponse)
async def end_early(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    try:
        record = await operator.end_now(deps.runtime(request), record)
    except ApiError:
        return await live_fragment(
            request, session, record, fire_error="活动不在进行中，无法提前结束"
        )
    return await live_fragment(request, session, record, notice="活动已提前结束")
