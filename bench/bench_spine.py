"""The spine benchmark: every headline throughput figure, measured in one run the same
way on this machine, against real processes.

    .venv/bin/python bench/bench_spine.py

Starts an embedded redis-server (unix socket, AOF on, as `warroom serve` does) and one
`warroom web` process (uvicorn) on SQLite in a temp dir, then measures from this
process: the raw Redis ceiling (XADD, one entry per event, pipelined), HTTP ingest in
batches of 500 and as single events under concurrency, one aggregator process draining
what ingest wrote, and the snapshot at 10 thousand and at 1 million orders. Load comes
from a lean keep-alive client (rawhttp.py). Besides wall-clock rates it reports the CPU
each process spent per event, which a busy shared machine disturbs far less.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import redis
from rawhttp import Timings, hammer
from snapfill import fill_orders

from warroom.adapters.redis.client import redis_client
from warroom.adapters.redis.embedded import EmbeddedRedis
from warroom.adapters.redis.hotstate import HotState
from warroom.adapters.redis.streams import EventStream
from warroom.demo_campaign import demo_settings
from warroom.simulator import generate_sale, real_now_ms, rekey
from warroom.workers.aggregator import Aggregator

ADMIN = "bench-admin"
HOST = "127.0.0.1"
JSON = b"Content-Type: application/json\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def sale_events(n: int, tag: str) -> list[dict[str, Any]]:
    """`n` realistic events: the simulator's day replayed under fresh identities, with
    no `ts`, so they are stamped on arrival as a live feed is (thousands a second all
    fall in the current minute; replaying a day's times in seconds would instead spread
    every batch over hours of minute buckets, which only a rebuild sees)."""
    day = generate_sale(real_now_ms() - 8 * 3600_000, seed=11).events
    day = [{k: v for k, v in e.items() if k != "ts"} for e in day]
    out: list[dict[str, Any]] = []
    round_no = 0
    while len(out) < n:
        round_no += 1
        out += [rekey(e, f"{tag}{round_no}-") for e in day[: n - len(out)]]
    return out


@contextlib.contextmanager
def profiled(pid: int, name: str) -> Iterator[None]:
    """With WARROOM_BENCH_PROFILE=DIR, py-spy (the `bench` extra) samples process `pid`
    meanwhile into DIR/NAME.txt (raw collapsed stacks; CPU only, idle frames left out)."""
    out = os.environ.get("WARROOM_BENCH_PROFILE")
    if not out:
        yield
        return
    target = Path(out) / f"{name}.txt"
    cmd = ["py-spy", "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", str(target)]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the load starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)


def database_cpu_s() -> float:
    """CPU of every postgres process on this machine (the server's share of a run with
    --database-url; 0 when none runs)."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        if proc.info["name"] == "postgres" and proc.info["cpu_times"] is not None:
            total += proc.info["cpu_times"].user + proc.info["cpu_times"].system
    return total


def cpu_s(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def ms(t: Timings, q: float) -> str:
    return f"{t.percentile(q) * 1000:.1f} ms"


class Bench:
    def __init__(self, tmp: Path, synchronous: str = "FULL", database_url: str = "") -> None:
        self.tmp = tmp
        self.synchronous = synchronous
        self.given_database = database_url
        self.port = free_port()
        self.rates: list[tuple[str, float]] = []

    def start(self) -> None:
        self.redis_server = EmbeddedRedis(self.tmp / "redis")
        self.redis_url = self.redis_server.start()
        assert self.redis_server.proc is not None
        self.redis_pid = self.redis_server.proc.pid
        env = dict(os.environ)
        self.database_url = self.given_database or f"sqlite:///{self.tmp / 'warroom.db'}"
        env.update(
            REDIS_URL=self.redis_url,
            DATABASE_URL=self.database_url,
            WARROOM_ADMIN_TOKEN=ADMIN,
            WARROOM_DATA_DIR=str(self.tmp),
            WARROOM_SQLITE_SYNCHRONOUS=self.synchronous,
        )
        cmd = [sys.executable, "-m", "warroom.cli", "web", "--host", HOST, "--port", str(self.port)]
        self.web_log = (self.tmp / "web.log").open("w")
        self.web = subprocess.Popen(cmd, env=env, stdout=self.web_log, stderr=subprocess.STDOUT)
        self.sync = redis.Redis(unix_socket_path=str(self.redis_server.socket))
        deadline = time.monotonic() + 120  # a loaded shared machine starts slowly
        while True:
            try:
                if asyncio.run(self.call("GET", "/healthz")).get("status") == "ok":
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.web.poll() is not None:
                raise RuntimeError(f"web process did not start; see {self.tmp / 'web.log'}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.web.terminate()
        self.web.wait(timeout=15)
        self.web_log.close()
        self.sync.close()
        self.redis_server.stop()

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        raw = b"" if body is None else orjson.dumps(body)
        headers = f"Authorization: Bearer {ADMIN}\r\n".encode() + JSON
        _, bodies, _ = await hammer(HOST, self.port, [(method, path, raw, headers)], 1)
        return orjson.loads(bodies[0])

    async def campaign(self, slug: str) -> dict[str, str]:
        start = real_now_ms() - 7 * 3600_000  # a whole day behind us: 420 minutes of rows
        return await self.call("POST", "/api/v1/campaigns", demo_settings(slug, 1, start))

    def record(self, label: str, rate: float | None, unit: str, detail: str) -> None:
        if rate is not None:
            self.rates.append((label, rate))
        figure = f"{rate:>10,.0f} {unit}" if rate is not None else " " * 11 + unit
        print(f"  {label:<54} {figure:<20} {detail}", flush=True)

    # ------------------------------------------------------------------ measurements

    def redis_ceiling(self, events: list[dict[str, Any]]) -> float:
        pipe = self.sync.pipeline(transaction=False)
        cpu0, began = cpu_s(self.redis_pid), time.perf_counter()
        for i, e in enumerate(events, 1):
            pipe.xadd("bench:ceiling", {"e": orjson.dumps(e)})
            if i % 1000 == 0:
                pipe.execute()
        pipe.execute()
        wall, cpu = time.perf_counter() - began, cpu_s(self.redis_pid) - cpu0
        self.sync.delete("bench:ceiling")
        rate = len(events) / wall
        detail = f"redis-server {cpu / len(events) * 1e6:.1f} µs CPU/event"
        self.record("Redis ceiling: XADD 1 entry/event, pipelined x1000", rate, "events/s", detail)
        return rate

    async def ingest(self, slug: str, bodies: list[bytes], events: int, inflight: int) -> Any:
        c = await self.campaign(slug)
        headers = f"Authorization: Bearer {c['ingest_token']}\r\n".encode() + JSON
        path = f"/api/v1/campaigns/{slug}/events"
        reqs = [("POST", path, body, headers) for body in bodies]
        cpu0, db0 = cpu_s(self.web.pid), database_cpu_s()
        timings, answers, wall = await hammer(HOST, self.port, reqs, inflight)
        cpu = cpu_s(self.web.pid) - cpu0
        self.db_cpu = database_cpu_s() - db0
        assert timings.statuses == {202: len(reqs)}, timings.statuses
        new = sum(orjson.loads(a)["accepted"] for a in answers)
        return timings, wall, cpu, new

    async def ingest_batched(self, events: list[dict[str, Any]], size: int, inflight: int) -> None:
        bodies = [orjson.dumps(events[i : i + size]) for i in range(0, len(events), size)]
        with profiled(self.web.pid, "web"):
            t, wall, cpu, new = await self.ingest("bench-batch", bodies, len(events), inflight)
        db = f" + postgres {self.db_cpu / len(events) * 1e6:.1f}" if self.given_database else ""
        detail = (
            f"web {cpu / len(events) * 1e6:.1f}{db} µs CPU/event; per batch p50 {ms(t, 0.5)}, "
            f"p99 {ms(t, 0.99)}; {new:,} new"
        )
        label = f"HTTP ingest, batches of {size} ({inflight} in flight)"
        self.record(label, len(events) / wall, "events/s", detail)

    async def ingest_single(self, events: list[dict[str, Any]], inflight: int) -> None:
        bodies = [orjson.dumps(e) for e in events]
        t, wall, cpu, _ = await self.ingest(
            f"bench-single-{inflight}", bodies, len(events), inflight
        )
        detail = (
            f"web {cpu / len(events) * 1e6:.0f} µs CPU/req; p50 {ms(t, 0.5)}, p99 {ms(t, 0.99)}"
        )
        label = f"HTTP ingest, single-event POSTs ({inflight} in flight)"
        self.record(label, len(events) / wall, "req/s", detail)

    def aggregate(self, label: str) -> None:
        """One aggregator in a fresh process (not this one, whose heap of pre-built
        requests would slow its garbage collector), draining what ingest wrote."""
        redis0 = cpu_s(self.redis_pid)
        cmd = [sys.executable, __file__, "--drain", self.redis_url]
        drainer = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        with profiled(drainer.pid, "aggregator"):
            out, _ = drainer.communicate()
        assert drainer.returncode == 0, drainer.returncode
        applied, wall, cpu = orjson.loads(out.strip().splitlines()[-1])
        redis_cpu = cpu_s(self.redis_pid) - redis0
        detail = (
            f"aggregator {cpu / applied * 1e6:.1f} + redis-server "
            f"{redis_cpu / applied * 1e6:.1f} µs CPU/event; {applied:,} in {wall:.2f} s"
        )
        self.record(label, applied / wall, "events/s", detail)

    def rebuild(self, slug: str) -> None:
        """`warroom rebuild`: the hot state of a campaign recomputed from the ledger."""
        env = dict(os.environ, REDIS_URL=self.redis_url, DATABASE_URL=self.database_url)
        cmd = [sys.executable, "-m", "warroom.cli", "rebuild", slug]
        began = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        wall = time.perf_counter() - began
        events = int(out.split(" from ")[1].split()[0])
        detail = f"{events:,} ledger events in {wall:.2f} s, process start included"
        self.record(f"rebuild from the SQL ledger ({slug})", events / wall, "events/s", detail)

    async def snapshot_at(self, slug: str, token: str, orders: int, rounds: int = 200) -> None:
        path = f"/api/v1/campaigns/{slug}/snapshot"
        reqs = [("GET", path, b"", f"Authorization: Bearer {token}\r\n".encode())] * rounds
        timings, bodies, _ = await hammer(HOST, self.port, reqs, 1)
        snap = orjson.loads(bodies[-1])
        assert snap["totals"]["orders"] == orders, snap["totals"]
        detail = f"p99 {ms(timings, 0.99)}; {len(snap['per_minute'])} minute rows, {len(bodies[-1]) // 1024} KiB"  # fmt: skip
        self.record(f"snapshot GET at {orders:,} orders, p50", None, ms(timings, 0.5), detail)

    async def snapshots(self, big: int) -> None:
        c = await self.campaign("bench-snap")
        r = redis_client(self.redis_url)
        hot, start = HotState(r), real_now_ms() - 7 * 3600_000
        began = time.perf_counter()
        await fill_orders(hot, "bench-snap", 0, 10_000, start)
        await self.snapshot_at("bench-snap", c["viewer_token"], 10_000)
        await fill_orders(hot, "bench-snap", 10_000, big, start)
        took = time.perf_counter() - began
        await self.snapshot_at("bench-snap", c["viewer_token"], big)
        used = int(self.sync.info("memory")["used_memory"]) / 2**20
        detail = f"({big / took:,.0f} orders/s over a 7-hour day; Redis {used:,.0f} MiB)"
        self.record("  filled by HotState.apply, 5,000 orders a call", None, "", detail)
        await r.aclose()


def ledger_commits(tmp: Path, n: int) -> None:
    """The durability cost at its source: one ledger write (a one-row transaction, as a
    lone single-event POST makes) committed `n` times, SQLite WAL with NORMAL (synced at
    checkpoints only) against FULL (the WAL synced at every commit), alternating so
    that both see the same machine."""
    from warroom.adapters.sql.engine import make_engine
    from warroom.adapters.sql.store import Store

    stores = {}
    for mode in ("NORMAL", "FULL"):
        store = Store(make_engine(f"sqlite:///{tmp / f'commits-{mode}.db'}", synchronous=mode))
        store.create_schema()
        stores[mode] = store
    took: dict[str, list[float]] = {"NORMAL": [], "FULL": []}
    for i in range(n):
        for mode, store in stores.items():
            row = {
                "campaign_id": 1,
                "key": f"order:{i}",
                "type": "order",
                "ts_ms": i,
                "received_ms": i,
                "body": '{"type":"order"}',
            }
            began = time.perf_counter()
            store.append([row])
            took[mode].append(time.perf_counter() - began)
    for mode, values in took.items():
        values.sort()
        p50, p99 = values[len(values) // 2], values[int(len(values) * 0.99)]
        detail = f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms over {n:,} commits"
        label = f"ledger commit, 1 row, SQLite synchronous={mode}"
        print(f"  {label:<54} {n / sum(values):>10,.0f} commits/s  {detail}", flush=True)
        stores[mode].engine.dispose()


async def measure(b: Bench, args: argparse.Namespace) -> None:
    batch_events = sale_events(args.batched, "b")
    ceiling = b.redis_ceiling(batch_events[: args.ceiling])
    await b.ingest_batched(batch_events, 500, args.batch_inflight)
    b.aggregate("aggregation, 1 process, stream from batched ingest")
    if not args.spine_only:
        for n in (int(x) for x in args.single_inflight.split(",")):
            await b.ingest_single(sale_events(args.single, f"s{n}-"), n)
        b.aggregate("aggregation, 1 process, stream from single POSTs")
        b.rebuild("bench-batch")
        await b.snapshots(args.big)
    print("\n  as a fraction of the Redis ceiling:")
    for label, rate in b.rates[1:]:
        print(f"    {label:<54} {rate / ceiling:5.2f}")


async def drain(redis_url: str) -> None:
    """--drain: time Aggregator.run_until_idle() over every campaign stream."""
    r = redis_client(redis_url)
    agg = Aggregator(HotState(r), EventStream(r), consumer="bench")
    cpu0, began = time.process_time(), time.perf_counter()
    await agg.run_until_idle()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu0
    await r.aclose()
    print(orjson.dumps([agg.applied_events, wall, cpu]).decode())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ceiling", type=int, default=200_000, help="events XADDed for the ceiling")
    p.add_argument("--batched", type=int, default=300_000, help="events sent in batches of 500")
    p.add_argument("--batch-inflight", type=int, default=4)
    p.add_argument("--single", type=int, default=20_000, help="single-event POSTs per level")
    p.add_argument("--single-inflight", default="16,64", help="concurrency levels, e.g. 16,64")
    p.add_argument("--big", type=int, default=1_000_000, help="orders for the big snapshot")
    p.add_argument(
        "--sqlite-synchronous",
        default="FULL",
        choices=["FULL", "NORMAL"],
        help="the ledger's SQLite sync mode (FULL, the default: a 202 survives a power cut)",
    )
    p.add_argument("--commits", type=int, default=1000, help="one-row commits per sync mode")
    p.add_argument(
        "--database-url",
        default="",
        help="the ledger in this (empty) PostgreSQL database instead of a SQLite file; "
        "the web's CPU per event then leaves out the database's, printed beside it",
    )
    p.add_argument(
        "--spine-only",
        action="store_true",
        help="only the ceiling, batched ingest and its aggregation (issue 22's figures)",
    )
    p.add_argument("--drain", metavar="REDIS_URL", help=argparse.SUPPRESS)  # internal
    args = p.parse_args()
    if args.drain:
        asyncio.run(drain(args.drain))
        return 0
    print(
        f"Warroom spine benchmark: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        "embedded redis-server (unix socket, AOF everysec), "
        + (
            "PostgreSQL ledger"
            if args.database_url
            else f"SQLite WAL synchronous={args.sqlite_synchronous}"
        )
        + ", 1 uvicorn process"
    )
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="wr-bench-") as tmp:
        if args.commits:
            ledger_commits(Path(tmp), args.commits)
        b = Bench(Path(tmp), args.sqlite_synchronous, args.database_url)
        b.start()
        try:
            asyncio.run(measure(b, args))
        finally:
            b.stop()
    print(f"\n  ({time.monotonic() - began:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
