"""Battle reports, stimulus fires (manual fire), report templates, webhooks."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from warroom.adapters.announcer import fire_view
from warroom.adapters.campaigns import clock_of, real_now_ms
from warroom.adapters.report_store import report_view
from warroom.adapters.snapshots import load_snapshot
from warroom.adapters.webhook import BadWebhook, check_url
from warroom.core.campaign import StimulusAction, settings_error
from warroom.core.clock import rfc3339
from warroom.core.render import TemplateProblem, default_source, validate_template
from warroom.core.reports import REPORT_KINDS
from warroom.web import deps
from warroom.web.errors import ApiError, JSONBytes

router = APIRouter(prefix="/api/v1/campaigns/{slug}")


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
    format: Literal["wecom", "wecom_text", "json"] = "wecom"
    secret: Annotated[StrictStr, Field(max_length=200)] = ""


async def _body(request: Request, model: type[BaseModel]) -> Any:
    raw = await deps.read_body(request, 256 * 1024)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, settings_error(exc)) from None


@router.get("/reports")
async def list_reports(request: Request, slug: str) -> JSONBytes:
    record = await deps.campaign(request, slug)
    deps.require_viewer(request, record)
    rows = await asyncio.to_thread(deps.runtime(request).reports.reports, record.id)
    tz = record.settings.timezone
    # contract v2: each report with the `figures` its text was written from
    return JSONBytes([report_view(r, lambda ms: rfc3339(ms, tz)) for r in rows])


@router.get("/stimuli")
async def list_stimuli(request: Request, slug: str) -> JSONBytes:
    record = await deps.campaign(request, slug)
    deps.require_viewer(request, record)
    rows = await asyncio.to_thread(deps.runtime(request).reports.fires, record.id)
    return JSONBytes([fire_view(r, record.settings.timezone) for r in rows])


@router.post("/stimuli", status_code=201)
async def fire_by_hand(request: Request, slug: str) -> JSONBytes:
    deps.require_admin(request)
    rt = deps.runtime(request)
    record = await deps.campaign(request, slug)
    body: ManualFire = await _body(request, ManualFire)
    s = record.settings
    rule = next((r for r in s.stimulus_rules if r.name == body.rule), None)
    if body.rule and rule is None:
        raise ApiError(422, f"rule: no stimulus rule named {body.rule!r}")
    base = rule.action if rule else StimulusAction(kind=body.kind or "announcement")
    action = StimulusAction(
        kind=body.kind or base.kind,
        amount_fen=base.amount_fen if body.amount_fen is None else body.amount_fen,
        text=base.text if body.text is None else body.text,
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
    now = clock_of(record).now_ms(real_now_ms())
    snapshot = await load_snapshot(rt.hot, record, real_now_ms())
    fired = await rt.announcer.record_fire(
        record,
        snapshot,
        f"manual:{uuid.uuid4().hex}",
        body.rule or "manual",
        action,
        now,
        metric=rule.metric if rule else "gmv_per_min",
        window_minutes=rule.window_minutes if rule else s.velocity_window_minutes,
        manual=True,
    )
    return JSONBytes(fired, status_code=201)


@router.get("/templates")
async def get_templates(request: Request, slug: str) -> JSONBytes:
    deps.require_admin(request)
    record = await deps.campaign(request, slug)
    overrides = await asyncio.to_thread(deps.runtime(request).reports.templates, record.id)
    return JSONBytes(
        {
            k: {"source": overrides.get(k, default_source(k)), "custom": k in overrides}
            for k in REPORT_KINDS
        }
    )


@router.put("/templates/{kind}")
async def put_template(request: Request, slug: str, kind: str) -> JSONBytes:
    deps.require_admin(request)
    record = await deps.campaign(request, slug)
    if kind not in REPORT_KINDS:
        raise ApiError(404, f"unknown report kind {kind!r}")
    body: TemplateBody = await _body(request, TemplateBody)
    try:
        validate_template(body.source, kind)
    except TemplateProblem as exc:
        raise ApiError(422, str(exc)) from None
    await asyncio.to_thread(
        deps.runtime(request).reports.set_template, record.id, kind, body.source
    )
    return JSONBytes({"kind": kind, "custom": True})


@router.delete("/templates/{kind}")
async def reset_template(request: Request, slug: str, kind: str) -> JSONBytes:
    deps.require_admin(request)
    record = await deps.campaign(request, slug)
    if kind not in REPORT_KINDS:
        raise ApiError(404, f"unknown report kind {kind!r}")
    await asyncio.to_thread(deps.runtime(request).reports.set_template, record.id, kind, None)
    return JSONBytes({"kind": kind, "custom": False})


@router.post("/webhooks", status_code=201)
async def add_webhook(request: Request, slug: str) -> JSONBytes:
    deps.require_admin(request)
    rt = deps.runtime(request)
    record = await deps.campaign(request, slug)
    body: WebhookBody = await _body(request, WebhookBody)
    try:
        url = check_url(body.url, rt.settings.warroom_allow_private_webhooks)
    except BadWebhook as exc:
        raise ApiError(422, f"url: {exc}") from None
    hook_id = await asyncio.to_thread(rt.webhooks.add, record.id, url, body.format, body.secret)
    return JSONBytes({"id": hook_id, "url": url, "format": body.format}, status_code=201)


@router.get("/webhooks")
async def list_webhooks(request: Request, slug: str) -> JSONBytes:
    deps.require_admin(request)
    record = await deps.campaign(request, slug)
    rows = await asyncio.to_thread(deps.runtime(request).webhooks.list, record.id)
    return JSONBytes(
        [
            {
                "id": r.id,
                "url": r.url,
                "format": r.format,
                "signed": bool(r.secret),
                "enabled": r.enabled,
            }
            for r in rows
        ]
    )


@router.get("/deliveries")
async def delivery_log(request: Request, slug: str) -> JSONBytes:
    deps.require_admin(request)
    record = await deps.campaign(request, slug)
    return JSONBytes(await asyncio.to_thread(deps.runtime(request).webhooks.log, record.id))
