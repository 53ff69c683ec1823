"""/healthz tells the truth, against a real redis-server of its own with a tiny
`maxmemory`: `oom` while Redis refuses writes of realistic size (though a 1-byte write
still passes), and no stale `aggregation: stalled` once Redis takes writes again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import clean_settings, harness_for
from warroom.adapters.redis.embedded import EmbeddedRedis

BIG = 200_000  # a large request batch's stream entry


@pytest.fixture
def tiny_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path / "tiny-redis") as server:
        yield server


def fill(r: redis.Redis, sizes: tuple[int, ...]) -> list[str]:
    """Write values of each size in turn until Redis refuses one; the names written."""
    names: list[str] = []
    for size in sizes:
        try:
            for _ in range(10_000):
                name = f"fill:{len(names)}"
                r.set(name, b"x" * size)
                names.append(name)
        except redis.ResponseError as exc:
            assert "maxmemory" in str(exc) or "OOM" in str(exc), exc
        else:
            raise AssertionError("Redis never refused a write")
    return names


def limit_memory(r: redis.Redis, spare: int) -> None:
    r.config_set("maxmemory", int(r.info("memory")["used_memory"]) + spare)


def order(i: int) -> dict[str, object]:
    return {"type": "order", "order_id": f"o{i}", "amount_fen": 100, "seller_id": "s",
            "group_id": "g", "buyer_id": f"b{i}", "product_id": "p"}  # fmt: skip


async def test_oom_while_realistic_writes_are_refused_though_a_tiny_one_passes(
    tiny_redis: EmbeddedRedis, database_url: str, tmp_path: Path
) -> None:
    settings = clean_settings(tiny_redis.url, database_url, tmp_path)
    r = redis.Redis.from_url(tiny_redis.url)
    try:
        async with harness_for(settings) as h:
            await h.create_campaign()
            assert (await h.client.get("/healthz")).status_code == 200
            limit_memory(r, 3_000_000)
            names = fill(r, (BIG,))
            with pytest.raises(redis.ResponseError):  # a realistic write: refused
                r.xadd("wr:probe-big", {"e": b"x" * BIG})
            assert r.set("wr:probe-tiny", b"1", nx=True)  # a tiny one: still taken
            res = await h.client.get("/healthz")
            assert res.status_code == 503, res.text
            assert res.json()["parts"]["redis"] == "oom", res.text

            r.delete(*names)
            res = await h.client.get("/healthz")
            assert res.status_code == 200, res.text
    finally:
        r.close()


async def test_stalled_clears_by_probe_once_redis_takes_writes_again(
    tiny_redis: EmbeddedRedis, database_url: str, tmp_path: Path
) -> None:
    """An event accepted while Redis was full leaves the writer's 'stream append
    failed' flag set; after the recovery /healthz must say ok without waiting for the
    next event (it said `aggregation: stalled` until one came)."""
    settings = clean_settings(tiny_redis.url, database_url, tmp_path)
    r = redis.Redis.from_url(tiny_redis.url)
    try:
        async with harness_for(settings) as h:
            c = await h.create_campaign()
            limit_memory(r, 3_000_000)
            names = fill(r, (BIG, 10_000, 100))  # full: even small writes refused
            res = await h.post_events("sale", c["ingest_token"], [order(1)])
            assert res.status_code == 202, res.text  # durable in SQL; Redis refused it
            assert h.app.state.writer.stream_failing
            # Redis frees what it counted for buffers (the AOF's, a client's) once they
            # drain, so "full" can end by itself before the probe looks: fill it again
            # (bounded) until the probe sees the Redis that refuses real writes.
            for _ in range(5):
                bad = await h.client.get("/healthz")
                if bad.status_code == 503:
                    break
                names += fill(r, (BIG, 10_000, 100))
            assert bad.status_code == 503 and bad.json()["parts"]["aggregation"] == "stalled"

            r.delete(*names)
            r.config_set("maxmemory", 0)
            # No event is sent: probes alone must clear it. A write still in flight from
            # the full spell may fail once more after the first probe, so the probe is
            # asked again until a bounded deadline (a condition, not a speed).
            deadline = time.monotonic() + 20
            while True:
                res = await h.client.get("/healthz")
                if res.status_code == 200 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert res.status_code == 200, res.text
            assert res.json()["parts"]["aggregation"] == "ok"
    finally:
        r.close()


async def test_database_failing_clears_by_probe_once_writes_can_start(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    """A ledger write that failed (SQLite locked by another writer) left `database:
    failing` until the next event; a probe that can take the write lock clears it."""
    if not database_url.startswith("sqlite"):
        pytest.skip("locks the SQLite file from a second connection")
    import sqlite3

    settings = clean_settings(redis_url, database_url, tmp_path, warroom_dependency_timeout_s=0.5)
    async with harness_for(settings) as h:
        c = await h.create_campaign()
        other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
            res = await h.post_events("sale", c["ingest_token"], [order(1)])
            assert res.status_code == 503, res.text
            assert h.app.state.writer.sql_failing
            bad = await h.client.get("/healthz")
            assert bad.status_code == 503 and bad.json()["parts"]["database"] == "failing"
        finally:
            other.execute("ROLLBACK")
            other.close()
        res = await h.client.get("/healthz")
        assert res.status_code == 200, res.text
        assert res.json()["parts"]["database"] == "ok"
