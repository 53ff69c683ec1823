"""The JSON API: campaigns (create, list, edit, token rotation), event ingest, snapshot."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request

from warroom.adapters.campaigns import clock_of, real_now_ms
from warroom.adapters.ledger import Overloaded
from warroom.adapters.snapshots import load_snapshot
from warroom.adapters.store import SlugTaken
from warroom.core.campaign import CampaignSettings
from warroom.core.events import BodyError, EventError, is_unparsed, normalize, split_body
from warroom.web import deps
from warroom.web.admin_models import (
    CampaignPatch,
    CampaignSummary,
    CreatedCampaign,
    RotateBody,
    RotatedToken,
    merge_patch,
    summarize,
)
from warroom.web.errors import ApiError, JSONBytes

router = APIRouter(prefix="/api/v1")


@router.post("/campaigns", status_code=201, response_model=CreatedCampaign)
async def create_campaign(request: Request, rt: deps.RuntimeDep, _: deps.AdminAccess) -> JSONBytes:
    settings = await deps.read_model(request, CampaignSettings, 1024 * 1024)
    try:
        created = await rt.campaigns.create(settings)
    except SlugTaken:
        raise ApiError(409, f"campaign {settings.slug!r} already exists") from None
    return JSONBytes(
        {
            "slug": settings.slug,
            "ingest_token": created.ingest_token,
            "viewer_token": created.viewer_token,
        },
        status_code=201,
    )


@router.get("/campaigns", response_model=list[CampaignSummary])
async def list_campaigns(rt: deps.RuntimeDep, _: deps.AdminAccess) -> JSONBytes:
    """Every campaign with its state, live GMV, progress and the next report due."""
    records = await rt.campaigns.list()
    return JSONBytes([await summarize(rt, r) for r in records])


@router.get("/campaigns/{slug}")
async def get_campaign(record: deps.ViewerCampaign) -> JSONBytes:
    return JSONBytes(orjson.loads(record.settings.model_dump_json()))


@router.patch("/campaigns/{slug}", response_model=CampaignSettings)
async def patch_campaign(
    patch: CampaignPatch, record: deps.AdminCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    """Change any settings but the slug. Takes effect on the screens at once and is
    recorded in the audit log."""
    settings = merge_patch(record.settings, patch.model_dump(exclude_unset=True))
    fresh = await rt.campaigns.update(record, settings)
    return JSONBytes(orjson.loads(fresh.settings.model_dump_json()))


@router.post("/campaigns/{slug}/tokens/rotate", response_model=RotatedToken)
async def rotate_token(
    body: RotateBody, record: deps.AdminCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    """A new ingest or viewer token; the old one is refused from the next request on,
    and (viewer) the campaign's open screens are disconnected."""
    token = await rt.campaigns.rotate(record, body.which)
    return JSONBytes({"which": body.which, "token": token})


@router.post("/campaigns/{slug}/events", status_code=202)
async def ingest(request: Request, slug: str) -> JSONBytes:
    rt = deps.runtime(request)
    record = await deps.campaign(request, slug)
    deps.require_ingest(request, record)
    body = await deps.read_body(request, rt.settings.warroom_max_body_bytes)
    ndjson = "ndjson" in request.headers.get("content-type", "")
    try:
        items = split_body(body, ndjson)
    except BodyError as exc:
        raise ApiError(400, str(exc)) from None
    if len(items) > rt.settings.warroom_max_events_per_request:
        raise ApiError(413, f"more than {rt.settings.warroom_max_events_per_request} events")
    arrival_ms = clock_of(record).now_ms(real_now_ms())
    good: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if is_unparsed(item):
            rejected.append({"index": i, "error": "line is not valid JSON"})
            continue
        try:
            good.append(normalize(item, arrival_ms))
        except EventError as exc:
            rejected.append({"index": i, "error": str(exc)})
    try:
        fresh = await request.app.state.writer.submit(record.id, slug, good, real_now_ms())
    except Overloaded as exc:
        raise ApiError(429, f"shedding load: {exc}", {"Retry-After": "1"}) from None
    except Exception:
        raise ApiError(503, "could not record events; nothing was accepted, retry") from None
    accepted = sum(fresh)
    return JSONBytes(
        {"accepted": accepted, "duplicates": len(fresh) - accepted, "rejected": rejected},
        status_code=202,
    )


@router.get("/campaigns/{slug}/snapshot")
async def snapshot(record: deps.ViewerCampaign, rt: deps.RuntimeDep) -> JSONBytes:
    return JSONBytes(await load_snapshot(rt.hot, record, real_now_ms()))
