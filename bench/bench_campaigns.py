"""Many live campaigns at once (issue 22): what idle campaigns cost the worker and the
web process, Redis memory per campaign, and how soon reports follow their due moment
while a trickle of orders reaches a few of them.

    .venv/bin/python bench/bench_campaigns.py [--campaigns 100,1000,10000] [--runs 1]
    .venv/bin/python bench/bench_campaigns.py --quick      # 20 campaigns, about 60 s

For each size: an embedded redis-server (unix socket, AOF everysec, as `warroom serve`
runs it), the database (PostgreSQL when DATABASE_URL names one: its Warroom tables are
dropped and recreated, so use a database of its own; else SQLite in a temp dir), and
the real processes `python -m warroom.cli web` and `python -m warroom.cli worker`.
The campaigns are created in this process through the service layer
(`CampaignDirectory.create`, as the API does: row, audit, stream, consumer group,
generation) while web and worker run; each is a rehearsal (`--time-scale`, 2 by
default) with 100 milestones above its seed orders, a scheduled report and a stimulus
rule that stays quiet; each then gets `--seed` orders over HTTP (so it has had its
first event and reports fall due), and the worker is given time to look at each
(until its count of campaign evaluations stays put for 3 s, at most `--quiet-max`
s). Most campaigns have their next scheduled slot far
away; the last `--scheduled` created have one that falls inside the trickle. Then the
campaigns idle for `--idle` s, and for `--trickle` s one order at a time goes at
`--rate` orders/s into a random 1% of them (at least `--min-active`), enough to cross
about one milestone per campaign minute.

Printed, per run:
- worker, web and redis-server CPU (% of one core, utime+stime from /proc/<pid>/stat
  over the interval), idle and during the trickle, and the share of the interval the
  worker's event loop was runnable but waiting for a CPU (/proc/<pid>/schedstat): on a
  busy machine a saturated worker shows less than a core, and waits the rest (the
  benchmark's own scrapes of the worker's /metrics fall outside the idle window);
- the worker's CPU for one scrape of its /metrics (every live campaign's gauges), and
  what a scrape every 15 s (Prometheus' interval in deploy/) makes of it;
- the worker's trigger ticks per second (and their mean time) and stimulus rule
  evaluations per second, from its /metrics (`warroom_trigger_tick_seconds`,
  `warroom_rule_evaluations_total`), idle and during the trickle;
- Redis memory per campaign: INFO used_memory after creating and seeding, minus before,
  over the number of campaigns;
- milestone report delay: from the moment the crossing minute settled (the watermark
  rule, services/watermark.py: the real moment its end shows on the campaign clock,
  plus SETTLE_MS; nothing was pending) to the moment this process saw its row in the
  `report` table (polled every `--poll` s; `at_ms` there is the crossing minute), p50,
  p99, max, and how many crossings had no row by the end;
- the same for scheduled reports (the slot's instant settled -> its row);
- reports written, by kind, while idle and during the trickle.

To measure another tree with this script, put it first on the path:
`PYTHONPATH=/path/to/tree .venv/bin/python bench/bench_campaigns.py` (the first line
printed says which `warroom` was imported).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis
from bench_spine import ADMIN, HOST, JSON, free_port
from rawhttp import Connection, hammer
from sqlalchemy import text

import warroom
from warroom.adapters.clock import real_now_ms
from warroom.adapters.redis.embedded import EmbeddedRedis
from warroom.adapters.sql.engine import make_engine
from warroom.adapters.sql.store import Store
from warroom.bootstrap import build_runtime
from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import CampaignClock
from warroom.core.records import CampaignRecord
from warroom.demo_campaign import doors_open_today
from warroom.services.campaigns import clock_of
from warroom.services.watermark import SETTLE_MS
from warroom.settings import Settings

MIN = 60_000
AMOUNT = 10_000  # fen per order (¥100)
FAR_EVERY = 1440  # minutes: the bulk campaigns' slots, never inside a run
TICK = os.sysconf("SC_CLK_TCK")
QUIET_RULE = {
    "name": "quiet",
    "metric": "gmv_per_min",
    "window_minutes": 3,
    "below_peak_ratio": 0.001,  # a slump it never sees: evaluated, never fired
    "sustain_minutes": 3,
    "cooldown_minutes": 30,
    "max_fires": 3,
    "action": {"kind": "red_packet_rain", "amount_fen": 0, "text": "never"},
}


def cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds (/proc/<pid>/stat fields 14 and 15)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def order(slug: str, n: int, rng: random.Random) -> dict[str, Any]:
    s, g = rng.randrange(20), rng.randrange(30)
    return {
        "type": "order", "order_id": f"{slug}-{n}", "amount_fen": AMOUNT, "quantity": 1,
        "seller_id": f"s{s}", "seller_name": f"团长{s}", "group_id": f"g{g}",
        "group_name": f"{g}号群", "product_id": f"p{s % 5}", "product_name": f"商品{s % 5}",
        "buyer_id": f"u{rng.randrange(10**6)}",
    }  # fmt: skip


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Live:
    record: CampaignRecord
    token: str
    sent: int = 0  # orders sent (seed included)
    crossed: dict[int, int] = field(default_factory=dict)  # milestone fen -> campaign minute


@dataclass
class Phase:
    began: float
    ended: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    ticks: dict[str, float] = field(default_factory=dict)  # worker metrics' deltas


class ReportPoller:
    """Sees each new `report` row and when (real ms): a thread polling by id."""

    def __init__(self, engine: Any, every_s: float) -> None:
        self.engine, self.every_s = engine, every_s
        # id, campaign id, key, kind, at_ms, seen (real ms)
        self.rows: list[tuple[int, int, str, str, int, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last, known = 0, set()
        q = text("SELECT id, campaign_id, key, kind, at_ms FROM report WHERE id > :low")
        while not self.stop.is_set():
            # Ids are taken before commit: with reports claimed concurrently a lower id
            # can commit after a higher one was seen, so look back a margin.
            with self.engine.connect() as conn:
                found = conn.execute(q, {"low": max(0, last - 500)}).all()
            seen = real_now_ms()
            for r in found:
                if int(r[0]) not in known:
                    known.add(int(r[0]))
                    self.rows.append((int(r[0]), int(r[1]), r[2], r[3], int(r[4]), seen))
                    last = max(last, int(r[0]))
            self.stop.wait(self.every_s)


class Run:
    def __init__(self, args: argparse.Namespace, n: int, tmp: Path) -> None:
        self.args, self.n, self.tmp = args, n, tmp
        self.rng = random.Random(n)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        pg = os.environ.get("DATABASE_URL", "")
        self.database_url = pg if pg.startswith("postgresql") else f"sqlite:///{tmp}/bench.db"
        self.live: dict[str, Live] = {}

    # processes

    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            REDIS_URL=self.redis_url,
            DATABASE_URL=self.database_url,
            WARROOM_ADMIN_TOKEN=ADMIN,
            WARROOM_DATA_DIR=str(self.tmp / "data"),
        )

    def spawn(self, name: str, *extra: str, **env: str) -> None:
        log = (self.tmp / f"{name}.log").open("w")
        cmd = [sys.executable, "-m", "warroom.cli", name, *extra]
        self.procs[name] = subprocess.Popen(
            cmd, env=self.env() | env, stdout=log, stderr=subprocess.STDOUT
        )

    async def answers(self, name: str, port: int, path: str, deadline: float) -> None:
        while True:
            try:
                _, bodies, _ = await hammer(HOST, port, [("GET", path, b"", b"")], 1)
                if bodies[0]:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} process did not start; see {self.tmp}/{name}.log")
            await asyncio.sleep(0.2)

    async def worker_metrics(self) -> dict[str, float]:
        """The worker's trigger ticks (count, seconds) and rule evaluations so far."""
        _, bodies, _ = await hammer(HOST, self.metrics_port, [("GET", "/metrics", b"", b"")], 1)
        got = {"ticks": 0.0, "tick_s": 0.0, "evaluations": 0.0, "campaigns": 0.0}
        for line in bodies[0].decode().splitlines():
            name, _, value = line.rpartition(" ")
            if name.startswith("warroom_trigger_tick_seconds_count"):
                got["ticks"] += float(value)
            elif name.startswith("warroom_trigger_tick_seconds_sum"):
                got["tick_s"] += float(value)
            elif name.startswith("warroom_rule_evaluations_total"):
                got["evaluations"] += float(value)
            elif name.startswith("warroom_trigger_evaluations_total"):  # since issue 22
                got["campaigns"] += float(value)
        return got

    async def start(self) -> None:
        if self.database_url.startswith("postgresql"):
            store = Store(make_engine(self.database_url))
            store.drop_schema()
            store.engine.dispose()
        self.server = EmbeddedRedis(self.tmp / "redis")
        self.redis_url = self.server.start()
        assert self.server.proc is not None
        self.redis_pid = self.server.proc.pid
        self.sync = redis.Redis(unix_socket_path=str(self.server.socket))
        self.rt = build_runtime(
            Settings(
                redis_url=self.redis_url,
                database_url=self.database_url,
                warroom_admin_token=ADMIN,
                warroom_data_dir=self.tmp / "data",
            )
        )
        self.port = free_port()
        self.spawn("web", "--host", HOST, "--port", str(self.port))
        # Its /metrics port answers once its loops run, after its start-up restore of
        # lost campaigns: none is created before (one created meanwhile, its Redis
        # generation not yet set, would be "restored" at once).
        self.metrics_port = free_port()
        self.spawn("worker", WARROOM_METRICS_PORT=str(self.metrics_port))
        deadline = time.monotonic() + 90
        await self.answers("web", self.port, "/healthz", deadline)
        await self.answers("worker", self.metrics_port, "/metrics", deadline)
        self.poller = ReportPoller(self.rt.store.engine, self.args.poll)
        self.poller.thread.start()

    async def stop(self) -> None:
        self.poller.stop.set()
        self.poller.thread.join(timeout=10)
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        await self.rt.close()
        self.rt.store.engine.dispose()
        self.sync.close()
        self.server.stop()

    def cpu(self) -> dict[str, float]:
        pids = {k: p.pid for k, p in self.procs.items()} | {"redis-server": self.redis_pid}
        out = {k: cpu_s(pid) for k, pid in pids.items()}
        # A saturated worker on a busy machine cannot show more than its share of a
        # core: the time its event loop (main thread) was runnable but not running says
        # how far it is from keeping up (/proc/<pid>/schedstat, field 2, ns).
        waited = Path(f"/proc/{self.procs['worker'].pid}/schedstat").read_text().split()[1]
        out["worker loop waiting for a CPU"] = int(waited) / 1e9
        return out

    # campaigns

    def settings(self, i: int, every: int, starts_at: int) -> CampaignSettings:
        seed_total = self.args.seed * AMOUNT
        step = self.step * AMOUNT
        return CampaignSettings.model_validate(
            {
                "slug": f"cb{i}",
                "name": f"多场压测{i}",
                "starts_at": starts_at,
                "ends_at": starts_at + 12 * 60 * MIN,
                "time_scale": self.args.time_scale,
                "target_base_fen": 10**12,
                "target_stretch_fen": 10**12,
                "milestones_fen": [seed_total + k * step for k in range(1, 101)],
                "report_every_minutes": every,
                "stimulus_rules": [QUIET_RULE],
            }
        )

    def starts_at(self) -> int:
        # A rehearsal clock starts at `starts_at` on creation; 10:00 puts the first
        # wall-clock hour (the TOP post) 60/scale real minutes away. At scale 1 the
        # clock is the real one.
        return real_now_ms() if self.args.time_scale == 1 else doors_open_today()

    async def create(self, first: int, count: int, every_of: Any) -> float:
        began = time.perf_counter()
        for lo in range(first, first + count, 16):
            ids = range(lo, min(first + count, lo + 16))
            made = await asyncio.gather(
                *(
                    self.rt.campaigns.create(self.settings(i, every_of(), self.starts_at()))
                    for i in ids
                )
            )
            for c in made:
                self.live[c.record.settings.slug] = Live(c.record, c.ingest_token)
        return time.perf_counter() - began

    async def seed(self, slugs: list[str]) -> float:
        requests = []
        for slug in slugs:
            lv = self.live[slug]
            body = orjson.dumps([order(slug, k, self.rng) for k in range(self.args.seed)])
            lv.sent = self.args.seed
            headers = f"Authorization: Bearer {lv.token}\r\n".encode() + JSON
            requests.append(("POST", f"/api/v1/campaigns/{slug}/events", body, headers))
        timings, bodies, wall = await hammer(HOST, self.port, requests, 8)
        if set(timings.statuses) != {202}:
            raise RuntimeError(f"seed orders refused: {timings.statuses} {bodies[0][:200]!r}")
        return wall

    async def trickle(self, active: list[str], until: float) -> int:
        conn = await Connection(HOST, self.port).open()
        interval, sent, refused = 1 / self.args.rate, 0, 0
        nxt = time.monotonic()
        try:
            while time.monotonic() < until:
                slug = self.rng.choice(active)
                lv = self.live[slug]
                body = orjson.dumps([order(slug, lv.sent, self.rng)])
                headers = f"Authorization: Bearer {lv.token}\r\n".encode() + JSON
                at = clock_of(lv.record).now_ms(real_now_ms())
                status, _ = await conn.request(
                    "POST", f"/api/v1/campaigns/{slug}/events", body, headers
                )
                if status != 202:
                    refused += 1
                else:
                    lv.sent += 1
                    total = lv.sent * AMOUNT
                    for fen in lv.record.settings.milestones_fen:
                        if fen <= total and fen not in lv.crossed:
                            lv.crossed[fen] = at - at % MIN
                    sent += 1
                nxt += interval
                await asyncio.sleep(max(0.0, nxt - time.monotonic()))
        finally:
            conn.close()
        if refused:
            print(f"    note: {refused} trickle orders refused")
        return sent

    async def quiet(self, at_most: float) -> float:
        """Wait (bounded) until the worker has looked at every new campaign: its count
        of campaign evaluations (issue 22's worker) stays put for 3 s. A worker without
        the counter counts nothing and passes at once."""
        began = time.monotonic()
        last = (await self.worker_metrics())["campaigns"]
        while time.monotonic() - began < at_most:
            await asyncio.sleep(3)
            now = (await self.worker_metrics())["campaigns"]
            if now == last:
                break
            last = now
        return time.monotonic() - began

    # the run

    async def go(self) -> dict[str, Any]:
        a = self.args
        out: dict[str, Any] = {}
        used0 = int(self.sync.info("memory")["used_memory"])
        # Orders a campaign receives in a campaign minute, shared over the active ones:
        # one milestone about every campaign minute.
        n_active = min(self.n, max(a.min_active, round(self.n * a.active_share)))
        per_min = a.rate / n_active * 60 / a.time_scale
        self.step = max(1, round(per_min))
        k = min(a.scheduled, self.n)
        bulk = self.n - k
        t = await self.create(0, bulk, lambda: FAR_EVERY)
        seeded = await self.seed([f"cb{i}" for i in range(bulk)])
        out["quiet_s"] = await self.quiet(a.quiet_max)
        # The last k campaigns: a slot inside the trickle window (set from now, so a
        # slow creation of the bulk does not move it out).
        idle_from = time.time() + 2 + a.settle + k * 0.02
        window = (idle_from + a.idle + 0.1 * a.trickle, idle_from + a.idle + 0.85 * a.trickle)

        def every() -> int:
            real_s = self.rng.uniform(*window) - time.time()
            return max(1, round(real_s * a.time_scale / 60))

        t += await self.create(bulk, k, every)
        seeded += await self.seed([f"cb{i}" for i in range(bulk, self.n)])
        out["create_s"], out["seed_s"] = t, seeded
        await asyncio.sleep(a.settle)
        out["mem_per_campaign"] = (int(self.sync.info("memory")["used_memory"]) - used0) / self.n

        # The worker's CPU for one scrape of its /metrics (what Prometheus costs it, every
        # live campaign's gauges), then the idle window with no scrape inside it.
        before = self.cpu()["worker"]
        m0 = await self.worker_metrics()
        out["scrape_cpu_s"] = self.cpu()["worker"] - before
        idle = Phase(time.time())
        c0 = self.cpu()
        await asyncio.sleep(a.idle)
        c1 = self.cpu()
        idle.ended = time.time()
        m1 = await self.worker_metrics()
        idle.cpu = {p: (c1[p] - c0[p]) / (idle.ended - idle.began) * 100 for p in c1}

        active = self.rng.sample(sorted(self.live), n_active)
        busy = Phase(time.time())
        c1 = self.cpu()  # after the scrape above: the trickle's CPU has none in it
        sent = await self.trickle(active, time.monotonic() + a.trickle)
        c2 = self.cpu()
        busy.ended = time.time()
        m2 = await self.worker_metrics()
        for p, x, y in ((idle, m0, m1), (busy, m1, m2)):
            p.ticks = {k: y[k] - x[k] for k in x}
        busy.cpu = {p: (c2[p] - c1[p]) / (busy.ended - busy.began) * 100 for p in c2}
        await asyncio.sleep(a.drain)
        end_ms = real_now_ms()
        out.update(idle=idle, busy=busy, sent=sent, active=n_active, step=self.step)
        out.update(self.delays(idle, busy, end_ms))
        return out

    def delays(self, idle: Phase, busy: Phase, end_ms: int) -> dict[str, Any]:
        rows = list(self.poller.rows)
        by_id = {lv.record.id: lv for lv in self.live.values()}
        seen = {(r[1], r[2]): r for r in rows}
        b0, b1 = int(busy.began * 1000), int(busy.ended * 1000)

        def settle(clock: CampaignClock, campaign_ms: int) -> int:
            return clock.real_ms_for(campaign_ms) + SETTLE_MS

        miles, miles_missing = [], 0
        for lv in self.live.values():
            clock = clock_of(lv.record)
            for fen, minute in lv.crossed.items():
                due = settle(clock, minute + MIN)
                if not b0 <= due <= b1:
                    continue
                row = seen.get((lv.record.id, f"milestone:{fen}"))
                if row is None:
                    miles_missing += 1
                    if miles_missing <= 3:
                        print(
                            f"    missing: {lv.record.settings.slug} milestone:{fen},"
                            f" settled {(b1 - due) / 1000:.1f} s before the trickle's end"
                        )
                else:  # the row's own minute, not the one this process guessed
                    miles.append((row[5] - settle(clock, row[4] + MIN)) / 1000)
        sched, sched_missing = [], 0
        for lv in self.live.values():
            s, clock = lv.record.settings, clock_of(lv.record)
            every = s.report_every_minutes * MIN
            for slot in range(1, 10_000):
                at = s.starts_at + slot * every
                due = settle(clock, at)
                if due > b1 or at >= s.ends_at:
                    break
                if due < b0:
                    continue
                row = seen.get((lv.record.id, f"scheduled:{slot}"))
                if row is None:
                    sched_missing += 1
                    if sched_missing <= 3:  # enough to look into
                        print(
                            f"    missing: {s.slug} scheduled:{slot} (every"
                            f" {s.report_every_minutes} min), settled"
                            f" {(b1 - due) / 1000:.1f} s before the trickle's end; rows:"
                            f" {sorted(r[2] for r in rows if r[1] == lv.record.id)}"
                        )
                else:
                    sched.append((row[5] - due) / 1000)
        kinds: dict[str, dict[str, int]] = {"idle": {}, "trickle": {}}
        for r in rows:
            phase = "trickle" if b0 <= r[5] <= end_ms else ""
            phase = "idle" if idle.began * 1000 <= r[5] < b0 else phase
            if phase and r[1] in by_id:
                kinds[phase][r[3]] = kinds[phase].get(r[3], 0) + 1
        return {
            "miles": miles,
            "miles_missing": miles_missing,
            "sched": sched,
            "sched_missing": sched_missing,
            "kinds": kinds,
        }


async def one_run(args: argparse.Namespace, n: int, tmp: Path) -> dict[str, Any]:
    r = Run(args, n, tmp)
    await r.start()
    try:
        return await r.go()
    finally:
        await r.stop()


def show_delays(name: str, values: list[float], missing: int, waited_s: float) -> str:
    if not values:
        return f"  {name}: no report seen ({missing} due, no row by the end, {waited_s:.0f} s after the trickle)"
    line = (
        f"  {name}: n={len(values)} min {min(values):.2f} s, p50 {statistics.median(values):.2f} s,"
        f" p99 {pct(values, 0.99):.2f} s, max {max(values):.2f} s"
    )
    if missing:
        line += f"; {missing} due, no row by the end ({waited_s:.0f} s after the trickle)"
    return line


def report(args: argparse.Namespace, n: int, out: dict[str, Any]) -> None:
    idle, busy = out["idle"], out["busy"]

    def cpu(p: Phase) -> str:
        return ", ".join(f"{k} {v:.1f}%" for k, v in p.cpu.items())

    print(
        f"  created in {out['create_s']:.1f} s (in-process), seeded {args.seed} orders each"
        f" over HTTP in {out['seed_s']:.1f} s; the worker looked at them all in"
        f" {out['quiet_s']:.0f} s"
    )
    print(f"  Redis used_memory per campaign: {out['mem_per_campaign'] / 1024:.1f} KiB")
    print(f"  idle {idle.ended - idle.began:.0f} s, CPU of a core: {cpu(idle)}")
    scrape = out["scrape_cpu_s"]
    print(
        f"  one scrape of the worker's /metrics: {scrape * 1000:.0f} ms of its CPU"
        f" (every 15 s: {scrape / 15 * 100:.1f}% of a core; outside the idle window)"
    )
    print(
        f"  trickle {busy.ended - busy.began:.0f} s, {out['sent']} orders into {out['active']}"
        f" campaigns (a milestone every {out['step']} orders), CPU: {cpu(busy)}"
    )
    for name, p in (("idle", idle), ("trickle", busy)):
        wall, t = p.ended - p.began, p.ticks
        mean = f", {t['tick_s'] / t['ticks'] * 1000:.0f} ms each" if t["ticks"] else ""
        print(
            f"  worker while {name}: {t['ticks'] / wall:.2f} trigger ticks/s{mean},"
            f" {t['evaluations'] / wall:.1f} rule evaluations/s,"
            f" {t['campaigns'] / wall:.1f} campaign evaluations/s (0 before issue 22's counter)"
        )
    waited = args.drain
    print(
        show_delays("milestone, minute settled -> row", out["miles"], out["miles_missing"], waited)
    )
    print(show_delays("scheduled, slot settled -> row", out["sched"], out["sched_missing"], waited))
    for phase, kinds in out["kinds"].items():
        shown = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"
        print(f"  reports written while {phase}: {shown}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--campaigns", default="100,1000,10000", help="sizes, comma-separated")
    ap.add_argument("--runs", type=int, default=1, help="runs of each size")
    ap.add_argument("--time-scale", type=float, default=2.0, help="rehearsal speed")
    ap.add_argument("--seed", type=int, default=5, help="orders each campaign gets first")
    ap.add_argument(
        "--scheduled", type=int, default=50, help="campaigns with a slot in the trickle"
    )
    ap.add_argument("--settle", type=float, default=5.0, help="s after seeding before idle")
    ap.add_argument(
        "--quiet-max", type=float, default=180.0, help="s at most for the worker to settle"
    )
    ap.add_argument("--idle", type=float, default=60.0, help="s of idle measurement")
    ap.add_argument("--trickle", type=float, default=180.0, help="s of trickle")
    ap.add_argument("--rate", type=float, default=10.0, help="trickle orders/s in all")
    ap.add_argument("--active-share", type=float, default=0.01, help="share of campaigns fed")
    ap.add_argument("--min-active", type=int, default=3, help="at least this many fed")
    ap.add_argument("--drain", type=float, default=20.0, help="s to wait for late reports")
    ap.add_argument("--poll", type=float, default=0.05, help="s between reads of `report`")
    ap.add_argument("--quick", action="store_true", help="smoke run: 20 campaigns, ~60 s")
    args = ap.parse_args()
    if args.quick:
        args.campaigns, args.time_scale, args.scheduled = "20", 6.0, 5
        args.settle, args.idle, args.trickle, args.drain, args.rate = 2, 10, 30, 8, 5
    print(f"warroom from {Path(warroom.__file__).parent.parent}")
    db = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgresql") else "SQLite"
    load = os.getloadavg()
    print(
        f"{os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {db},"
        f" embedded Redis, time scale {args.time_scale:g}"
    )
    for n in [int(x) for x in args.campaigns.split(",")]:
        for run in range(1, args.runs + 1):
            print(f"{n} campaigns, run {run}:", flush=True)
            with tempfile.TemporaryDirectory(prefix="wr-camps-") as tmp:
                out = asyncio.run(one_run(args, n, Path(tmp)))
                report(args, n, out)
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
