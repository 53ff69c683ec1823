"""The console's session, CSRF token and sign-in throttle.

A session is a random id in an `HttpOnly` cookie; Redis holds (under the id's hash)
the session's CSRF token and a fingerprint of the admin token it was opened with, so
every web process sees the same sessions, sign-out ends one everywhere, and changing
WARROOM_ADMIN_TOKEN ends them all. State changes carry the CSRF token (form field
`csrf_token` or header `X-CSRF-Token`), compared in constant time; without it: 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio import Redis

from warroom.web import deps

COOKIE = "wr_console"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class ConsoleSettings(BaseSettings):
    """WARROOM_CONSOLE_* from the environment."""

    model_config = SettingsConfigDict(env_prefix="WARROOM_CONSOLE_", extra="ignore")

    session_hours: float = 12.0
    max_failed_logins: int = 10  # per client per minute; then 429 with Retry-After


class NotSignedIn(Exception):
    """Raised by the page dependency: the handler answers with the sign-in page."""


class CsrfRefused(Exception):
    pass


@dataclass(frozen=True)
class Session:
    sid_hash: str
    csrf: str


def _sid_key(sid_hash: str) -> str:
    return f"wr:console:session:{sid_hash}"


def _fingerprint(admin_token: str) -> str:
    return hashlib.sha256(b"warroom-console:" + admin_token.encode()).hexdigest()


async def open_session(redis: Redis, admin_token: str, ttl_s: int) -> tuple[str, Session]:
    sid = secrets.token_urlsafe(32)
    sid_hash = hashlib.sha256(sid.encode()).hexdigest()
    csrf = secrets.token_urlsafe(32)
    await redis.hset(_sid_key(sid_hash), mapping={"csrf": csrf, "fp": _fingerprint(admin_token)})
    await redis.expire(_sid_key(sid_hash), ttl_s)
    return sid, Session(sid_hash, csrf)


async def load_session(redis: Redis, admin_token: str | None, sid: str | None) -> Session | None:
    if not sid or not admin_token or len(sid) > 100:
        return None
    sid_hash = hashlib.sha256(sid.encode()).hexdigest()
    data = await redis.hgetall(_sid_key(sid_hash))
    fp = data.get(b"fp", b"").decode()
    if not fp or not hmac.compare_digest(fp, _fingerprint(admin_token)):
        return None
    return Session(sid_hash, data[b"csrf"].decode())


async def close_session(redis: Redis, session: Session) -> None:
    await redis.delete(_sid_key(session.sid_hash))


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def login_wait_s(redis: Redis, client: str, limit: int) -> int:
    """Seconds this client must wait before trying again (0: go ahead)."""
    key = f"wr:console:fails:{client}"
    count = int(await redis.get(key) or 0)
    if count < limit:
        return 0
    ttl = await redis.ttl(key)
    return max(int(ttl), 1)


async def count_failure(redis: Redis, client: str) -> None:
    key = f"wr:console:fails:{client}"
    pipe = redis.pipeline()
    pipe.set(key, 0, ex=60, nx=True)  # the window opens at the first failure
    pipe.incr(key)
    await pipe.execute()


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
