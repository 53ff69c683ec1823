"""The JSON API: campaigns (create, list, edit, token rotation), event ingest, snapshot."""

from __future__ import annotations

import time
from collections import Counter
from operator import itemgetter
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from warroom.adapters.metrics import catalogue as metrics
from warroom.adapters.sql.store import SlugTaken
from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.events import (
    BodyError,
    EventError,
    NormalizedEvent,
    TsWindow,
    is_unparsed,
    normalize,
    split_body,
    ts_window,
    type_label,
)
from warroom.core.ingest.fastwire import Declined, decode_body, validate_fast
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
    IngestAnswer,
    RotateBody,
    RotatedToken,
    ingest_openapi,
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


# A form is never events: refused with a clear 415 rather than "body is not valid JSON".
# Any other content type (or none) is read as JSON, as clients that send none expect.
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
NOT_A_FORM = "send JSON (application/json) or NDJSON (application/x-ndjson), not a form ({})"
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}


def _error(why: str) -> dict[str, Any]:
    return {"description": why, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


@router.post(
    "/campaigns/{slug}/events",
    status_code=202,
    response_model=IngestAnswer,
    # Only for the docs: the route returns JSONBytes, which FastAPI would document as
    # a string (it is no JSONResponse); JSONResponse makes it show IngestAnswer.
    response_class=JSONResponse,
    response_description="Read and answered, even when every event was rejected: each "
    "refused event is in `rejected` with its index in the request and the reason",
    summary="Send events (orders, refunds, messages, members)",
    openapi_extra=ingest_openapi(),
    responses={
        400: _error("the body is empty, not JSON, or not an object or array"),
        401: _error(
            "the ingest token (Authorization: Bearer) is missing or wrong, or no such campaign"
        ),
        413: _error("over WARROOM_MAX_BODY_BYTES or WARROOM_MAX_EVENTS_PER_REQUEST events"),
        415: _error("a form body: send JSON or NDJSON"),
        429: _error(
            "too many events wait for the ledger; retry after Retry-After (nothing recorded)"
        ),
        503: _error("a dependency failed or timed out; retry after Retry-After"),
    },
)
async def ingest(request: Request, slug: str) -> JSONBytes:
    """Events for one campaign, with its ingest token as `Authorization: Bearer`. A JSON
    array of events (or one event), or `application/x-ndjson`, one event per line; ids are
    the dedupe identity, money is integer fen. docs/api.md has every field and rule.

    Served by web/fastpath.py (the same function, ahead of FastAPI's layers): FastAPI
    never parses this body; `openapi_extra` only describes it."""
    rt = deps.runtime(request)
    timeout_s = rt.settings.warroom_dependency_timeout_s
    # One bound for the whole answer, not one per step (services/ledger.py).
    deadline = time.monotonic() + timeout_s
    record = await bounded(deps.campaign(request, slug), timeout_s, "the campaign lookup")
    deps.require_ingest(request, record)
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media in FORM_TYPES:
        raise ApiError(415, NOT_A_FORM.format(media))
    body = await deps.read_body(request, rt.settings.warroom_max_body_bytes)
    ndjson = "ndjson" in request.headers.get("content-type", "")
    # The common body (well-formed events) is decoded and validated in one pass; any
    # other goes the strict way, which gives every rejection its message (fastwire.py).
    fast = None if ndjson else decode_body(body)
    items: list[Any] = []
    if fast is None:
        items = _split(body, ndjson)
    if len(fast if fast is not None else items) > rt.settings.warroom_max_events_per_request:
        raise ApiError(
            413,
            f"more than {rt.settings.warroom_max_events_per_request} events",
            limit="events_per_request",
        )
    s = record.settings
    arrival_ms = clock_of(record).now_ms(rt.clock.now_ms())
    window = ts_window(s.starts_at, s.ends_at, arrival_ms, s.timezone)
    counts: Counter[tuple[str, str]] = Counter()  # (type, outcome): warroom_events_total
    checked_fast = None
    if fast is not None:
        try:
            checked_fast = validate_fast(fast, arrival_ms, window)
        except Declined:
            items = _split(body, ndjson)
    if checked_fast is not None:
        good, where, stamped, rejected, rejected_types = checked_fast
        counts.update((t, metrics.REJECTED) for t in rejected_types)
    else:
        good, where, stamped, rejected = _validate_strict(items, arrival_ms, window, counts)
    early = len(rejected)  # rejected before the ledger, in request order
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
    if len(rejected) > early:
        rejected.sort(key=lambda r: r["index"])
    return JSONBytes(
        {"accepted": accepted, "duplicates": duplicates, "rejected": rejected},
        status_code=202,
    )


def _split(body: bytes, ndjson: bool) -> list[Any]:
    try:
        return split_body(body, ndjson)
    except BodyError as exc:
        raise ApiError(400, str(exc)) from None


def _validate_strict(
    items: list[Any], arrival_ms: int, window: TsWindow, counts: Counter[tuple[str, str]]
) -> tuple[list[NormalizedEvent], list[int], set[int], list[dict[str, Any]]]:
    """Each raw item normalized or rejected with its message: (good, their request
    indexes, the good ones without a `ts` of their own, rejected)."""
    good: list[NormalizedEvent] = []
    where: list[int] = []
    stamped: set[int] = set()
    rejected: list[dict[str, Any]] = []
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
    return good, where, stamped, rejected


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
