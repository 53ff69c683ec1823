"""Dependency outages answer fast and clearly (issue 9, item 3).

Every failure of the database or Redis reaches the client as `503` with a JSON
`{"error": ...}` body and `Retry-After`, within a bounded time
(WARROOM_DEPENDENCY_TIMEOUT_S, 1 s here): never a plain-text 500, never a 202 for an
event that was not durably recorded. The outages are real: a closed port, a listener
that never speaks, a second connection holding the write lock, a stopped or full
redis-server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import text

from tests.conftest import Harness, clean_settings, harness_for
from tests.e2e.test_smoke import order
from warroom.adapters.redis.embedded import EmbeddedRedis
from warroom.adapters.sql.engine import make_engine
from warroom.settings import Settings

TIMEOUT_S = 1.0
MARGIN_S = 10.0  # generous: a loaded machine half as fast must still pass


def assert_unavailable(res: httpx.Response, took: float) -> None:
    assert res.status_code == 503, (res.status_code, res.text)
    assert res.headers["content-type"].startswith("application/json")
    assert isinstance(res.json()["error"], str) and res.json()["error"]
    assert int(res.headers["retry-after"]) >= 1
    assert took < TIMEOUT_S + MARGIN_S, took


async def timed_post(h: Harness, token: str, payload: Any) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    res = await h.post_events("sale", token, payload)
    return res, time.monotonic() - began


async def ledger_count(h: Harness) -> int:
    record = await h.runtime.campaigns.get("sale")
    return await asyncio.to_thread(h.runtime.store.count_events, record.id)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a hung server)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(srv.accept()[0])

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()


@pytest.fixture
def quick(settings: Settings) -> Settings:
    settings.warroom_dependency_timeout_s = TIMEOUT_S
    return settings


@pytest.mark.parametrize("failure", ["refused", "silent"])
async def test_postgresql_unreachable_is_503_json(quick: Settings, failure: str) -> None:
    """The campaign lookup runs first and used to escape the error handling (a
    plain-text 500 from the ingest fast path)."""
    async with harness_for(quick) as h:
        c = await h.create_campaign()
        before = await ledger_count(h)
        good = h.runtime.store.engine
        with contextlib.ExitStack() as stack:
            port = closed_port() if failure == "refused" else stack.enter_context(silent_listener())
            url = f"postgresql://warroom:x@127.0.0.1:{port}/warroom"
            h.runtime.store.engine = make_engine(url, timeout_s=TIMEOUT_S)
            h.runtime.campaigns.forget("sale")
            try:
                for payload in (order(10), [order(11), order(12)]):
                    res, took = await timed_post(h, c["ingest_token"], payload)
                    assert_unavailable(res, took)
                    assert "database" in res.json()["error"] or "lookup" in res.json()["error"]
                began = time.monotonic()
                res = await h.client.get(
                    "/api/v1/campaigns/sale/snapshot",
                    headers={"Authorization": f"Bearer {c['viewer_token']}"},
                )
                assert_unavailable(res, time.monotonic() - began)
                began = time.monotonic()
                res = await h.client.get("/healthz")
                assert res.status_code == 503 and res.json()["parts"]["database"] == "down"
                assert time.monotonic() - began < TIMEOUT_S + MARGIN_S
            finally:
                h.runtime.store.engine.dispose()
                h.runtime.store.engine = good
                h.runtime.campaigns.forget("sale")
        assert await ledger_count(h) == before
        res = await h.post_events("sale", c["ingest_token"], order(13))
        assert res.status_code == 202 and res.json()["accepted"] == 1


@contextlib.contextmanager
def write_locked(database_url: str) -> Iterator[None]:
    """Another process's writer holding the ledger: SQLite `BEGIN EXCLUSIVE` on the file,
    PostgreSQL an exclusive lock on the table; both held until the block ends."""
    if database_url.startswith("sqlite"):
        con = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            con.execute("ROLLBACK")
            con.close()
        return
    engine = make_engine(database_url)
    with engine.connect() as conn:
        tx = conn.begin()
        conn.execute(text("LOCK TABLE ledger_event IN EXCLUSIVE MODE"))
        try:
            yield
        finally:
            tx.rollback()
    engine.dispose()


async def test_ledger_locked_by_another_writer_is_503_and_records_nothing(
    quick: Settings,
) -> None:
    async with harness_for(quick) as h:
        c = await h.create_campaign()
        before = await ledger_count(h)
        with write_locked(str(quick.database_url)):
            results = await asyncio.gather(
                timed_post(h, c["ingest_token"], order(20)),
                timed_post(h, c["ingest_token"], [order(21), order(22)]),
                timed_post(h, c["ingest_token"], order(23)),
            )
            for res, took in results:
                assert_unavailable(res, took)
            health = await h.client.get("/healthz")
            assert health.status_code == 503
            assert health.json()["parts"]["database"] == "failing"
        # The lock is gone: nothing that was answered 503 may land afterwards.
        await asyncio.sleep(3 * TIMEOUT_S)
        assert await ledger_count(h) == before
        await h.drain()
        assert (await h.snapshot("sale", c["viewer_token"]))["totals"]["orders"] == 0
        res = await h.post_events("sale", c["ingest_token"], order(20))
        assert res.status_code == 202 and res.json()["accepted"] == 1
        assert (await h.client.get("/healthz")).status_code == 200


# Redis outages: a redis-server of the test's own, so stopping or filling it harms no
# other test.


@contextlib.asynccontextmanager
async def own_redis(
    tmp_path: Path, redis_url: str, database_url: str
) -> AsyncIterator[tuple[EmbeddedRedis, Settings]]:
    server = EmbeddedRedis(tmp_path / "own-redis")
    server.start()
    try:
        settings = clean_settings(
            server.url, database_url, tmp_path, warroom_dependency_timeout_s=TIMEOUT_S
        )
        yield server, settings
    finally:
        server.stop()


async def test_redis_unreachable_answers_fast_and_loses_nothing(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    """Ingest needs only the ledger: with Redis gone an event is still recorded (202),
    promptly, and the relay brings it to the screens once Redis is back. Everything
    that needs Redis answers 503 JSON."""
    from warroom.workers.relay import Relay

    async with (
        own_redis(tmp_path, redis_url, database_url) as (server, settings),
        harness_for(settings) as h,
    ):
        c = await h.create_campaign()
        server.stop()
        res, took = await timed_post(h, c["ingest_token"], [order(30), order(31, 2500)])
        assert res.status_code == 202 and res.json()["accepted"] == 2
        assert took < TIMEOUT_S + MARGIN_S
        began = time.monotonic()
        snap = await h.client.get(
            "/api/v1/campaigns/sale/snapshot",
            headers={"Authorization": f"Bearer {c['viewer_token']}"},
        )
        assert_unavailable(snap, time.monotonic() - began)
        assert "Redis" in snap.json()["error"]
        health = await h.client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["parts"]["redis"] == "down"
        assert health.json()["parts"]["aggregation"] == "stalled"
        server.start()
        relay = Relay(h.runtime.store, h.runtime.stream, grace_ms=0)
        deadline = time.monotonic() + 30
        while await relay.run_once() == 0:
            assert time.monotonic() < deadline, "the relay never re-published"
            await asyncio.sleep(0.2)
        await h.drain()
        totals = (await h.snapshot("sale", c["viewer_token"]))["totals"]
        assert totals["orders"] == 2 and totals["gmv_fen"] == 3500


async def test_evicting_redis_is_refused_at_start(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    async with own_redis(tmp_path, redis_url, database_url) as (server, settings):
        client = redis.Redis(unix_socket_path=str(server.socket))
        client.config_set("maxmemory-policy", "allkeys-lru")
        client.close()
        with pytest.raises(RuntimeError, match="maxmemory-policy allkeys-lru"):
            async with harness_for(settings):
                pass


async def test_redis_out_of_memory_degrades_visibly(
    tmp_path: Path, redis_url: str, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A full Redis (`noeviction`): events are still recorded in SQL, /healthz names
    the degraded parts, the screens' freshness says the figures are delayed, and the
    aggregator logs one line per change of state and dead-letters nothing."""
    from warroom.adapters.redis import keys
    from warroom.workers.aggregator import Aggregator

    async with (
        own_redis(tmp_path, redis_url, database_url) as (server, settings),
        harness_for(settings) as h,
    ):
        c = await h.create_campaign()
        # Recorded and streamed, not yet aggregated: the worker meets the full Redis.
        res = await h.post_events("sale", c["ingest_token"], [order(40), order(41)])
        assert res.json()["accepted"] == 2
        assert (await h.client.get("/healthz")).status_code == 200
        sync = redis.Redis(unix_socket_path=str(server.socket))
        used = int(sync.info("memory")["used_memory"])
        sync.config_set("maxmemory", max(1, used // 2))
        try:
            res = await h.post_events("sale", c["ingest_token"], order(42))
            assert res.status_code == 202 and res.json()["accepted"] == 1  # in SQL
            health = await h.client.get("/healthz")
            assert health.status_code == 503, health.text
            body = health.json()
            assert body["parts"]["redis"] == "oom"
            assert body["parts"]["aggregation"] == "stalled"
            assert "redis: oom" in body["error"]
            loaded = await h.app.state.hub.load("sale")
            assert loaded is not None and loaded.fresh["delayed"] == "redis_oom"

            caplog.set_level(logging.INFO, logger="warroom")
            agg = Aggregator(h.runtime.hot, h.runtime.stream, consumer="oom", reclaim_idle_ms=200)
            stop = asyncio.Event()
            task = asyncio.create_task(agg.run(stop))
            await asyncio.sleep(4)  # several failed attempts: reclaim every 0.1 s
            errors = [
                r
                for r in caplog.records
                if r.name.startswith("warroom.workers") and r.levelno >= logging.ERROR
            ]
            assert len(errors) == 1, [r.getMessage() for r in errors]
            assert errors[0].exc_info is None  # a line, not a traceback
            assert "out of memory" in errors[0].getMessage()
            assert sync.xlen(keys.dead_letters("sale")) == 0  # not the entry's fault
            assert (await h.snapshot("sale", c["viewer_token"]))["totals"]["orders"] == 0
        finally:
            sync.config_set("maxmemory", 0)
        deadline = time.monotonic() + 30
        while (await h.snapshot("sale", c["viewer_token"]))["totals"]["orders"] < 2:
            assert time.monotonic() < deadline, "aggregation did not resume"
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, 10)
        recovered = [
            r
            for r in caplog.records
            if r.name.startswith("warroom.workers") and "recovered" in r.getMessage()
        ]
        assert len(recovered) == 1
        # The next write reaches the stream again; the row stuck during the outage
        # is young, so the relay has time: healthy.
        assert (await h.post_events("sale", c["ingest_token"], order(43))).status_code == 202
        assert (await h.client.get("/healthz")).status_code == 200
        loaded = await h.app.state.hub.load("sale")
        assert loaded is not None and loaded.fresh["delayed"] is None
        sync.close()


@pytest.mark.parametrize("command", ["serve", "worker"])
async def test_evicting_redis_stops_the_cli_with_a_clear_message(
    tmp_path: Path, redis_url: str, database_url: str, command: str
) -> None:
    import os
    import subprocess
    import sys

    async with own_redis(tmp_path, redis_url, database_url) as (server, settings):
        client = redis.Redis(unix_socket_path=str(server.socket))
        client.config_set("maxmemory-policy", "volatile-lru")
        client.close()
        env = dict(
            os.environ,
            REDIS_URL=server.url,
            DATABASE_URL=database_url,
            WARROOM_ADMIN_TOKEN="x",
            WARROOM_DATA_DIR=str(tmp_path / "data"),
        )
        cmd = [sys.executable, "-m", "warroom.cli", command, "--port", str(closed_port())]
        done = await asyncio.to_thread(
            subprocess.run, cmd, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0
        assert "maxmemory-policy volatile-lru" in done.stdout + done.stderr
        assert "noeviction" in done.stdout + done.stderr
