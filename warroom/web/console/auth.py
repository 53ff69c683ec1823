"""The console's session, CSRF token, roles and sign-in throttle.

A session is a random id in an `HttpOnly` cookie; Redis holds (under the id's hash)
the session's CSRF token, its person (none: the admin token) and a fingerprint of the
secret it was opened with, so every web process sees the same sessions, sign-out ends
one everywhere, changing WARROOM_ADMIN_TOKEN ends the admin token's, and a person's
password change or removal ends theirs. The role is read afresh on every request, so a
role change takes effect at once. State changes carry the CSRF token (form field
`csrf_token` or header `X-CSRF-Token`), compared in constant time; without it: 403.

Roles (core/people.py): every signed-in person reads (`ConsoleSession`); a change to a
campaign needs operator (`ConsoleChange`); people, keys and the audit need owner
(`OwnerPage`, `OwnerChange`). Signing out and changing one's own password need only a
session (`SignedChange`).
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Request

from warroom.adapters.redis.console_sessions import (
    Session,
    close_session,
    load_session,
    open_session,
)
from warroom.core.people import ADMIN_TOKEN, ROLE_LABELS, Actor, Role, acting, allows
from warroom.services.people import UserRecord, user_actor
from warroom.web import deps

COOKIE = "wr_console"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class NotSignedIn(Exception):
    """Raised by the page dependency: the handler answers with the sign-in page."""


class CsrfRefused(Exception):
    pass


class RoleRefused(Exception):
    """Signed in, but the role may not do this: a 403 page."""

    def __init__(self, actor: Actor, need: Role) -> None:
        super().__init__(need)
        self.actor = actor
        self.need = need

    @property
    def message(self) -> str:
        have = ROLE_LABELS.get(self.actor.role, self.actor.role)
        if self.need == "owner":
            return f"你的角色（{have}）不能管理人员、密钥或查看审计，需要所有者。"
        return f"你的角色（{have}）只能查看，不能修改。"


def is_https(request: Request) -> bool:
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or proto == "https"


async def current_session(request: Request) -> Session:
    """Any signed-in person or the admin token (reads: every role)."""
    rt = deps.runtime(request)
    found: dict[str, UserRecord] = {}

    async def secret_of(user_id: int | None) -> str | None:
        if user_id is None:
            return rt.settings.warroom_admin_token
        user = await rt.people.get(user_id)
        if user is None:
            return None
        found["user"] = user
        return user.password_hash

    session = await load_session(rt.redis, request.cookies.get(COOKIE), secret_of)
    if session is None:
        raise NotSignedIn()
    actor = user_actor(found["user"]) if session.user_id is not None else ADMIN_TOKEN
    acting(actor)
    return replace(session, actor=actor)


ConsoleSession = Annotated[Session, Depends(current_session)]


async def csrf_checked(request: Request, session: ConsoleSession) -> Session:
    """Every console state change: the session's CSRF token in the header or the form."""
    given = request.headers.get(CSRF_HEADER)
    if not given:
        ctype = request.headers.get("content-type", "")
        if "form" in ctype:
            form = await request.form()  # cached by Starlette: the handler reads it again
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if not given or not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise CsrfRefused()
    return session


SignedChange = Annotated[Session, Depends(csrf_checked)]


def _need(session: Session, need: Role) -> Session:
    if not allows(session.actor.role, need):
        raise RoleRefused(session.actor, need)
    return session


async def operator_change(session: SignedChange) -> Session:
    """A change to a campaign: CSRF-checked, operator or owner."""
    return _need(session, "operator")


async def owner_page(session: ConsoleSession) -> Session:
    return _need(session, "owner")


async def owner_change(session: SignedChange) -> Session:
    return _need(session, "owner")


ConsoleChange = Annotated[Session, Depends(operator_change)]
OwnerPage = Annotated[Session, Depends(owner_page)]
OwnerChange = Annotated[Session, Depends(owner_change)]

# What each console dependency lets through ("signed": any session), for the route
# table test (tests/e2e/test_roles.py).
ROLE_DEPS: dict[Any, str] = {
    current_session: "analyst",
    csrf_checked: "signed",
    operator_change: "operator",
    owner_page: "owner",
    owner_change: "owner",
}


__all__ = [
    "Session",
    "close_session",
    "load_session",
    "open_session",
]
