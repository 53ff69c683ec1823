"""What `warroom doctor` reads from Redis and the SQL database: facts, no judgement
(warroom/core/doctor_rules.py decides). Read-only, every call bounded by `timeout_s`;
a dependency that does not answer raises ProbeFailed with a one-line reason.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from warroom.adapters.sql.engine import make_engine


class ProbeFailed(Exception):
    """The dependency did not answer; the message is one line, without credentials."""


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0][:300]}" if lines else type(cause).__name__


@dataclass(frozen=True)
class RedisFacts:
    info: dict[str, Any]  # INFO's default sections, merged
    config: dict[str, str]  # CONFIG GET of what INFO lacks; empty where CONFIG is renamed
    server_time: float  # TIME, in seconds since the epoch
    local_before: float  # this host's clock just before and after TIME
    local_after: float


def redis_facts(url: str, timeout_s: float) -> RedisFacts:
    client = redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
    )
    try:
        info: dict[str, Any] = dict(client.info())
        config: dict[str, str] = {}
        for name in ("save", "appendonly", "maxclients"):
            # Managed services rename or refuse CONFIG: INFO still says most of it.
            with suppress(redis.ResponseError):
                got: dict[Any, Any] = dict(client.config_get(name))
                config.update({str(k): str(v) for k, v in got.items()})
        before = time.time()
        sec, usec = client.time()
        after = time.time()
    except redis.RedisError as exc:
        raise ProbeFailed(_reason(exc)) from exc
    finally:
        client.close()
    return RedisFacts(info, config, sec + usec / 1e6, before, after)


@dataclass(frozen=True)
class SqlFacts:
    dialect: str  # "postgresql" or "sqlite"
    # PostgreSQL: pg_settings' reset_val by name (the server's default for a session,
    # not the value Warroom's own connect hook may have set on this one).
    settings: dict[str, str] = field(default_factory=dict)
    server_time: float | None = None
    local_before: float = 0.0
    local_after: float = 0.0
    pool_size: int = 0  # connections one process may open: make_engine's pool + overflow
    max_overflow: int = 0
    sqlite_path: str | None = None
    journal_mode: str | None = None  # None: the SQLite file does not exist yet


PG_SETTINGS = (
    "fsync",
    "synchronous_commit",
    "synchronous_standby_names",
    "max_connections",
    "superuser_reserved_connections",
    "reserved_connections",  # PostgreSQL 16+
)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for an in-memory database)."""
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def sql_facts(url: str, timeout_s: float, synchronous: str = "FULL") -> SqlFacts:
    if url.startswith("sqlite"):
        return _sqlite_facts(url, timeout_s, synchronous)
    engine = make_engine(url, timeout_s=timeout_s)  # the pool every process gets
    pool: Any = engine.pool
    size = int(pool.size())
    overflow = int(getattr(pool, "_max_overflow", 0))  # no public reader in SQLAlchemy
    try:
        with engine.connect() as conn:
            # A server that accepts the connection and then hangs must not hold doctor.
            conn.execute(text(f"SET statement_timeout = {max(1, int(timeout_s * 1000))}"))
            rows = conn.execute(
                text("SELECT name, reset_val FROM pg_settings WHERE name = ANY(:names)"),
                {"names": list(PG_SETTINGS)},
            ).all()
            before = time.time()
            now = conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one()
            after = time.time()
    except SQLAlchemyError as exc:
        raise ProbeFailed(_reason(exc)) from exc
    finally:
        engine.dispose()
    return SqlFacts(
        dialect=engine.dialect.name,
        settings={str(name): str(value) for name, value in rows},
        server_time=float(now),
        local_before=before,
        local_after=after,
        pool_size=size,
        max_overflow=overflow,
    )


def _sqlite_facts(url: str, timeout_s: float, synchronous: str) -> SqlFacts:
    path = sqlite_file(url)
    if path is None or not path.exists():
        # Not created here: doctor reads a deployment, it does not make one.
        return SqlFacts("sqlite", sqlite_path=str(path) if path else None)
    engine = make_engine(url, timeout_s=timeout_s, synchronous=synchronous)
    try:
        with engine.connect() as conn:
            # After Warroom's own pragmas (WAL): what every process of it will get.
            mode = str(conn.execute(text("PRAGMA journal_mode")).scalar_one())
    except SQLAlchemyError as exc:
        raise ProbeFailed(_reason(exc)) from exc
    finally:
        engine.dispose()
    return SqlFacts("sqlite", sqlite_path=str(path), journal_mode=mode)
