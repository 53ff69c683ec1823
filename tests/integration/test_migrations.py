"""One schema, migrated once: Alembic revisions under a lock, so any number of
processes can start together on a fresh or an older database.

SQLite always; PostgreSQL when DATABASE_URL names one (each test then creates a fresh
database of its own on that server and drops it afterwards).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from warroom.adapters.sql.engine import make_engine
from warroom.adapters.sql.migrations import head, migrate, target_metadata
from warroom.adapters.sql.store import Store

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("DATABASE_URL", "")
IS_PG = PG_URL.startswith("postgresql")
TABLES = {
    "campaign",
    "ledger_event",
    "report",
    "report_template",
    "stimulus_fire",
    "webhook",
    "webhook_delivery",
}


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/fresh.db"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database beside DATABASE_URL's, dropped afterwards."""
    if not IS_PG:
        pytest.skip("DATABASE_URL is not PostgreSQL (the SQLite tests cover the rest)")
    import psycopg

    base = make_url(PG_URL)
    name = f"{base.database}_mig_{secrets.token_hex(3)}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_together(url: str, n: int = 4) -> list[subprocess.CompletedProcess[str]]:
    """n processes that each import the code, wait for the same instant, then migrate."""
    go = time.time() + 3.0  # all of them are past their imports by then
    code = (
        "import logging, sys, time\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from warroom.adapters.sql.engine import make_engine\n"
        "from warroom.adapters.sql.store import Store\n"
        f"time.sleep(max(0.0, {go} - time.time()))\n"
        "Store(make_engine(sys.argv[1])).create_schema()\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=240)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def assert_migrated_once(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= TABLES
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            assert [v[0] for v in versions] == [head()]
            # the schema the migrations made is the one the code declares
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, target_metadata()) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_four_processes_started_together_migrate_once(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    results = start_together(url)
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    migrated = sum("schema migrated from nothing" in r.stderr for r in results)
    assert migrated == 1, [r.stderr[-500:] for r in results]  # one did it, three saw it done
    assert_migrated_once(url)


LATER_TABLES = {
    "console_audit",
    "app_user",
    "api_key",
    "campaign_link",
    "source",
    "source_delivery",
    "import_run",
    "stimulus_task",
}  # 0002, 0004-0008
# Columns later revisions added to tables of the baseline (0008).
LATER_COLUMNS = {
    "stimulus_fire": (
        "status",
        "proposed_at_ms",
        "expires_at_ms",
        "decided_at_ms",
        "decided_by",
        "holdout_share",
        "effect_minutes",
        "seed",
        "assignment",
        "effect",
    ),
    "webhook": ("group_id",),
}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_made_before_migrations_is_stamped_and_kept(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    engine = make_engine(url)
    try:
        # what every process did before: create_all of the models of then (the tables of
        # later revisions did not exist yet)
        md = target_metadata()
        md.create_all(engine, tables=[t for t in md.sorted_tables if t.name not in LATER_TABLES])
        with engine.begin() as conn:
            for table, columns in LATER_COLUMNS.items():
                for column in columns:
                    conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            conn.execute(
                text(
                    "INSERT INTO campaign (slug, settings_json, ingest_token_hash,"
                    " viewer_token_hash, created_at_ms) VALUES ('old', '{}', 'i', 'v', 1)"
                )
            )
        before, after = migrate(engine)
        assert (before, after) == ("0001", head())
        assert migrate(engine) == (head(), head())  # idempotent
        with engine.connect() as conn:
            slugs = conn.execute(text("SELECT slug FROM campaign")).scalars().all()
        assert slugs == ["old"]
    finally:
        engine.dispose()
    assert_migrated_once(url)


def test_tests_can_drop_and_recreate_the_schema(sqlite_url: str) -> None:
    store = Store(make_engine(sqlite_url))
    try:
        store.create_schema()
        store.drop_schema()
        with store.engine.connect() as conn:
            assert not set(inspect(conn).get_table_names()) & (TABLES | {"alembic_version"})
        store.create_schema()
    finally:
        store.engine.dispose()
    assert_migrated_once(sqlite_url)


def test_warroom_migrate_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["WARROOM_DATA_DIR"] = str(tmp_path)
    cmd = [sys.executable, "-m", "warroom.cli", "migrate"]
    first = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert f"schema at {head()}" in first.stdout
    again = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "migrated" not in again.stderr
    assert_migrated_once(f"sqlite:///{tmp_path}/warroom.db")
