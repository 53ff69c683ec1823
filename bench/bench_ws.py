"""Dashboard fan-out benchmark: ingest-to-screen latency and server CPU per frame.

    .venv/bin/python bench/bench_ws.py [--viewers 500,2000] [--rate 2000] [--seconds 10]

One `warroom web` process and one `warroom worker` process (as in production: uvicorn,
permessage-deflate off, the hub rendering on the leading edge of a change, then at most
WARROOM_WS_FRAMES_PER_S a second within WARROOM_WS_RENDER_BUDGET of a core),
an embedded Redis (or REDIS_URL), a SQLite ledger in a temp dir, all on 127.0.0.1.
This process posts orders at --rate events/s (batches of 100 every 50 ms) and holds the
viewers: a minimal asyncio WebSocket client that reads `totals.gmv_fen` from each frame.

Printed per viewer count:
- frame latency: for every frame a viewer receives, now minus the moment the newest
  batch it shows was POSTed (how stale the screen is when a frame lands): p50, p99;
- event latency: for every batch and every 50th viewer, the moment the first frame
  showing it arrives minus its POST (includes waiting for the next throttled frame
  under sustained change): p50, p99;
- the web process's CPU per delivered frame: gross (all its CPU, ingest included, over
  the frames) and marginal (minus its CPU at the same ingest rate with no viewers).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ADMIN = "bench-admin"
GMV = re.compile(rb'"gmv_fen":(\d+)')
SEQ = re.compile(rb'"seq":(\d+)')
SENT = re.compile(rb'"sent_ms":([\d.]+)')
CLK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Batches:
    """POST times and the cumulative GMV after each batch (strictly increasing)."""

    def __init__(self) -> None:
        self.cum: list[int] = []
        self.at: list[float] = []

    def add(self, cum: int, at: float) -> None:
        self.cum.append(cum)
        self.at.append(at)

    def newest_shown(self, gmv: int) -> int:
        return bisect.bisect_right(self.cum, gmv) - 1


class Viewer(asyncio.Protocol):
    """Just enough WebSocket client: handshake, unmasked server frames, pong."""

    def __init__(self, bench: Bench, sample: bool) -> None:
        self.bench = bench
        self.sample = sample
        self.buf = bytearray()
        self.handshaken = asyncio.get_running_loop().create_future()
        self.transport: Any = None
        self.seen_batch = -1
        self.frames = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.handshaken.done():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            ok = self.buf.startswith(b"HTTP/1.1 101")
            del self.buf[: end + 4]
            self.handshaken.set_result(ok)
        now = time.perf_counter()
        while len(self.buf) >= 2:
            opcode = self.buf[0] & 0x0F
            n = self.buf[1] & 0x7F
            head = 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n = int.from_bytes(self.buf[2:4], "big")
                head = 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n = int.from_bytes(self.buf[2:10], "big")
                head = 10
            if len(self.buf) < head + n:
                return
            payload = bytes(self.buf[head : head + n])
            del self.buf[: head + n]
            if opcode == 0x9:
                self.send(0xA, payload)
            elif opcode == 0x1:
                self.frames += 1
                self.bench.on_frame(self, payload, now)

    def send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def connection_lost(self, exc: Exception | None) -> None:
        self.bench.lost += 1


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.batches = Batches()
        self.measuring = False
        self.frame_lat: list[float] = []
        self.event_lat: list[float] = []
        self.delivered = 0
        self.first_seen: dict[int, float] = {}
        self.spread: list[float] = []
        self.viewers: list[Viewer] = []
        self.lost = 0
        self.tmp = Path(tempfile.mkdtemp(prefix="wr-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.embedded: Any = None
        self.raw: list[float] = []
        self.raw_measuring = False
        self.raw_interval: float | None = None
        self.frame_size: int | None = None
        self.failed_posts = 0

    # the viewers' side --------------------------------------------------------------

    def on_frame(self, v: Viewer, payload: bytes, now: float) -> None:
        if payload.startswith(b'{"seq":'):  # bench/raw_ws.py's frames (Warroom's: {"type":)
            m = SENT.search(payload, 0, 60)
            if self.raw_measuring and m:
                self.raw.append(time.time() * 1000 - float(m.group(1)))
            return
        if self.measuring and self.frame_size is None and payload.startswith(b'{"type":"update"'):
            self.frame_size = len(payload)
        m = GMV.search(payload, 0, 400)
        if not m:
            return
        k = self.batches.newest_shown(int(m.group(1)))
        if not self.measuring or k < 0:
            v.seen_batch = max(v.seen_batch, k)
            return
        self.delivered += 1
        self.frame_lat.append(now - self.batches.at[k])
        if self.args.verbose:
            seq = int(SEQ.search(payload, 0, 100).group(1))
            first = self.first_seen.setdefault(seq, now)
            self.spread.append(now - first)
        if v.sample:
            for j in range(v.seen_batch + 1, k + 1):
                self.event_lat.append(now - self.batches.at[j])
        v.seen_batch = max(v.seen_batch, k)

    async def connect(self, n: int, port: int, slug: str, token: str) -> None:
        loop = asyncio.get_running_loop()
        path = f"/ws/campaigns/{slug}?token={token}"
        for start in range(0, n, 100):
            chunk = []
            for i in range(start, min(n, start + 100)):
                sample = (len(self.viewers) + i - start) % 50 == 0
                _, proto = await loop.create_connection(
                    lambda s=sample: Viewer(self, s), "127.0.0.1", port
                )
                key = base64.b64encode(os.urandom(16)).decode()
                proto.transport.write(
                    (
                        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n"
                    ).encode()
                )
                chunk.append(proto)
            oks = await asyncio.gather(*(p.handshaken for p in chunk))
            assert all(oks), "handshake refused"
            self.viewers += chunk

    # the ingest side ----------------------------------------------------------------

    async def ingest(self, url: str, slug: str, token: str, stop: asyncio.Event) -> None:
        per_batch = 100
        interval = per_batch / self.args.rate
        cum = 0
        n = 0
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        pending: set[asyncio.Task[Any]] = set()
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            next_at = time.perf_counter()
            while not stop.is_set():
                events = []
                for _ in range(per_batch):
                    n += 1
                    amount = 100 + n % 900
                    cum += amount
                    events.append(
                        f'{{"type":"order","order_id":"o{n}","amount_fen":{amount},'
                        f'"seller_id":"s{n % 15}","group_id":"g{n % 8}","buyer_id":"b{n % 5000}",'
                        f'"product_id":"p{n % 12}"}}'
                    )
                body = ("[" + ",".join(events) + "]").encode()
                self.batches.add(cum, time.perf_counter())
                t = asyncio.create_task(
                    client.post(f"/api/v1/campaigns/{slug}/events", content=body, headers=headers)
                )
                pending.add(t)
                t.add_done_callback(pending.discard)
                t.add_done_callback(self._check_post)
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            await asyncio.gather(*pending, return_exceptions=True)

    def _check_post(self, t: asyncio.Task[Any]) -> None:
        """A lost batch breaks the cumulative-GMV bookkeeping: every later latency
        would be wrong, so the run says so instead of printing them as figures."""
        if t.cancelled():
            return
        if t.exception() is not None or t.result().status_code != 202:
            self.failed_posts += 1

    # processes ----------------------------------------------------------------------

    def start(self) -> tuple[str, int]:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            from warroom.adapters.redis.embedded import EmbeddedRedis

            self.embedded = EmbeddedRedis(self.tmp / "redis")
            redis_url = self.embedded.start()
        port = self.args.port
        env = dict(
            os.environ,
            REDIS_URL=redis_url,
            DATABASE_URL=f"sqlite:///{self.tmp}/bench.db",
            WARROOM_ADMIN_TOKEN=ADMIN,
            WARROOM_DATA_DIR=str(self.tmp / "data"),
            PYTHONPATH=str(ROOT),
            # every simulated viewer comes from 127.0.0.1: lift the per-address cap
            WARROOM_WS_MAX_PER_ADDRESS="1000000",
        )
        if self.args.frames_per_s:
            env["WARROOM_WS_FRAMES_PER_S"] = str(self.args.frames_per_s)
        if self.args.budget >= 0:
            env["WARROOM_WS_RENDER_BUDGET"] = str(self.args.budget)
        if not os.environ.get("REDIS_URL"):
            import redis

            redis.Redis.from_url(redis_url).flushdb()
        py = sys.executable
        quiet = subprocess.DEVNULL
        from warroom.bootstrap import sync_store
        from warroom.settings import Settings

        sync_store(Settings(database_url=env["DATABASE_URL"])).engine.dispose()
        self.procs.append(
            subprocess.Popen(
                [py, "-m", "warroom.cli", "web", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=quiet,
                stderr=quiet,
            )
        )
        self.procs.append(
            subprocess.Popen(
                [py, "-m", "warroom.cli", "worker"], env=env, stdout=quiet, stderr=quiet
            )
        )
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    return url, port
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("web process did not start")

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.embedded is not None:
            self.embedded.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    async def window(self, web_pid: int, seconds: float) -> dict[str, float]:
        self.frame_lat, self.event_lat, self.delivered = [], [], 0
        self.first_seen: dict[int, float] = {}
        self.spread: list[float] = []
        cpu0, t0, me0 = cpu_s(web_pid), time.perf_counter(), cpu_s(os.getpid())
        self.measuring = True
        await asyncio.sleep(seconds)
        self.measuring = False
        cpu, wall = cpu_s(web_pid) - cpu0, time.perf_counter() - t0
        self.client_cpu = (cpu_s(os.getpid()) - me0) / wall
        return {"cpu_per_s": cpu / wall, "frames_per_s": self.delivered / wall, "wall": wall}

    async def run(self) -> None:
        url, port = await asyncio.to_thread(self.start)
        web_pid = self.procs[0].pid
        now = datetime.now(UTC)
        async with httpx.AsyncClient(base_url=url) as client:
            res = await client.post(
                "/api/v1/campaigns",
                headers={"Authorization": f"Bearer {ADMIN}"},
                json={
                    "slug": "bench",
                    "name": "压测专场",
                    "starts_at": (now - timedelta(hours=1)).isoformat(),
                    "ends_at": (now + timedelta(hours=6)).isoformat(),
                    "target_base_fen": 10**10,
                    "report_every_minutes": 1440,
                },
            )
            res.raise_for_status()
            c = res.json()
        stop = asyncio.Event()
        feeder = asyncio.create_task(self.ingest(url, "bench", c["ingest_token"], stop))
        secs = self.args.seconds
        fps = self.args.frames_per_s or "default"
        budget = self.args.budget if self.args.budget >= 0 else "default"
        print(
            f"web pid {web_pid}; ingest {self.args.rate} events/s; frames/s cap {fps}, "
            f"render budget {budget}; {secs:.0f} s windows; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        await asyncio.sleep(3)
        base = await self.window(web_pid, secs)
        print(
            f"  0 viewers: web CPU {base['cpu_per_s'] * 100:.1f}% of a core (ingest only)",
            flush=True,
        )
        rows = []
        for n in self.args.viewers:
            await self.connect(n - len(self.viewers), port, "bench", c["viewer_token"])
            await asyncio.sleep(3)
            w = await self.window(web_pid, secs)
            frames = max(1.0, w["frames_per_s"])
            gross = w["cpu_per_s"] / frames * 1e6
            marginal = (w["cpu_per_s"] - base["cpu_per_s"]) / frames * 1e6
            row = (
                n,
                pct(self.frame_lat, 50) * 1000,
                pct(self.frame_lat, 99) * 1000,
                pct(self.event_lat, 50) * 1000,
                pct(self.event_lat, 99) * 1000,
                w["frames_per_s"],
                w["cpu_per_s"] * 100,
                gross,
                marginal,
            )
            rows.append(row)
            room = (
                httpx.get(url + "/ws/stats", headers={"Authorization": f"Bearer {ADMIN}"})
                .json()["rooms"]
                .get("bench", {})
            )
            self.raw_interval = (room.get("interval_ms") or 150) / 1000
            print(
                f"      room: interval {room.get('interval_ms')} ms, renders "
                f"{room.get('leading')} leading / {room.get('throttled')} throttled, "
                f"render {room.get('render_ms_avg')} ms avg; this process "
                f"{self.client_cpu * 100:.0f}% CPU; machine load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            if self.args.verbose:
                fl = self.frame_lat
                stats = httpx.get(
                    url + "/ws/stats", headers={"Authorization": f"Bearer {ADMIN}"}
                ).json()
                sp = self.spread
                print(
                    f"      spread of one frame across viewers p50 {pct(sp, 50) * 1000:.0f} "
                    f"p99 {pct(sp, 99) * 1000:.0f} max {max(sp) * 1000:.0f} ms",
                    flush=True,
                )
                print(
                    f"      frame latency p90 {pct(fl, 90) * 1000:.0f} p95 {pct(fl, 95) * 1000:.0f} "
                    f"max {max(fl) * 1000:.0f} ms; this process CPU {self.client_cpu * 100:.0f}%; "
                    f"hub {stats['rooms'].get('bench')}",
                    flush=True,
                )
            print(
                f"{n:5d} viewers: frame latency p50 {row[1]:.0f} ms p99 {row[2]:.0f} ms | "
                f"event latency p50 {row[3]:.0f} ms p99 {row[4]:.0f} ms | "
                f"{row[5]:.0f} frames/s delivered | web CPU {row[6]:.0f}% | "
                f"{gross:.0f} µs/frame gross, {marginal:.0f} µs/frame marginal",
                flush=True,
            )
        stop.set()
        await feeder
        for v in self.viewers:
            v.transport.close()
        print(
            "\n| viewers | frame latency p50 / p99 | event latency p50 / p99 | frames/s | web CPU | CPU per frame (gross / marginal) |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in rows:
            print(
                f"| {r[0]} | {r[1]:.0f} / {r[2]:.0f} ms | {r[3]:.0f} / {r[4]:.0f} ms | {r[5]:.0f} | "
                f"{r[6]:.0f}% | {r[7]:.0f} / {r[8]:.0f} µs |"
            )
        if self.lost:
            print(f"({self.lost} viewer connections were lost)")
        if self.failed_posts:
            print(
                f"INVALID: {self.failed_posts} ingest POSTs failed; latencies after them are wrong"
            )
        if self.args.raw_ceiling:
            await self.raw_ceiling(max(self.args.viewers), rows)

    async def raw_ceiling(self, n: int, rows: list[Any]) -> None:
        """The same viewer count and frame rate from the plainest broadcaster there is
        (bench/raw_ws.py): what fan-out alone costs on this machine, right now."""
        interval = self.raw_interval or 0.15
        port = self.args.port + 1
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "raw_ws.py"), "--port", str(port),
             "--interval", f"{interval:.3f}", "--size", str(self.frame_size or 1500)],
        )  # fmt: skip
        try:
            await asyncio.sleep(1.0)
            self.viewers, self.raw = [], []
            await self.connect(n, port, "raw", "raw")
            await asyncio.sleep(3)
            cpu0, t0 = cpu_s(proc.pid), time.perf_counter()
            self.raw_measuring = True
            await asyncio.sleep(self.args.seconds)
            self.raw_measuring = False
            cpu, wall = cpu_s(proc.pid) - cpu0, time.perf_counter() - t0
            frames = max(1, len(self.raw))
            print(
                f"raw ceiling ({n} viewers, a {self.frame_size or 1500}-byte frame every "
                f"{interval * 1000:.0f} ms, websockets.broadcast): latency p50 "
                f"{pct(self.raw, 50):.0f} ms p99 {pct(self.raw, 99):.0f} ms | "
                f"{frames / wall:.0f} frames/s | {cpu / wall * 100:.0f}% CPU | "
                f"{cpu / frames * 1e6:.0f} µs/frame; machine load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            for v in self.viewers:
                v.transport.close()
        finally:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", default="500,2000", help="viewer counts, ascending")
    parser.add_argument("--rate", type=int, default=2000, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window")
    parser.add_argument("--frames-per-s", type=float, default=0, help="0: the hub's default")
    parser.add_argument("--budget", type=float, default=-1, help="render budget; -1: default")
    parser.add_argument("--port", type=int, default=8150)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--raw-ceiling", action="store_true", help="then the same fan-out from bench/raw_ws.py"
    )
    args = parser.parse_args()
    args.viewers = [int(v) for v in args.viewers.split(",")]
    bench = Bench(args)
    try:
        asyncio.run(bench.run())
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
