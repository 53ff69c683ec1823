"""The SQL engine: SQLite or PostgreSQL, every wait bounded, every commit durable."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import create_engine


def make_engine(
    url: str, pool_size: int = 5, timeout_s: float = 5.0, synchronous: str = "FULL"
) -> Engine:
    """`timeout_s` bounds every wait on the database (SQLite's busy wait for another
    writer's lock, PostgreSQL's connect, a free pool slot), so that an outage turns into
    a prompt 503 instead of a request that hangs. `synchronous` is SQLite's: FULL syncs
    the WAL on every commit, so an acknowledged write survives a power cut."""
    if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
        raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": timeout_s})
        busy_ms = max(1, int(timeout_s * 1000))

        @event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous.upper()}")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    connect_args: dict[str, Any] = {}
    if "psycopg" in url:
        connect_args = {
            "connect_timeout": max(1, math.ceil(timeout_s)),
            # A network that silently drops packets (a dead switch, a failover that
            # leaves the old address black-holed) would otherwise hold a connection in
            # a read until the kernel's retransmissions give up, about 15 minutes:
            # the ledger's writer thread waits with it. TCP keepalives find an idle dead
            # peer, and tcp_user_timeout bounds unacknowledged data, both in seconds.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": int(max(10.0, 4 * timeout_s) * 1000),
        }
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=timeout_s,
        connect_args=connect_args,
    )
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "connect")
        def _durable(conn: Any, _record: Any) -> None:
            # A 202 means the commit is on disk: never run with synchronous_commit off,
            # whatever the server's default (on, local, remote_* all flush locally).
            cur = conn.cursor()
            cur.execute("SHOW synchronous_commit")
            if cur.fetchone()[0] == "off":
                cur.execute("SET synchronous_commit = on")
            cur.close()
            conn.commit()

    return engine
