"""Is each dependency usable right now, and how to say so once rather than per batch.

- `redis_state` probes Redis with a write and its memory figures: with `noeviction` a
  Redis over its `maxmemory` refuses writes (`OOM ...`) while reads and PINGs still
  succeed. The write is `SET key 1 NX` (once the key exists it changes nothing, so
  frequent probes add nothing to the AOF); since Redis counts a command's arguments
  against the limit, the figures (`used_memory` plus a realistic write's size against
  `maxmemory`) say when real writes are refused though that tiny one still passes.
- `require_noeviction` refuses, at start, a Redis that evicts keys: an evicted stream
  entry or counter is a figure silently lost (see DESIGN.md: Redis runs `noeviction`).
- `OutageLog` logs a failing dependency when it starts failing, when the failure
  changes, and when it recovers: one line per change of state, not a traceback per batch.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

OK, OOM, DOWN = "ok", "oom", "down"
DEPENDENCY_ERRORS = (
    RedisConnectionError,
    RedisTimeoutError,
    OperationalError,  # SQLite locked, PostgreSQL refusing or cancelled by a timeout
    InterfaceError,
    PoolTimeout,
    TimeoutError,
    ConnectionError,
)
# What the web edge answers as a dependency failure (503) rather than a bug: the above,
# and a Redis refusal (an OOM inside a script surfaces as a plain ResponseError).
HANDLED_ERRORS = (*DEPENDENCY_ERRORS, ResponseError)


class DependencyTimeout(TimeoutError):
    """A dependency did not answer within WARROOM_DEPENDENCY_TIMEOUT_S."""


def is_oom(exc: object) -> bool:
    """Redis refused a write for lack of memory: redis-py's OutOfMemoryError, or the
    same refusal met by a write inside a Lua script (a script error quoting it)."""
    if isinstance(exc, OutOfMemoryError):
        return True
    text = str(exc) if isinstance(exc, ResponseError) else ""
    return text.startswith("OOM") or "used memory > 'maxmemory'" in text


def is_dependency_error(exc: BaseException) -> bool:
    """A failure of Redis or the database (down, refusing, locked, out of memory, too
    slow), as opposed to a bug: the client should retry later (503)."""
    return is_oom(exc) or isinstance(exc, DEPENDENCY_ERRORS)


def describe(exc: BaseException) -> str:
    if is_oom(exc):
        return "Redis is out of memory (maxmemory reached, noeviction): writes refused"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


# The size of a realistic write: a large request batch's stream entry. Redis counts a
# command's own arguments (its query buffer) against `maxmemory` before it runs, so
# close to the limit a 1-byte SET still passes while every write of this size is
# refused: the probe's tiny write alone answered `ok` to a Redis refusing all real work.
REALISTIC_WRITE_BYTES = 256 * 1024


def memory_full(info: dict[str, Any], write_bytes: int = REALISTIC_WRITE_BYTES) -> bool:
    """Would Redis refuse a write of `write_bytes` now? From INFO memory: the memory
    Redis counts for `maxmemory` (used, less the AOF and replication buffers it does
    not count), plus the write's own arguments, against `maxmemory` (0: no limit)."""
    limit = int(info.get("maxmemory") or 0)
    if limit <= 0:
        return False
    counted = int(info.get("used_memory") or 0) - int(info.get("mem_not_counted_for_evict") or 0)
    return counted + write_bytes > limit


async def redis_state(client: Redis, probe_key: str, timeout_s: float) -> str:
    """`ok`, `oom` (a write of realistic size would be refused) or `down` (no answer
    within `timeout_s`). Both the memory figures and a real (tiny) write: the figures
    see a Redis too full for real writes, the write sees any other refusal."""
    try:
        async with asyncio.timeout(timeout_s):
            info = await client.info("memory")
            await client.set(probe_key, b"1", nx=True)
    except ResponseError as exc:
        return OOM if is_oom(exc) else DOWN
    except (RedisError, OSError, TimeoutError):
        return DOWN
    return OOM if memory_full(info) else OK


def eviction_policy(url: str, timeout_s: float = 5.0) -> str:
    """The `maxmemory-policy` of the Redis at `url` (INFO works where CONFIG is renamed
    away, as on managed services)."""
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        info = client.info("memory")
    finally:
        client.close()
    return str(info.get("maxmemory_policy", "noeviction"))


def require_noeviction(url: str, timeout_s: float = 5.0) -> None:
    policy = eviction_policy(url, timeout_s)
    if policy != "noeviction":
        raise RuntimeError(
            f"Redis at REDIS_URL evicts keys (maxmemory-policy {policy}): Warroom keeps "
            "event streams and counters there and an evicted key is a figure silently "
            "lost. Set `maxmemory-policy noeviction` on that server (CONFIG SET "
            "maxmemory-policy noeviction, or in redis.conf) and start again."
        )


class OutageLog:
    """One log line when a dependency starts failing, one when the failure changes,
    one when it recovers. Unknown errors (bugs) still get their traceback, once."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.log = logger
        self.what = what
        self.state: str | None = None

    def failed(self, exc: BaseException, *extra: Any) -> None:
        state = describe(exc)
        if state == self.state:
            return
        self.state = state
        if is_dependency_error(exc):
            self.log.error("%s failing: %s", self.what, state)
        else:
            self.log.error("%s failing: %s", self.what, state, exc_info=exc)

    def ok(self) -> None:
        if self.state is not None:
            self.log.warning("%s recovered (was: %s)", self.what, self.state)
            self.state = None


# A database that refuses or does not answer at start (the supervisor's message).
DatabaseError = SQLAlchemyError


def shown_url(url: str) -> str:
    """A database or Redis URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def ping_redis(url: str, timeout_s: float = 5.0) -> None:
    """Raises ConnectionError (with the client's reason) when Redis does not answer."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ConnectionError(str(exc)) from exc
    finally:
        client.close()
