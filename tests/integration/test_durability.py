"""Power loss (issue 9, item 7): an acknowledged write is on disk.

SQLite runs WAL with `synchronous=FULL` by default (the WAL is synced at every commit;
NORMAL would only sync at checkpoints, so the last commits before a power cut could
vanish). PostgreSQL keeps `synchronous_commit` on. This test runs against whichever
database the suite uses (DATABASE_URL, else SQLite) and checks that one's setting.
"""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_a_black_holed_postgresql_connection_is_given_up(database_url: str) -> None:
    """A network that drops packets without a reset must not hold the ledger's writer
    for the kernel's ~15 minutes of retransmissions: libpq's keepalives and
    tcp_user_timeout are set on every connection (the server reports them back)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite is a file, not a network")
    engine = make_engine(database_url, timeout_s=2.0)
    try:
        with engine.connect() as conn:
            params = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
    finally:
        engine.dispose()
    assert params["keepalives"] == "1"
    assert params["tcp_user_timeout"] == "10000"
