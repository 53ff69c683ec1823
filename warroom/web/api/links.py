"""Scoped links of a campaign (contract v3): `POST /api/v1/campaigns/{slug}/links`
(admin) answers `{id, kind, url, token}` once; `GET …/links` lists them without tokens
(with their last use); `DELETE …/links/{id}` revokes one: refused from the next request
in every web process, its open sockets (replays included) closed at once."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from warroom.core.ingest.clock import parse_instant, rfc3339
from warroom.core.links import LinkRecord, has_control, link_path
from warroom.core.records import CampaignRecord
from warroom.web import deps
from warroom.web.errors import ApiError, JSONBytes

router = APIRouter(prefix="/api/v1/campaigns/{slug}")


class LinkBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    kind: Literal["wall", "host", "review"]
    masked: StrictBool = False
    seller_id: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = None
    label: Annotated[StrictStr, Field(max_length=100)] = ""
    expires_at: StrictStr | StrictInt | None = None  # RFC 3339 with an offset, or epoch ms


def public_base(request: Request) -> str:
    """Where a phone reaches this server: WARROOM_PUBLIC_URL, else the request's own
    scheme and host (uvicorn rewrites them from X-Forwarded-* only for the proxies
    WARROOM_TRUSTED_PROXIES names)."""
    configured = deps.runtime(request).settings.warroom_public_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/")


def link_view(link: LinkRecord, tz: str, now_ms: int) -> dict[str, Any]:
    def at(ms: int | None) -> str | None:
        return None if ms is None else rfc3339(ms, tz)

    return {
        "id": link.id,
        "kind": link.kind,
        "masked": link.masked,
        "seller_id": link.seller_id,
        "label": link.label,
        "state": link.state(now_ms),
        "created_at": at(link.created_at_ms),
        "expires_at": at(link.expires_at_ms),
        "revoked_at": at(link.revoked_at_ms),
        "last_used_at": at(link.last_used_ms),
    }


def checked_body(body: LinkBody, now_ms: int) -> tuple[str | None, int | None]:
    """The seller and the expiry of a valid request, or a 422 that says what is wrong."""
    if body.kind == "host" and body.seller_id is None:
        raise ApiError(422, "seller_id: a host link is for one seller: give its seller_id")
    if body.kind != "host" and body.seller_id is not None:
        raise ApiError(422, "seller_id: only a host link takes a seller_id")
    if body.masked and body.kind != "wall":
        raise ApiError(422, "masked: only a wall link can be masked")
    for name, text in (("seller_id", body.seller_id or ""), ("label", body.label)):
        if has_control(text) or (name == "seller_id" and text != text.strip()):
            raise ApiError(422, f"{name}: control characters or surrounding spaces")
    expires: int | None = None
    if body.expires_at is not None:
        try:
            expires = parse_instant(body.expires_at)
        except ValueError as exc:
            raise ApiError(422, f"expires_at: {exc}") from None
        if expires <= now_ms:
            raise ApiError(422, "expires_at: already past")
    return body.seller_id, expires


async def create_link(
    request: Request, record: CampaignRecord, body: LinkBody
) -> tuple[LinkRecord, str, str]:
    """Shared by the API and the console: the link, its token (shown once), its URL."""
    rt = deps.runtime(request)
    seller, expires = checked_body(body, rt.clock.now_ms())
    link, token = await rt.links.create(
        record,
        kind=body.kind,
        masked=body.masked,
        seller_id=seller,
        label=body.label.strip(),
        expires_at_ms=expires,
    )
    detail = {"id": link.id, "kind": link.kind, "masked": link.masked, "seller_id": seller}
    await asyncio.to_thread(rt.store.audit, record.id, rt.clock.now_ms(), "link_add", detail)
    url = public_base(request) + link_path(record.settings.slug, link.kind, token)
    return link, token, url


@router.post("/links", status_code=201)
async def add_link(request: Request, record: deps.OperatorCampaign) -> JSONBytes:
    body: LinkBody = await deps.read_model(request, LinkBody, limit=16 * 1024)
    link, token, url = await create_link(request, record, body)
    tz = record.settings.timezone
    view = link_view(link, tz, deps.now_ms(request))
    return JSONBytes({**view, "url": url, "token": token}, status_code=201)


@router.get("/links")
async def list_links(request: Request, record: deps.AdminCampaign) -> JSONBytes:
    rt = deps.runtime(request)
    now = rt.clock.now_ms()
    links = await rt.links.list(record)
    return JSONBytes([link_view(x, record.settings.timezone, now) for x in links])


async def revoke_link(request: Request, record: CampaignRecord, link_id: int) -> LinkRecord:
    rt = deps.runtime(request)
    link = await rt.links.revoke(record, link_id)
    if link is None:
        raise ApiError(404, f"no link {link_id} in this campaign")
    await asyncio.to_thread(
        rt.store.audit, record.id, rt.clock.now_ms(), "link_revoke", {"id": link_id}
    )
    return link


@router.delete("/links/{link_id}")
async def delete_link(request: Request, link_id: int, record: deps.OperatorCampaign) -> JSONBytes:
    link = await revoke_link(request, record, link_id)
    return JSONBytes(
        {
            "id": link.id,
            "revoked": True,
            **link_view(link, record.settings.timezone, deps.now_ms(request)),
        }
    )
