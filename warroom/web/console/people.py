"""Console pages of people, API keys, the audit (owners) and one's own password
(issue 18). A new person's one-time password and a new key are shown once, on the page
that answers the form, and never again: only their hashes are kept."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from warroom.core.people import ROLES
from warroom.services.refusal import Refused
from warroom.web import deps
from warroom.web.api.people import audit_rows
from warroom.web.console import auth
from warroom.web.console.auth import ConsoleSession, OwnerChange, OwnerPage, SignedChange
from warroom.web.console.base import AUDIT_LABELS, ConsoleError, form_of, page, router

CONSOLE_TZ = "Asia/Shanghai"


async def people_context(request: Request, **extra: Any) -> dict[str, Any]:
    rt = deps.runtime(request)
    ctx: dict[str, Any] = {
        "users": await rt.people.users(),
        "keys": await rt.people.keys(),
        "roles": ROLES,
        "tz": CONSOLE_TZ,
        "tab_people": True,
        "errors": {},
        "values": {},
    }
    ctx.update(extra)
    return ctx


@router.get("/admin/people", response_class=HTMLResponse)
async def people_page(request: Request, session: OwnerPage) -> HTMLResponse:
    return page(request, session, "admin/people.html", await people_context(request))


@router.post("/admin/people", response_class=HTMLResponse)
async def add_person(request: Request, session: OwnerChange) -> HTMLResponse:
    form = await form_of(request)
    email, role = form.get("email", ""), form.get("role", "")
    try:
        user, password = await deps.runtime(request).people.add(email, role)
    except Refused as exc:
        ctx = await people_context(
            request, errors={"person": exc.message}, values={"email": email, "role": role}
        )
        return page(request, session, "admin/people.html", ctx, exc.status)
    made = {"email": user.email, "role": user.role, "password": password}
    return page(request, session, "admin/people.html", await people_context(request, made=made))


@router.post("/admin/people/{user_id}/role", response_class=HTMLResponse)
async def change_role(request: Request, user_id: int, session: OwnerChange) -> HTMLResponse:
    form = await form_of(request)
    try:
        await deps.runtime(request).people.set_role(user_id, form.get("role", ""))
    except Refused as exc:
        ctx = await people_context(request, errors={"list": exc.message})
        return page(request, session, "admin/people.html", ctx, exc.status)
    ctx = await people_context(request, notice="角色已修改")
    return page(request, session, "admin/people.html", ctx)


@router.post("/admin/people/{user_id}/delete", response_class=HTMLResponse)
async def remove_person(request: Request, user_id: int, session: OwnerChange) -> HTMLResponse:
    try:
        user = await deps.runtime(request).people.remove(user_id)
    except Refused as exc:
        ctx = await people_context(request, errors={"list": exc.message})
        return page(request, session, "admin/people.html", ctx, exc.status)
    ctx = await people_context(request, notice=f"已移除 {user.email}，其登录已失效")
    return page(request, session, "admin/people.html", ctx)


@router.post("/admin/keys", response_class=HTMLResponse)
async def add_key(request: Request, session: OwnerChange) -> HTMLResponse:
    form = await form_of(request)
    name, role = form.get("name", ""), form.get("role", "")
    try:
        made = await deps.runtime(request).people.add_key(name, role)
    except Refused as exc:
        ctx = await people_context(
            request, errors={"key": exc.message}, values={"name": name, "key_role": role}
        )
        return page(request, session, "admin/people.html", ctx, exc.status)
    new_key = {"name": made.record.name, "role": made.record.role, "key": made.key}
    ctx = await people_context(request, new_key=new_key)
    return page(request, session, "admin/people.html", ctx)


@router.post("/admin/keys/{key_id}/delete", response_class=HTMLResponse)
async def revoke_key(request: Request, key_id: int, session: OwnerChange) -> HTMLResponse:
    try:
        record = await deps.runtime(request).people.revoke_key(key_id)
    except Refused as exc:
        ctx = await people_context(request, errors={"keys": exc.message})
        return page(request, session, "admin/people.html", ctx, exc.status)
    ctx = await people_context(request, notice=f"已吊销密钥 {record.name}")
    return page(request, session, "admin/people.html", ctx)


# -- the audit ---------------------------------------------------------------------------


def since_of(text: str) -> int | None:
    """The filter's date (YYYY-MM-DD, Beijing time) as epoch ms."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=ZoneInfo(CONSOLE_TZ))
    except ValueError:
        raise ConsoleError(422, "日期格式应为 年-月-日，例如 2026-11-11") from None
    return int(day.timestamp() * 1000)


@router.get("/admin/audit", response_class=HTMLResponse)
async def audit_page(request: Request, session: OwnerPage) -> HTMLResponse:
    rt = deps.runtime(request)
    q = request.query_params
    filters = {k: q.get(k, "")[:300] for k in ("campaign", "actor", "kind", "since")}
    try:
        rows = await audit_rows(
            rt,
            campaign=filters["campaign"] or None,
            actor=filters["actor"] or None,
            kind=filters["kind"] or None,
            since_ms=since_of(filters["since"]),
            limit=300,
        )
    except Refused as exc:
        raise ConsoleError(exc.status, "没有这个活动") from None
    ctx = {
        "rows": rows,
        "filters": filters,
        "campaigns": [r.settings.slug for r in await rt.campaigns.list()],
        "actors": await asyncio.to_thread(rt.store.audit_actors),
        "kinds": AUDIT_LABELS,
        "tz": CONSOLE_TZ,
        "tab_audit": True,
    }
    return page(request, session, "admin/audit.html", ctx)


# -- one's own password ------------------------------------------------------------------


@router.get("/admin/account", response_class=HTMLResponse)
async def account_page(request: Request, session: ConsoleSession) -> HTMLResponse:
    return page(request, session, "admin/account.html", {"tab_account": True})


@router.post("/admin/account/password", response_class=HTMLResponse)
async def change_password(request: Request, session: SignedChange) -> Response:
    """Every session of the person ends (bound to the old hash); this browser gets a
    new one."""
    rt = deps.runtime(request)
    if session.user_id is None:
        raise ConsoleError(409, "管理令牌登录没有密码；请用邮箱账号登录后修改自己的密码")
    form = await form_of(request)
    new, again = form.get("new_password", ""), form.get("new_password_again", "")
    if new != again:
        ctx = {"tab_account": True, "error": "两次输入的新密码不一致"}
        return page(request, session, "admin/account.html", ctx, 422)
    try:
        user = await rt.people.change_password(
            session.user_id, form.get("current_password", ""), new
        )
    except Refused as exc:
        msg = "当前密码不正确" if exc.status == 403 else f"新密码不可用：{exc.message}"
        ctx = {"tab_account": True, "error": msg}
        return page(request, session, "admin/account.html", ctx, exc.status)
    ttl = int(rt.settings.console.session_hours * 3600)
    sid, fresh = await auth.open_session(rt.redis, user.password_hash, ttl, user.id)
    fresh = type(fresh)(fresh.sid_hash, fresh.csrf, fresh.user_id, session.actor)
    res = page(request, fresh, "admin/account.html", {"tab_account": True, "saved": True})
    res.set_cookie(
        auth.COOKIE,
        sid,
        max_age=ttl,
        httponly=True,
        samesite="lax",
        secure=auth.is_https(request),
        path="/",
    )
    return res
