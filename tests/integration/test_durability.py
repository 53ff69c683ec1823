"""Power loss (issue 9, item 7): an acknowledged write is on disk.

SQLite runs WAL with `synchronous=FULL` by default (the WAL is synced at every commit;
NORMAL would only sync at checkpoints, so the last commits before a power cut could
vanish). PostgreSQL keeps `synchronous_commit` on. This test runs against whichever
database the suite uses (DATABASE_URL, else SQLite) and checks that one's setting.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Harness
from tests.e2e.test_smoke import order
from warroom.adapters.sql.engine import make_engine


async def test_acknowledged_writes_are_synced(harness: Harness) -> None:
    c = await harness.create_campaign()
    res = await harness.post_events("sale", c["ingest_token"], order(1))
    assert res.status_code == 202
    engine = harness.runtime.store.engine  # the very engine the ledger writer uses
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        else:
            assert engine.dialect.name == "postgresql", engine.dialect.name
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() != "off"
            assert conn.exec_driver_sql("SHOW fsync").scalar() == "on"


def test_sqlite_synchronous_is_a_setting(tmp_path: Path) -> None:
    """NORMAL stays available for those who accept the bound (see docs/benchmarks.md)."""
    for mode, expected in (("FULL", 2), ("NORMAL", 1), ("EXTRA", 3)):
        engine = make_engine(f"sqlite:///{tmp_path / mode}.db", synchronous=mode)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == expected
        engine.dispose()


def test_settings_default_is_durable() -> None:
    from warroom.settings import Settings

    assert Settings().warroom_sqlite_synchronous == "FULL"
