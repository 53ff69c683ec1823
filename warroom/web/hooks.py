"""`/hooks/{id}`: where a platform calls a source (PRODUCT.md contract v3, "Sources").

Authenticated by the platform's own signature, never by our tokens: a mapped source's
HMAC (`core/sources/signature.py`), WeCom's msg_signature (`core/sources/wecom.py`).
A bad signature is 401 and records no event. Every call, refused or not, lands in the
source's delivery log (the newest 50), with what it came to; the secrets and the
payload never do, and the query string (WeCom's signature, echostr) is cut from log
lines by logconfig's redaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from warroom.adapters.metrics.catalogue import INGEST_SECONDS
from warroom.adapters.sql.source_store import Delivery, Source
from warroom.core.records import CampaignRecord
from warroom.core.sources import wecom
from warroom.core.sources.mapping import MappedConfig, PayloadError, apply, parse_payload
from warroom.core.sources.signature import SignatureError, verify
from warroom.web import deps
from warroom.web.errors import ApiError, JSONBytes, bounded, counted
from warroom.web.intake import Tally, deadline_of, record_events

log = logging.getLogger(__name__)
router = APIRouter(tags=["sources"])
INGEST_SOURCE = INGEST_SECONDS.labels("source")
MAX_HOOK_BODY = 512 * 1024  # a platform's push is small; the events API takes bulk


async def _source(request: Request, source_id: str) -> tuple[Source, CampaignRecord]:
    rt = deps.runtime(request)
    timeout_s = rt.settings.warroom_dependency_timeout_s
    source = None
    if source_id.startswith("src_") and len(source_id) <= 40:
        source = await bounded(
            asyncio.to_thread(rt.sources.get, source_id), timeout_s, "the source lookup"
        )
    if source is None:
        raise ApiError(404, "no such source")
    record = await bounded(rt.campaigns.get(source.slug), timeout_s, "the campaign lookup")
    if record is None or record.id != source.campaign_id:
        raise ApiError(404, "no such source")
    return source, record


async def _log(request: Request, source: Source, delivery: Delivery) -> None:
    """The delivery log is a courtesy to the operator: its failure never changes the
    answer the platform gets."""
    rt = deps.runtime(request)
    try:
        await asyncio.wait_for(
            asyncio.to_thread(rt.sources.record, source.id, delivery),
            rt.settings.warroom_dependency_timeout_s,
        )
    except Exception as exc:  # noqa: BLE001 - logged, never raised
        log.warning("source %s: delivery log not written: %s", source.id, type(exc).__name__)


def _now(request: Request) -> int:
    return deps.now_ms(request)


async def _refuse(
    request: Request, source: Source, status: int, message: str, outcome: str
) -> ApiError:
    await _log(request, source, Delivery(_now(request), status, outcome, note=message))
    return ApiError(status, message)


async def _done(
    request: Request, source: Source, tally: Tally, status: int, note: str = ""
) -> None:
    delivery = Delivery(
        _now(request),
        status,
        "recorded",
        tally.accepted,
        tally.duplicates,
        tuple(tally.rejected),
        note,
    )
    await _log(request, source, delivery)


async def _body(request: Request, source: Source) -> bytes:
    try:
        return await deps.read_body(request, MAX_HOOK_BODY)
    except ApiError as exc:
        raise await _refuse(request, source, exc.status, exc.message, "refused") from None


async def _record(
    request: Request,
    source: Source,
    record: CampaignRecord,
    raws: list[tuple[dict[str, Any] | None, str | None]],
    deadline: float,
    note: str = "",
    status: int = 202,
) -> Tally:
    started = time.monotonic()
    try:
        tally = await record_events(request, record, raws, deadline)
    except ApiError as exc:
        counted(exc)  # answered below in the source's own words: still a refusal
        raise await _refuse(request, source, exc.status, exc.message, "failed") from None
    finally:
        INGEST_SOURCE.observe(time.monotonic() - started)
    await _done(request, source, tally, status, note)
    return tally


@router.post("/hooks/{source_id}", status_code=202)
async def hook_post(request: Request, source_id: str) -> Response:
    deadline = deadline_of(request)
    source, record = await _source(request, source_id)
    body = await _body(request, source)
    if source.kind == "wecom":
        return await _wecom_post(request, source, record, body, deadline)
    cfg = MappedConfig.model_validate(source.config)
    try:
        verify(cfg.signature, body, request.headers, _now(request) // 1000)
    except SignatureError as exc:
        raise await _refuse(request, source, 401, str(exc), "signature") from None
    try:
        payload = parse_payload(body)
    except PayloadError as exc:
        raise await _refuse(request, source, 400, str(exc), "refused") from None
    produced = apply(cfg, payload)
    tally = await _record(request, source, record, [(p.event, p.error) for p in produced], deadline)
    return JSONBytes(tally.answer(), status_code=202)


def _query(request: Request, *names: str) -> list[str]:
    values = [request.query_params.get(n, "") for n in names]
    if not all(values) or any(len(v) > 4096 for v in values):
        raise ApiError(400, f"WeCom sends {', '.join(names)} in the query string")
    return values


async def _wecom_post(
    request: Request, source: Source, record: CampaignRecord, body: bytes, deadline: float
) -> Response:
    cfg = wecom.WeComConfig.model_validate(source.config)
    try:
        signature, timestamp, nonce = _query(request, "msg_signature", "timestamp", "nonce")
        encrypted = wecom.envelope(body)
    except (ApiError, wecom.WeComError) as exc:
        message = exc.message if isinstance(exc, ApiError) else str(exc)
        raise await _refuse(request, source, 400, message, "refused") from None
    try:
        wecom.check_signature(cfg, signature, timestamp, nonce, encrypted)
    except wecom.BadSignature as exc:
        raise await _refuse(request, source, 401, str(exc), "signature") from None
    try:
        msg = wecom.message(wecom.decrypt(cfg, encrypted))
    except wecom.WeComError as exc:
        raise await _refuse(request, source, 400, str(exc), "refused") from None
    events, notes = wecom.events_of(msg, use_create_time=record.settings.time_scale == 1)
    await _record(
        request, source, record, [(e, None) for e in events], deadline, "; ".join(notes), 200
    )
    # WeCom takes any 200 within 5 s as received; an empty body asks no passive reply.
    return PlainTextResponse("", status_code=200)


@router.get("/hooks/{source_id}", response_class=PlainTextResponse)
async def hook_verify(request: Request, source_id: str) -> Response:
    """WeCom's URL verification: decrypt `echostr` and answer it in plain text."""
    source, _record_ = await _source(request, source_id)
    if source.kind != "wecom":
        raise ApiError(405, "this source takes POST only")
    cfg = wecom.WeComConfig.model_validate(source.config)
    try:
        signature, timestamp, nonce, echostr = _query(
            request, "msg_signature", "timestamp", "nonce", "echostr"
        )
    except ApiError as exc:
        raise await _refuse(request, source, 400, exc.message, "refused") from None
    try:
        wecom.check_signature(cfg, signature, timestamp, nonce, echostr)
    except wecom.BadSignature as exc:
        raise await _refuse(request, source, 401, str(exc), "signature") from None
    try:
        plain = wecom.decrypt(cfg, echostr)
    except wecom.WeComError as exc:
        raise await _refuse(request, source, 400, str(exc), "refused") from None
    await _log(request, source, Delivery(_now(request), 200, "verified", note="URL verified"))
    return PlainTextResponse(plain.decode("utf-8", "replace"))
