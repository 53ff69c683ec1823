"""The JSON API of people, API keys and the audit (issue 18): owners only.

`POST /api/v1/users` `{"email", "role", "password"?}` answers `{id, email, role}`, plus
a one-time `password` when none was given; `GET` lists, `PATCH /users/{id}` `{"role"}`
changes a role, `DELETE` removes (the person's sessions end). `POST /api/v1/keys`
`{"name", "role"}` answers `{id, key}` once; `GET` lists without keys, `DELETE` revokes.
`GET /api/v1/audit` filters by campaign, actor, kind and since."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from warroom.core.ingest.clock import from_ms
from warroom.core.people import NO_CAMPAIGN
from warroom.services.people import UserRecord
from warroom.web import deps
from warroom.web.errors import ApiError, JSONBytes

router = APIRouter(prefix="/api/v1")

RoleName = Literal["owner", "operator", "analyst"]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    email: str
    role: RoleName
    password: str | None = None


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    role: RoleName


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    role: RoleName


def user_view(u: UserRecord) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "role": u.role, "created_at_ms": u.created_at_ms}


@router.post("/users", status_code=201)
async def add_user(request: Request, rt: deps.RuntimeDep, _: deps.OwnerAccess) -> JSONBytes:
    body = await deps.read_model(request, NewUser, 16 * 1024)
    user, password = await rt.people.add(body.email, body.role, body.password)
    out = {"id": user.id, "email": user.email, "role": user.role}
    if password is not None:
        out["password"] = password  # shown once: only its hash is kept
    return JSONBytes(out, status_code=201)


@router.get("/users")
async def list_users(rt: deps.RuntimeDep, _: deps.OwnerAccess) -> JSONBytes:
    return JSONBytes([user_view(u) for u in await rt.people.users()])


@router.patch("/users/{user_id}")
async def change_role(
    request: Request, user_id: int, rt: deps.RuntimeDep, _: deps.OwnerAccess
) -> JSONBytes:
    body = await deps.read_model(request, RoleChange, 16 * 1024)
    return JSONBytes(user_view(await rt.people.set_role(user_id, body.role)))


@router.delete("/users/{user_id}")
async def remove_user(user_id: int, rt: deps.RuntimeDep, _: deps.OwnerAccess) -> JSONBytes:
    user = await rt.people.remove(user_id)
    return JSONBytes({"deleted": True, "id": user.id})


@router.post("/keys", status_code=201)
async def add_key(request: Request, rt: deps.RuntimeDep, _: deps.OwnerAccess) -> JSONBytes:
    body = await deps.read_model(request, NewKey, 16 * 1024)
    made = await rt.people.add_key(body.name, body.role)
    r = made.record
    return JSONBytes({"id": r.id, "name": r.name, "role": r.role, "key": made.key}, 201)


@router.get("/keys")
async def list_keys(rt: deps.RuntimeDep, _: deps.OwnerAccess) -> JSONBytes:
    return JSONBytes(
        [
            {
                "id": k.id,
                "name": k.name,
                "role": k.role,
                "created_at_ms": k.created_at_ms,
                "last_used_ms": k.last_used_ms,
            }
            for k in await rt.people.keys()
        ]
    )


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: int, rt: deps.RuntimeDep, _: deps.OwnerAccess) -> JSONBytes:
    record = await rt.people.revoke_key(key_id)
    return JSONBytes({"deleted": True, "id": record.id})


def parse_since(text: str | None) -> int | None:
    """`since` as epoch milliseconds or an RFC 3339 time with its offset."""
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "since: epoch milliseconds or an RFC 3339 time") from None
    if dt.tzinfo is None:
        raise ApiError(422, "since: give the time's offset (+08:00 or Z)")
    return int(dt.timestamp() * 1000)


async def audit_rows(
    rt: Any,
    *,
    campaign: str | None,
    actor: str | None,
    kind: str | None,
    since_ms: int | None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Audit rows as the API and the console show them: each with its campaign's slug
    (None for people and keys)."""
    records = await rt.campaigns.list()
    slugs = {r.id: r.settings.slug for r in records}
    campaign_id: int | None = None
    if campaign:
        if campaign == "-":
            campaign_id = NO_CAMPAIGN
        else:
            found = next((i for i, s in slugs.items() if s == campaign), None)
            if found is None:
                raise ApiError(404, f"unknown campaign {campaign!r}")
            campaign_id = found
    rows: list[dict[str, Any]] = await asyncio.to_thread(
        rt.store.audit_query,
        campaign_id=campaign_id,
        actor=actor or None,
        action=kind or None,
        since_ms=since_ms,
        limit=limit,
    )
    for r in rows:
        r["campaign"] = slugs.get(r.pop("campaign_id"))
        r["kind"] = r.pop("action")
        r["at"] = from_ms(r["at_ms"], "UTC").isoformat()
    return rows


@router.get("/audit")
async def audit(
    rt: deps.RuntimeDep,
    _: deps.OwnerAccess,
    campaign: str | None = None,
    actor: str | None = None,
    kind: str | None = None,
    since: str | None = None,
    limit: int = 200,
) -> JSONBytes:
    """Who changed what, newest first. `campaign` a slug (`-`: people and keys only),
    `actor` an email, `key:<name>` or `admin token`, `kind` an action (`update`,
    `rules`, `fire`, `user_add`, ...), `since` epoch ms or RFC 3339."""
    if not 1 <= limit <= 1000:
        raise ApiError(422, "limit: 1 to 1000")
    rows = await audit_rows(
        rt, campaign=campaign, actor=actor, kind=kind, since_ms=parse_since(since), limit=limit
    )
    return JSONBytes(rows)
