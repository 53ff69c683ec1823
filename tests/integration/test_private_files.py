"""Private files (issue 17): the data directory 0700 and every file Warroom writes in
it 0600 (the SQLite database, its WAL and SHM, the embedded Redis's directory, AOF and
log), whatever the umask: with 022 they were 755 and 644."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from warroom.adapters.redis.embedded import EmbeddedRedis
from warroom.bootstrap import sync_store
from warroom.settings import Settings


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_everything_in_the_data_dir_is_private(tmp_path: Path, umask_022: None) -> None:
    data = tmp_path / "data"
    settings = Settings(warroom_data_dir=data, database_url=None, redis_url=None)
    store = sync_store(settings)  # creates the directory and the database
    server = EmbeddedRedis(data / "redis")
    server.start()
    try:
        with store.engine.begin() as conn:  # a write: the WAL and SHM exist now
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO probe VALUES (1)")
        r = redis.Redis(unix_socket_path=str(server.socket))
        r.set("k", "v")
        r.close()
        files = [p for p in data.rglob("*") if p.is_file() and not p.is_socket()]
        names = {p.name for p in files}
        assert {"warroom.db", "warroom.db-wal", "warroom.db-shm"} <= names, names
        assert any(n.startswith("appendonly") for n in names), names
        assert mode(data) == 0o700
        assert mode(data / "redis") == 0o700
        for d in data.rglob("*"):
            if d.is_dir():
                assert mode(d) == 0o700, d
        for f in files:
            assert mode(f) == 0o600, (f, oct(mode(f)))
    finally:
        server.stop()
        store.engine.dispose()


def test_an_older_data_dir_is_tightened(tmp_path: Path, umask_022: None) -> None:
    data = tmp_path / "old"
    data.mkdir(mode=0o755)
    (data / "admin-token").write_text("t\n")
    os.chmod(data / "admin-token", 0o644)
    settings = Settings(warroom_data_dir=data, database_url=None, redis_url=None)
    sync_store(settings).engine.dispose()
    assert mode(data) == 0o700
    assert mode(data / "admin-token") == 0o600
    assert mode(data / "warroom.db") == 0o600
