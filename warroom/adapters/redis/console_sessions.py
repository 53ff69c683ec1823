"""The console's sessions, in Redis, so every web process sees the same sessions and
sign-out ends one everywhere (the sign-in throttle is throttle.py). A session is stored under its id's
hash with its CSRF token and a fingerprint of the admin token it was opened with:
changing WARROOM_ADMIN_TOKEN ends them all."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from warroom.adapters.redis import keys


def _sid_key(sid_hash: str) -> str:
    return keys.console_session(sid_hash)


def _fingerprint(admin_token: str) -> str:
    return hashlib.sha256(b"warroom-console:" + admin_token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    sid_hash: str
    csrf: str


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
    data = cast(dict[bytes, bytes], await redis.hgetall(_sid_key(sid_hash)))  # not decoded
    fp = data.get(b"fp", b"").decode()
    if not fp or not hmac.compare_digest(fp, _fingerprint(admin_token)):
        return None
    return Session(sid_hash, data[b"csrf"].decode())


async def close_session(redis: Redis, session: Session) -> None:
    await redis.delete(_sid_key(session.sid_hash))
