"""Request plumbing: the runtime, campaign lookup, tokens, size-capped bodies."""

from __future__ import annotations

import hmac

from fastapi import Request

from warroom.adapters.campaigns import token_matches
from warroom.adapters.store import CampaignRecord
from warroom.bootstrap import Runtime
from warroom.web.errors import ApiError


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token")


def require_admin(request: Request) -> None:
    expected = runtime(request).settings.warroom_admin_token
    given = bearer(request)
    if not expected:
        raise ApiError(401, "admin API disabled: set WARROOM_ADMIN_TOKEN")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "missing or wrong admin token")


async def campaign(request: Request, slug: str) -> CampaignRecord:
    record = await runtime(request).campaigns.get(slug)
    if record is None:
        raise ApiError(404, f"unknown campaign {slug!r}")
    return record


def is_admin(request: Request) -> bool:
    expected = runtime(request).settings.warroom_admin_token
    given = bearer(request)
    return bool(expected and given and hmac.compare_digest(given.encode(), expected.encode()))


def require_viewer(request: Request, record: CampaignRecord) -> None:
    if token_matches(bearer(request), record.viewer_token_hash) or is_admin(request):
        return
    raise ApiError(401, "missing or wrong viewer token")


def require_ingest(request: Request, record: CampaignRecord) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not token_matches(value.strip(), record.ingest_token_hash):
        raise ApiError(401, "missing or wrong ingest token (Authorization: Bearer <token>)")


async def read_body(request: Request, limit: int) -> bytes:
    """Starlette has no request-size limit of its own: refuse early, read at most `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
