"""The scale curve: ingest with 1 and 2 web processes, aggregation with 1 and 2 worker
processes, on PostgreSQL, next to the raw Redis ceiling measured in the same run.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_scale.py

The database's Warroom tables are dropped and recreated (use a database of its own).
An embedded redis-server (unix socket, AOF everysec) as `warroom serve` runs it. Load
comes from bench/rawhttp.py (tens of µs of client CPU per request); batches of 500
events, 4 in flight per web process. Each figure is also given as CPU per event of the
processes involved, which a busy shared machine disturbs far less than wall rates.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import psutil
import redis
from bench_spine import ADMIN, HOST, JSON, free_port, sale_events
from rawhttp import hammer

from warroom.adapters.redis.embedded import EmbeddedRedis
from warroom.adapters.sql.engine import make_engine
from warroom.adapters.sql.store import Store
from warroom.demo_campaign import demo_settings
from warroom.simulator import real_now_ms


def cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        t = psutil.Process(pid).cpu_times()
        total += t.user + t.system
    return total


class Scale:
    def __init__(self, tmp: Path, database_url: str) -> None:
        self.tmp = tmp
        self.database_url = database_url
        self.webs: list[tuple[int, subprocess.Popen[bytes]]] = []

    def start(self) -> None:
        store = Store(make_engine(self.database_url))
        store.drop_schema()
        store.create_schema()
        store.engine.dispose()
        self.server = EmbeddedRedis(self.tmp / "redis")
        self.redis_url = self.server.start()
        assert self.server.proc is not None
        self.redis_pid = self.server.proc.pid
        self.sync = redis.Redis(unix_socket_path=str(self.server.socket))

    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            REDIS_URL=self.redis_url,
            DATABASE_URL=self.database_url,
            WARROOM_ADMIN_TOKEN=ADMIN,
            WARROOM_DATA_DIR=str(self.tmp),
        )

    def web(self) -> int:
        port = free_port()
        cmd = [sys.executable, "-m", "warroom.cli", "web", "--host", HOST, "--port", str(port)]
        log = (self.tmp / f"web-{port}.log").open("w")
        proc = subprocess.Popen(cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                _, bodies, _ = asyncio.run(hammer(HOST, port, [("GET", "/healthz", b"", b"")], 1))
                if b"ok" in bodies[0]:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"web process did not start; see {log.name}")
            time.sleep(0.2)
        self.webs.append((port, proc))
        return port

    def stop(self) -> None:
        for _, p in self.webs:
            p.terminate()
            p.wait(timeout=15)
        self.sync.close()
        self.server.stop()

    async def campaign(self, port: int, slug: str) -> dict[str, Any]:
        body = orjson.dumps(demo_settings(slug, 1, real_now_ms() - 7 * 3600_000))
        headers = f"Authorization: Bearer {ADMIN}\r\n".encode() + JSON
        _, bodies, _ = await hammer(HOST, port, [("POST", "/api/v1/campaigns", body, headers)], 1)
        return orjson.loads(bodies[0])

    async def ingest(self, ports: list[int], events: list[dict[str, Any]], slug: str) -> str:
        c = await self.campaign(ports[0], slug)
        headers = f"Authorization: Bearer {c['ingest_token']}\r\n".encode() + JSON
        path = f"/api/v1/campaigns/{slug}/events"
        bodies = [orjson.dumps(events[i : i + 500]) for i in range(0, len(events), 500)]
        share = [bodies[i :: len(ports)] for i in range(len(ports))]
        pids = [p.pid for port, p in self.webs if port in ports]
        cpu0, began = cpu_s(pids), time.perf_counter()
        results = await asyncio.gather(
            *(
                hammer(HOST, port, [("POST", path, b, headers) for b in part], 4)
                for port, part in zip(ports, share, strict=True)
            )
        )
        wall = time.perf_counter() - began
        cpu = cpu_s(pids) - cpu0
        for timings, _, _ in results:
            assert set(timings.statuses) == {202}, timings.statuses
        rate = len(events) / wall
        return f"{rate:>9,.0f} events/s   web {cpu / len(events) * 1e6:5.1f} µs CPU/event"

    def aggregate(self, workers: int) -> str:
        """`workers` aggregator processes draining the same streams concurrently."""
        cmd = [
            sys.executable,
            str(Path(__file__).parent / "bench_spine.py"),
            "--drain",
            self.redis_url,
        ]
        redis0 = cpu_s([self.redis_pid])
        began = time.perf_counter()
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
        outs = [orjson.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        wall = time.perf_counter() - began
        applied = sum(o[0] for o in outs)
        cpu = sum(o[2] for o in outs)
        redis_cpu = cpu_s([self.redis_pid]) - redis0
        return (
            f"{applied / wall:>9,.0f} events/s   aggregators {cpu / applied * 1e6:5.1f} + "
            f"redis-server {redis_cpu / applied * 1e6:5.1f} µs CPU/event ({applied:,} events)"
        )

    def ceiling(self, events: list[dict[str, Any]]) -> str:
        pipe = self.sync.pipeline(transaction=False)
        began = time.perf_counter()
        for i, e in enumerate(events, 1):
            pipe.xadd("bench:ceiling", {"e": orjson.dumps(e)})
            if i % 1000 == 0:
                pipe.execute()
        pipe.execute()
        wall = time.perf_counter() - began
        self.sync.delete("bench:ceiling")
        return f"{len(events) / wall:>9,.0f} events/s"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=100_000, help="events per ingest run")
    args = p.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgresql"):
        print("set DATABASE_URL to a PostgreSQL database of its own", file=sys.stderr)
        return 2
    print(f"Warroom scale benchmark: {os.cpu_count()} CPUs, PostgreSQL, embedded Redis")
    with tempfile.TemporaryDirectory(prefix="wr-scale-") as tmp:
        s = Scale(Path(tmp), database_url)
        s.start()
        try:
            events = sale_events(args.events, "a")
            print(f"  Redis ceiling (XADD, pipelined)          {s.ceiling(events)}")
            one = s.web()
            print(
                f"  ingest, 1 web process                    {asyncio.run(s.ingest([one], events, 'w1'))}"
            )
            print(f"  aggregation, 1 worker process            {s.aggregate(1)}")
            two = s.web()
            events = sale_events(args.events, "b")
            print(
                f"  ingest, 2 web processes                  {asyncio.run(s.ingest([one, two], events, 'w2'))}"
            )
            print(f"  aggregation, 2 worker processes          {s.aggregate(2)}")
        finally:
            s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
