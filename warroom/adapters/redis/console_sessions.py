"""The console's sessions, in Redis, so every web process sees the same sessions and
sign-out ends one everywhere (the sign-in throttle is throttle.py). A session is stored
under its id's hash with its CSRF token, the person it belongs to (none: the admin
token) and a fingerprint of the secret it was opened with: the admin token, or the
person's password hash. Changing WARROOM_ADMIN_TOKEN ends every admin-token session;
changing a password ends every session of that person; removing a person ends theirs
(their secret is gone)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio import Redis

from warroom.adapters.redis import keys
from warroom.core.people import ADMIN_TOKEN, Actor


def _sid_key(sid_hash: str) -> str:
    return keys.console_session(sid_hash)


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(b"warroom-console:" + secret.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    sid_hash: str
    csrf: str
    user_id: int | None = None  # None: opened with the admin token
    actor: Actor = field(default=ADMIN_TOKEN)  # filled in by the console (web/console/auth.py)


async def open_session(
    redis: Redis, secret: str, ttl_s: int, user_id: int | None = None
) -> tuple[str, Session]:
    sid = secrets.token_urlsafe(32)
    sid_hash = hashlib.sha256(sid.encode()).hexdigest()
    csrf = secrets.token_urlsafe(32)
    uid = "" if user_id is None else str(user_id)
    fields: dict[str | bytes, str] = {"csrf": csrf, "fp": _fingerprint(secret), "uid": uid}
    await redis.hset(_sid_key(sid_hash), mapping=cast(Any, fields))
    await redis.expire(_sid_key(sid_hash), ttl_s)
    return sid, Session(sid_hash, csrf, user_id)


SecretOf = Callable[[int | None], Awaitable[str | None]]


async def load_session(redis: Redis, sid: str | None, secret_of: SecretOf) -> Session | None:
    """The session of this cookie if its secret still is the one it was opened with
    (`secret_of(user_id)`: the admin token for None, else the person's password hash,
    None when there is none any more)."""
    if not sid or len(sid) > 100:
        return None
    sid_hash = hashlib.sha256(sid.encode()).hexdigest()
    data = cast(dict[bytes, bytes], await redis.hgetall(_sid_key(sid_hash)))  # not decoded
    fp = data.get(b"fp", b"").decode()
    uid_text = data.get(b"uid", b"").decode()
    if not fp or (uid_text and not uid_text.isdigit()):
        return None
    user_id = int(uid_text) if uid_text else None
    secret = await secret_of(user_id)
    if not secret or not hmac.compare_digest(fp, _fingerprint(secret)):
        return None
    return Session(sid_hash, data[b"csrf"].decode(), user_id)


async def close_session(redis: Redis, session: Session) -> None:
    await redis.delete(_sid_key(session.sid_hash))
