"""The console's session, CSRF token and sign-in throttle.

A session is a random id in an `HttpOnly` cookie; Redis holds (under the id's hash)
the session's CSRF token and a fingerprint of the admin token it was opened with, so
every web process sees the same sessions, sign-out ends one everywhere, and changing
WARROOM_ADMIN_TOKEN ends them all. State changes carry the CSRF token (form field
`csrf_token` or header `X-CSRF-Token`), compared in constant time; without it: 403.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from warroom.adapters.redis.console_sessions import (
    Session,
    close_session,
    load_session,
    open_session,
)
from warroom.web import deps

COOKIE = "wr_console"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class NotSignedIn(Exception):
    """Raised by the page dependency: the handler answers with the sign-in page."""


class CsrfRefused(Exception):
    pass


def is_https(request: Request) -> bool:
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or proto == "https"


async def current_session(request: Request) -> Session:
    rt = deps.runtime(request)
    session = await load_session(
        rt.redis, rt.settings.warroom_admin_token, request.cookies.get(COOKIE)
    )
    if session is None:
        raise NotSignedIn()
    return session


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


ConsoleChange = Annotated[Session, Depends(csrf_checked)]


__all__ = [
    "Session",
    "close_session",
    "load_session",
    "open_session",
]
