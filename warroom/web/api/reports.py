"""Battle reports, stimulus fires (manual fire), report templates, webhooks."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from warroom.adapters.outbound.netguard import redact_url
from warroom.adapters.outbound.webhook import BadWebhook, check_target
from warroom.adapters.sql.report_store import report_view
from warroom.core.ingest.clock import rfc3339
from warroom.core.live.masked import mask_report, mask_stimulus
from warroom.core.reports.render import TemplateProblem, default_source, validate_template
from warroom.core.reports.schedule import REPORT_KINDS
from warroom.services import operator, proposals
from warroom.services.announcer import fire_view
from warroom.web import deps
from warroom.web.errors import ApiError, JSONBytes, checked
from warroom.web.models import Deleted, WebhookView

router = APIRouter(prefix="/api/v1/campaigns/{slug}")
FireId = Annotated[int, Path(ge=1, le=2**62)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class ManualFire(_Strict):
    rule: Annotated[StrictStr, Field(min_length=1, max_length=100)] | None = None
    kind: Literal["red_packet_rain", "buy_n_gift", "announcement"] | None = None
    amount_fen: Annotated[StrictInt, Field(ge=0, le=10**11)] | None = None
    text: Annotated[StrictStr, Field(max_length=500)] | None = None


class TemplateBody(_Strict):
    source: Annotated[StrictStr, Field(max_length=20_000)]


class WebhookBody(_Strict):
    url: Annotated[StrictStr, Field(max_length=2000)]
    format: Literal["wecom", "wecom_text", "wecom_image", "wecom_image_masked", "json"] = "wecom"
    secret: Annotated[StrictStr, Field(max_length=200)] = ""


@router.get("/reports")
async def list_reports(request: Request, slug: str, rt: deps.RuntimeDep) -> JSONBytes:
    record = await deps.campaign(request, slug)
    access = await deps.viewer_access(request, record, "feed")
    rows = await asyncio.to_thread(rt.reports.reports, record.id)
    tz = record.settings.timezone
    # contract v2: each report with the `figures` its text was written from
    views = [report_view(r, lambda ms: rfc3339(ms, tz)) for r in rows]
    if access.masked:  # a masked wall: texts with ¥•••, figures as counts only
        return JSONBytes([mask_report(v) for v in views])
    return JSONBytes(views)


@router.get("/stimuli")
async def list_stimuli(request: Request, slug: str, rt: deps.RuntimeDep) -> JSONBytes:
    record = await deps.campaign(request, slug)
    access = await deps.viewer_access(request, record, "feed")
    # every entry, proposals, dismissed and expired ones included, each with its status
    rows = await asyncio.to_thread(rt.reports.entries, record.id)
    views = [fire_view(r, record.settings.timezone) for r in rows]
    if access.masked:
        return JSONBytes([mask_stimulus(v) for v in views])
    return JSONBytes(views)


@router.post("/stimuli", status_code=201)
async def fire_by_hand(
    request: Request, record: deps.OperatorCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    body: ManualFire = await deps.read_model(request, ManualFire)
    fired = await operator.fire(
        rt, record, rule_name=body.rule, kind=body.kind, amount_fen=body.amount_fen, text=body.text
    )
    return JSONBytes(fired, status_code=201)


@router.post("/stimuli/{fire_id}/approve")
async def approve_proposal(
    fire_id: FireId, record: deps.OperatorCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    """An operator approves a proposal (mode "propose"): it fires now, its hosts get
    their tasks. 404 unknown; 409 decided already, expired, over budget or max fires."""
    return JSONBytes(await proposals.approve(rt, record, fire_id))


@router.post("/stimuli/{fire_id}/dismiss")
async def dismiss_proposal(
    fire_id: FireId, record: deps.OperatorCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    """An operator dismisses a proposal: it never fires. 404 unknown; 409 decided."""
    return JSONBytes(await proposals.dismiss(rt, record, fire_id))


@router.get("/templates")
async def get_templates(record: deps.AdminCampaign, rt: deps.RuntimeDep) -> JSONBytes:
    overrides = await asyncio.to_thread(rt.reports.templates, record.id)
    return JSONBytes(
        {
            k: {"source": overrides.get(k, default_source(k)), "custom": k in overrides}
            for k in REPORT_KINDS
        }
    )


@router.put("/templates/{kind}")
async def put_template(
    request: Request, kind: str, record: deps.OperatorCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    if kind not in REPORT_KINDS:
        raise ApiError(404, f"unknown report kind {kind!r}")
    body: TemplateBody = await deps.read_model(request, TemplateBody)
    try:
        validate_template(body.source, kind)
    except TemplateProblem as exc:
        raise ApiError(422, str(exc)) from None
    await asyncio.to_thread(rt.reports.set_template, record.id, kind, body.source)
    return JSONBytes({"kind": kind, "custom": True})


@router.delete("/templates/{kind}")
async def reset_template(
    kind: str, record: deps.OperatorCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    if kind not in REPORT_KINDS:
        raise ApiError(404, f"unknown report kind {kind!r}")
    await asyncio.to_thread(rt.reports.set_template, record.id, kind, None)
    return JSONBytes({"kind": kind, "custom": False})


@router.post("/webhooks", status_code=201)
async def add_webhook(
    request: Request, record: deps.OperatorCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    body: WebhookBody = await deps.read_model(request, WebhookBody)
    try:
        url = await check_target(body.url, rt.settings.warroom_allow_private_webhooks)
    except BadWebhook as exc:
        raise ApiError(422, f"url: {exc}") from None
    hook_id = await asyncio.to_thread(rt.webhooks.add, record.id, url, body.format, body.secret)
    await asyncio.to_thread(
        rt.store.audit, record.id, rt.clock.now_ms(), "webhook_add", {"id": hook_id}
    )
    return JSONBytes({"id": hook_id, "url": url, "format": body.format}, status_code=201)


@router.get("/webhooks", response_model=list[WebhookView])
async def list_webhooks(record: deps.AdminCampaign, rt: deps.RuntimeDep) -> JSONBytes:
    rows = await asyncio.to_thread(rt.webhooks.list, record.id)
    return checked(
        list[WebhookView],
        [
            {
                "id": r.id,
                "url": redact_url(r.url),  # a WeCom robot key is in the query: never shown
                "format": r.format,
                "signed": bool(r.secret),
                "enabled": r.enabled,
            }
            for r in rows
        ],
    )


@router.delete("/webhooks/{webhook_id}", response_model=Deleted)
async def delete_webhook(
    webhook_id: int, record: deps.OperatorCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    """Remove a target; its queued deliveries go with it."""
    if not await asyncio.to_thread(rt.store.delete_webhook, record.id, webhook_id):
        raise ApiError(404, f"no webhook {webhook_id} in this campaign")
    await asyncio.to_thread(
        rt.store.audit, record.id, rt.clock.now_ms(), "webhook_delete", {"id": webhook_id}
    )
    return checked(Deleted, {"id": webhook_id, "deleted": True})


@router.post("/webhooks/{webhook_id}/test")
async def test_webhook(
    webhook_id: int, record: deps.OperatorCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    """Send a test message to one target now; the outcome is in the answer and in the
    audit log (`webhook_test`)."""
    return JSONBytes(await operator.send_test(rt, record, webhook_id))


@router.get("/deliveries")
async def delivery_log(record: deps.AdminCampaign, rt: deps.RuntimeDep) -> JSONBytes:
    return JSONBytes(await asyncio.to_thread(rt.webhooks.log, record.id))
