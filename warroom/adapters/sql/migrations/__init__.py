"""The SQL schema, created and changed only by versioned Alembic revisions.

`migrate(engine)` brings any database (empty, older, or current) to the newest
revision, once, however many processes call it at the same moment:

- PostgreSQL: the whole upgrade runs in one transaction that first takes a
  transaction-level advisory lock; a second process waits on the lock, then finds the
  database at head and does nothing. PostgreSQL's DDL is transactional, so a crash
  half-way leaves the previous revision intact.
- SQLite: an exclusive `flock` on a file beside the database (`<db>.migrate.lock`).

A database created before migrations existed (by `create_all`) has the tables but no
`alembic_version`: it is stamped at the baseline revision, then upgraded.

The scripts ship inside the package (read through importlib.resources), so a wheel
works as well as a checkout. docs/scaling.md says how to add a revision.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from importlib import resources
from typing import Any

from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)
# Alembic narrates every run at INFO ("Context impl ...", its plugins), on every process
# start; what changed is logged by migrate(), once.
for _name in ("alembic.runtime.migration", "alembic.runtime.plugins"):
    logging.getLogger(_name).setLevel(logging.WARNING)

BASELINE = "0001"  # what `create_all` made before migrations existed
LOCK_KEY = 0x5741_5252_4F4F_4D  # "WARROOM": one advisory lock id for schema changes


def target_metadata() -> MetaData:
    """Every table the code knows (for autogenerate and the drift check)."""
    from sqlmodel import SQLModel

    import warroom.adapters.sql.tables  # noqa: F401  (registers the tables)

    return SQLModel.metadata


def _config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("warroom.adapters.sql.migrations")))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head() or ""


def current(connection: Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


@contextlib.contextmanager
def _sqlite_lock(engine: Engine) -> Iterator[None]:
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        yield  # a private database: nobody to race with
        return
    fd = os.open(
        f"{path}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o600
    )  # in the private data dir: 0600 (adapters/private.py)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def migrate(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade to `revision` under the lock; returns (revision before, revision after)."""
    from alembic import command

    postgres = engine.dialect.name == "postgresql"
    lock = contextlib.nullcontext() if postgres else _sqlite_lock(engine)
    with lock, engine.begin() as conn:
        if postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        before = current(conn)
        cfg = _config(conn)
        if before is None and inspect(conn).has_table("campaign"):
            log.info("schema made before migrations: stamping it at %s", BASELINE)
            command.stamp(cfg, BASELINE)
            before = BASELINE
        command.upgrade(cfg, revision)
        after = current(conn)
    if before != after:
        log.info("schema migrated from %s to %s", before or "nothing", after)
    return before, after


def drop_everything(engine: Engine) -> None:
    """Tests: every table the code knows plus Alembic's own, so the next migrate
    starts from nothing."""
    postgres = engine.dialect.name == "postgresql"
    lock = contextlib.nullcontext() if postgres else _sqlite_lock(engine)
    with lock, engine.begin() as conn:
        if postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        target_metadata().drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
