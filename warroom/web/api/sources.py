"""Sources (contract v3): a campaign's feeds from the platforms it already uses.

`POST /api/v1/campaigns/{slug}/sources` `{kind, name, config}` answers `{id, kind, url}`;
the platform then calls `url` (`/hooks/{id}`, web/hooks.py). `GET` lists them with
their secrets masked; `DELETE …/sources/{id}` removes one; `GET …/sources/{id}/deliveries`
is its recent delivery log (the newest 50); `POST …/sources/preview` `{config, sample}`
shows what a mapped config makes of a sample payload, recording nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from warroom.web import deps
from warroom.web.errors import ApiError, JSONBytes
from warroom.web.source_views import (
    MAX_SOURCES_PER_CAMPAIGN,
    NewSource,
    checked_config,
    delivery_view,
    hook_url,
    preview,
    view,
)

router = APIRouter(prefix="/api/v1", tags=["sources"])


@router.post("/campaigns/{slug}/sources", status_code=201)
async def add_source(
    request: Request, record: deps.OperatorCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    body = await deps.read_model(request, NewSource, 256 * 1024)
    config = checked_config(body.kind, body.config)
    existing = await asyncio.to_thread(rt.sources.list, record.id)
    if len(existing) >= MAX_SOURCES_PER_CAMPAIGN:
        raise ApiError(409, f"a campaign has at most {MAX_SOURCES_PER_CAMPAIGN} sources")
    now = rt.clock.now_ms()
    source_id = await asyncio.to_thread(
        rt.sources.add, record.id, record.settings.slug, body.kind, body.name, config, now
    )
    await asyncio.to_thread(
        rt.store.audit,
        record.id,
        now,
        "source_add",
        {"id": source_id, "kind": body.kind, "name": body.name},
    )
    return JSONBytes(
        {"id": source_id, "kind": body.kind, "url": hook_url(request, source_id)},
        status_code=201,
    )


@router.get("/campaigns/{slug}/sources")
async def list_sources(
    request: Request, record: deps.AdminCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    sources = await asyncio.to_thread(rt.sources.list, record.id)
    return JSONBytes([view(request, s) for s in sources])


async def _own(rt: Any, record: Any, source_id: str) -> Any:
    source = await asyncio.to_thread(rt.sources.get, source_id)
    if source is None or source.campaign_id != record.id:
        raise ApiError(404, f"no source {source_id!r} in this campaign")
    return source


@router.delete("/campaigns/{slug}/sources/{source_id}")
async def delete_source(
    source_id: str, record: deps.OperatorCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    source = await _own(rt, record, source_id)
    await asyncio.to_thread(rt.sources.delete, record.id, source.id)
    await asyncio.to_thread(
        rt.store.audit,
        record.id,
        rt.clock.now_ms(),
        "source_delete",
        {"id": source.id, "kind": source.kind, "name": source.name},
    )
    return JSONBytes({"id": source.id, "deleted": True})


@router.get("/campaigns/{slug}/sources/{source_id}/deliveries")
async def source_deliveries(
    source_id: str, record: deps.AdminCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    """Newest first: time, HTTP status, outcome (`recorded`, `signature`, `refused`,
    `failed`, `verified`), accepted, duplicates, rejected with reasons, a note."""
    source = await _own(rt, record, source_id)
    log = await asyncio.to_thread(rt.sources.deliveries, source.id)
    return JSONBytes([delivery_view(d, record.settings.timezone) for d in log])


class PreviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    config: dict[str, Any]
    sample: Any


@router.post("/campaigns/{slug}/sources/preview")
async def preview_source(request: Request, record: deps.OperatorCampaign) -> JSONBytes:
    body = await deps.read_model(request, PreviewBody, 512 * 1024)
    # A string is the payload's raw text (its numbers exact); anything else is re-encoded.
    raw = body.sample.encode() if isinstance(body.sample, str) else orjson.dumps(body.sample)
    result = preview(request, record, body.config, raw)
    return JSONBytes({"events": result.events, "rejected": result.errors})
