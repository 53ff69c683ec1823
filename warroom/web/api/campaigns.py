"""The JSON API: campaigns (create, list, edit, token rotation), event ingest, snapshot."""

from __future__ import annotations

import time
from collections import Counter
from operator import itemgetter
from typing import Any

import orjson
from fastapi import APIRouter, Request

from warroom.adapters.metrics import catalogue as metrics
from warroom.adapters.sql.store import SlugTaken
from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.events import (
    BodyError,
    EventError,
    NormalizedEvent,
    is_unparsed,
    normalize,
    split_body,
    ts_window,
    type_label,
)
from warroom.core.live.masked import mask_snapshot
from warroom.services.campaigns import clock_of
from warroom.services.ledger import DUPLICATE, NEW
from warroom.services.snapshots import load_snapshot
from warroom.web import deps, intake
from warroom.web.errors import ApiError, JSONBytes, bounded, checked
from warroom.web.models import (
    CampaignPatch,
    CampaignSummary,
    CreatedCampaign,
    RotateBody,
    RotatedToken,
    merge_patch,
    summarize,
)

_TYPE = itemgetter("type")
router = APIRouter(prefix="/api/v1")


@router.post("/campaigns", status_code=201, response_model=CreatedCampaign)
async def create_campaign(
    request: Request, rt: deps.RuntimeDep, _: deps.OperatorAccess
) -> JSONBytes:
    settings = await deps.read_model(request, CampaignSettings, 1024 * 1024)
    try:
        created = await rt.campaigns.create(settings)
    except SlugTaken:
        raise ApiError(409, f"campaign {settings.slug!r} already exists") from None
    return checked(
        CreatedCampaign,
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
    return checked(list[CampaignSummary], [await summarize(rt, r) for r in records])


@router.get("/campaigns/{slug}")
async def get_campaign(record: deps.ViewerCampaign) -> JSONBytes:
    return JSONBytes(orjson.loads(record.settings.model_dump_json()))


@router.patch("/campaigns/{slug}", response_model=CampaignSettings)
async def patch_campaign(
    patch: CampaignPatch, record: deps.OperatorCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    """Change any settings but the slug. Takes effect on the screens at once and is
    recorded in the audit log."""
    settings = merge_patch(record.settings, patch.model_dump(exclude_unset=True))
    fresh = await rt.campaigns.update(record, settings)
    return JSONBytes(orjson.loads(fresh.settings.model_dump_json()))


@router.post("/campaigns/{slug}/tokens/rotate", response_model=RotatedToken)
async def rotate_token(
    body: RotateBody, record: deps.OperatorCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    """A new ingest or viewer token; the old one is refused from the next request on,
    and (viewer) the campaign's open screens are disconnected."""
    token = await rt.campaigns.rotate(record, body.which)
    return checked(RotatedToken, {"which": body.which, "token": token})


@router.post("/campaigns/{slug}/events", status_code=202)
async def ingest(request: Request, slug: str) -> JSONBytes:
    rt = deps.runtime(request)
    timeout_s = rt.settings.warroom_dependency_timeout_s
    # One bound for the whole answer, not one per step (services/ledger.py).
    deadline = time.monotonic() + timeout_s
    record = await bounded(deps.campaign(request, slug), timeout_s, "the campaign lookup")
    deps.require_ingest(request, record)
    body = await deps.read_body(request, rt.settings.warroom_max_body_bytes)
    ndjson = "ndjson" in request.headers.get("content-type", "")
    try:
        items = split_body(body, ndjson)
    except BodyError as exc:
        raise ApiError(400, str(exc)) from None
    if len(items) > rt.settings.warroom_max_events_per_request:
        raise ApiError(
            413,
            f"more than {rt.settings.warroom_max_events_per_request} events",
            limit="events_per_request",
        )
    s = record.settings
    arrival_ms = clock_of(record).now_ms(rt.clock.now_ms())
    window = ts_window(s.starts_at, s.ends_at, arrival_ms, s.timezone)
    good: list[NormalizedEvent] = []
    where: list[int] = []  # the request index of each good event
    stamped: set[int] = set()  # good events without a `ts` of their own
    rejected: list[dict[str, Any]] = []
    counts: Counter[tuple[str, str]] = Counter()  # (type, outcome): warroom_events_total
    for i, item in enumerate(items):
        if is_unparsed(item):
            rejected.append({"index": i, "error": "line is not valid JSON"})
            counts["invalid", metrics.REJECTED] += 1
            continue
        try:
            event = normalize(item, arrival_ms, window)
        except EventError as exc:
            rejected.append({"index": i, "error": str(exc)})
            counts[type_label(item), metrics.REJECTED] += 1
            continue
        if item.get("ts") is None:
            stamped.add(len(good))
        good.append(event)
        where.append(i)
    outcomes = await intake.submit(request, record, good, stamped, deadline)
    accepted = duplicates = 0
    not_new: list[tuple[str, str]] = []
    for n, outcome in enumerate(outcomes):
        if outcome == NEW:
            accepted += 1
        elif outcome == DUPLICATE:
            duplicates += 1
            not_new.append((good[n]["type"], metrics.DUPLICATE))
        else:
            rejected.append({"index": where[n], "error": outcome})
            not_new.append((good[n]["type"], metrics.REJECTED))
    metrics.count_answer(record.settings.slug, map(_TYPE, good), not_new, counts)
    if len(rejected) > len(items) - len(good):
        rejected.sort(key=lambda r: r["index"])
    return JSONBytes(
        {"accepted": accepted, "duplicates": duplicates, "rejected": rejected},
        status_code=202,
    )


@router.get("/campaigns/{slug}/snapshot")
async def snapshot(request: Request, slug: str, rt: deps.RuntimeDep) -> JSONBytes:
    """The snapshot (viewer token, a wall link, the admin); a masked wall link gets its
    money-free twin (core/live/masked.py)."""
    record = await deps.campaign(request, slug)
    access = await deps.viewer_access(request, record, "screen")
    snap = await load_snapshot(rt.hot, record, rt.clock.now_ms())
    if access.masked:
        s = record.settings
        return JSONBytes(
            mask_snapshot(snap, [*s.milestones_fen, s.target_base_fen, s.target_stretch_fen])
        )
    return JSONBytes(snap)
