"""The edge, as FastAPI dependencies: the runtime, who is asking (the admin token, an
API key, and their role), a campaign seen by its viewers or by the admin, and
size-capped bodies.

Handlers declare what they need (`rt: RuntimeDep`, `record: ViewerCampaign`,
`record: AdminCampaign` to read, `record: OperatorCampaign` to change,
`_: OwnerAccess`) instead of repeating checks. Rules kept here once:

- The admin token is compared in one place (`admin_token_ok`) and read only from the
  `Authorization` header: a token in a URL ends up in logs and histories. (The console
  has its own session cookie, see console/auth.py; the JSON API takes only the header.)
- An API key (issue 18) works wherever the admin token does, within its role: reads
  for every role (`require_analyst`), changes for operators (`require_operator`),
  people, keys and the audit for owners (`require_owner`); the admin token is an owner.
  `ROLE_DEPS` names them for the route-table test (tests/e2e/test_roles.py).
- Every attempt at an admin credential (console sign-in, an admin bearer on the API or
  a socket) is counted per client address before it is answered when wrong, and past
  WARROOM_CONSOLE_MAX_FAILED_LOGINS a minute the address hears 429 with Retry-After,
  for the right token or key too (adapters/redis/throttle.py).
- The credential found names the request's actor (core/people.py `acting`): every
  audit row the request writes carries it.
- Viewer tokens travel in links (`?token=`) as the contract says, or in the header.
  So do the scoped links' tokens (contract v3): `viewer_access` admits a route's area
  (core/links.py); `require_viewer` and `ViewerCampaign` admit the full viewer
  capability only, so a route opens to a link only by naming its area.
- An unknown campaign answers exactly as a wrong token does (401, same body), so
  campaign names cannot be probed. Only the admin, already authenticated, sees 404.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection

from warroom.adapters.redis.throttle import (
    ADMIN,
    ADMIN_AS_VIEWER,
    client_of,
    count_failure,
    locked_for_s,
)
from warroom.core.campaign import CampaignSettings, settings_error
from warroom.core.links import FULL, Access, Area, access_of
from warroom.core.people import ADMIN_TOKEN, Actor, Role, acting, allows
from warroom.core.records import CampaignRecord
from warroom.services.campaigns import token_matches
from warroom.services.runtime import Runtime
from warroom.web.errors import ApiError

WRONG_VIEWER = "missing or wrong viewer token"
WRONG_INGEST = "missing or wrong ingest token (Authorization: Bearer <token>)"
WRONG_ADMIN = "missing or wrong admin token (Authorization: Bearer <token>)"

# Stands in for an unknown campaign so the token check that follows fails exactly as
# for a wrong token. Its hashes are not hex digests, so no token ever matches them.
GHOST = CampaignRecord(
    id=-1,
    settings=CampaignSettings(
        slug="ghost", name="ghost", starts_at=0, ends_at=1, target_base_fen=0
    ),
    ingest_token_hash="!",
    viewer_token_hash="!",
    created_at_ms=0,
)


def runtime(request: HTTPConnection) -> Runtime:
    rt: Runtime = request.app.state.runtime  # set by bootstrap.build_app
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def now_ms(request: Request) -> int:
    """Real time from the runtime's one clock (the composition root's), never read
    from the wall here, so a test can hand the app a clock it moves."""
    return runtime(request).clock.now_ms()


def header_token(request: HTTPConnection) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def bearer(request: Request) -> str | None:
    """A viewer's token: the header, else the link's `?token=`."""
    return header_token(request) or request.query_params.get("token")


def admin_token_ok(expected: str | None, given: str | None) -> bool:
    """The one admin-token comparison (constant time; an unset admin token opens nothing)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


async def admin_attempt(conn: HTTPConnection, given: str | None, credential: str = ADMIN) -> int:
    """One attempt at the admin token from this client: seconds to wait (answer 429
    with Retry-After), or 0, and then `admin_token_ok` decides. A wrong token is counted
    before it is answered; the right one only reads the count, so the admin's own
    requests cost nothing and never lock anyone out."""
    rt = runtime(conn)
    limit = rt.settings.console.max_failed_logins
    client = client_of(conn.client.host if conn.client else None)
    if admin_token_ok(rt.settings.warroom_admin_token, given):
        return await locked_for_s(rt.redis, credential, client, limit)
    window_s = rt.settings.console.failed_login_window_s
    return await count_failure(rt.redis, credential, client, limit, window_s)


def too_many(wait_s: int) -> ApiError:
    return ApiError(
        429,
        "too many wrong tokens from this address; retry later",
        {"Retry-After": str(wait_s)},
        limit="login_throttle",
    )


async def admin_actor(conn: HTTPConnection, credential: str = ADMIN) -> Actor | None:
    """Who the `Authorization: Bearer` is: the admin token (an owner), an API key (its
    role), or None. No header: None, and nothing is counted. A bearer that is neither
    is counted per client address before it is answered, as a wrong admin token always
    was (admin_attempt, throttle.py); a locked-out address hears 429 for the right
    token or key too. The actor found is the request's (core/people.py `acting`)."""
    given = header_token(conn)
    if not given:
        return None
    rt = runtime(conn)
    actor: Actor | None = None
    if admin_token_ok(rt.settings.warroom_admin_token, given):
        actor = ADMIN_TOKEN
    else:
        actor = await rt.people.key_actor(given)
    if actor is None:
        wait = await admin_attempt(conn, given, credential)  # counted: it is wrong
    else:
        limit = rt.settings.console.max_failed_logins
        client = client_of(conn.client.host if conn.client else None)
        wait = await locked_for_s(rt.redis, credential, client, limit)
    if wait:
        raise too_many(wait)
    if actor is not None:
        acting(actor)
    return actor


async def is_admin(conn: HTTPConnection, credential: str = ADMIN) -> bool:
    """The admin token or an API key (any role reads) in the `Authorization` header,
    from an address that is not locked out (429 if it is). No header: False, and
    nothing is counted. A viewer route counts as ADMIN_AS_VIEWER (throttle.py)."""
    return await admin_actor(conn, credential) is not None


async def _require(request: Request, need: Role) -> Actor:
    actor = await admin_actor(request)
    if actor is None:
        if not header_token(request) and not runtime(request).settings.warroom_admin_token:
            raise ApiError(401, "admin API disabled: set WARROOM_ADMIN_TOKEN or use an API key")
        raise ApiError(401, WRONG_ADMIN)
    if not allows(actor.role, need):
        raise ApiError(403, f"the {actor.role} role may not do this (it needs {need} or above)")
    return actor


async def require_analyst(request: Request) -> Actor:
    """Reads: every role."""
    return await _require(request, "analyst")


async def require_operator(request: Request) -> Actor:
    """Changes to campaigns: operator or owner."""
    return await _require(request, "operator")


async def require_owner(request: Request) -> Actor:
    """People, API keys, the audit: owner only."""
    return await _require(request, "owner")


# What each role dependency lets through: the route table test (tests/e2e/test_roles.py)
# reads it to check that every admin route declares one.
ROLE_DEPS: dict[Callable[..., Any], Role] = {
    require_analyst: "analyst",
    require_operator: "operator",
    require_owner: "owner",
}


async def require_admin(request: Request) -> None:
    """Any admin credential (the reads: every role)."""
    await require_analyst(request)


AdminAccess = Annotated[Actor, Depends(require_analyst)]
OperatorAccess = Annotated[Actor, Depends(require_operator)]
OwnerAccess = Annotated[Actor, Depends(require_owner)]


async def admin_campaign(request: Request, slug: str, _: AdminAccess) -> CampaignRecord:
    """A campaign to read (every role)."""
    record = await runtime(request).campaigns.get(slug)
    if record is None:
        raise ApiError(404, f"unknown campaign {slug!r}")
    return record


AdminCampaign = Annotated[CampaignRecord, Depends(admin_campaign)]


async def operator_campaign(request: Request, slug: str, _: OperatorAccess) -> CampaignRecord:
    """A campaign to change (operator or owner): the role is checked before the lookup."""
    record = await runtime(request).campaigns.get(slug)
    if record is None:
        raise ApiError(404, f"unknown campaign {slug!r}")
    return record


OperatorCampaign = Annotated[CampaignRecord, Depends(operator_campaign)]


async def viewer_campaign(request: Request, slug: str) -> CampaignRecord:
    """The campaign, for its viewer token (or the admin's)."""
    record = await campaign(request, slug)
    await require_viewer(request, record)
    return record


ViewerCampaign = Annotated[CampaignRecord, Depends(viewer_campaign)]


async def campaign(request: Request, slug: str) -> CampaignRecord:
    """The campaign, or GHOST when unknown: always follow with require_viewer or
    require_ingest, which then answer 401 exactly as for a wrong token."""
    record = await runtime(request).campaigns.get(slug)
    return GHOST if record is None else record


async def require_viewer(request: Request, record: CampaignRecord) -> None:
    if record is not GHOST and token_matches(bearer(request), record.viewer_token_hash):
        return
    if await is_admin(request, ADMIN_AS_VIEWER):
        if record is GHOST:
            raise ApiError(404, "unknown campaign")
        return
    raise ApiError(401, WRONG_VIEWER)


WRONG_LINK_AREA = "this link does not open this page"


def link_token(conn: HTTPConnection) -> str | None:
    """A viewer's or a link's token: the header, else the link's `?token=`."""
    return header_token(conn) or conn.query_params.get("token")


async def viewer_access(conn: HTTPConnection, record: CampaignRecord, *areas: Area) -> Access:
    """Who may see `areas` (any one of them) of this campaign: the viewer token (the full capability, as in
    v1), a scoped link that opens that area (core/links.py), or the admin. A live link
    that does not open the area hears 403; anything else as a wrong token (401), so a
    route that never names an area stays closed to every link (default deny)."""
    token = link_token(conn)
    if record is not GHOST and token_matches(token, record.viewer_token_hash):
        return FULL
    if record is not GHOST and token:
        link = await runtime(conn).links.resolve(record, token)
        if link is not None:
            access = access_of(link)
            if not any(access.allows(area) for area in areas):
                raise ApiError(403, WRONG_LINK_AREA)
            return access
    if await is_admin(conn, ADMIN_AS_VIEWER):
        if record is GHOST:
            raise ApiError(404, "unknown campaign")
        return FULL
    raise ApiError(401, WRONG_VIEWER)


def require_ingest(request: Request, record: CampaignRecord) -> None:
    if record is GHOST or not token_matches(header_token(request), record.ingest_token_hash):
        raise ApiError(401, WRONG_INGEST)


M = TypeVar("M", bound=BaseModel)


async def read_model(request: Request, model: type[M], limit: int = 256 * 1024) -> M:
    """The one JSON body reader: size-capped, parsed with orjson, validated by `model`;
    400 for bad JSON, 422 with one readable line for a bad field."""
    raw = await read_body(request, limit)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, settings_error(exc)) from None


async def read_body(request: Request, limit: int) -> bytes:
    """Starlette has no request-size limit of its own: refuse early, read at most `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body larger than {limit} bytes", limit="body_bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body larger than {limit} bytes", limit="body_bytes")
        chunks.append(chunk)
    return b"".join(chunks)
