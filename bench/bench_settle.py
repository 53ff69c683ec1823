"""How soon after its slot a scheduled report is written while ingest runs flat out.

    .venv/bin/python bench/bench_settle.py [--seconds 60] [--scale 10]

Starts the real processes in a temp dir (embedded redis-server, one `warroom web`, one
`warroom worker`), creates a campaign whose clock runs `--scale` times faster with a
report every campaign minute, then posts batches of 500 simulator events (stamped on
arrival) over 4 keep-alive connections for `--seconds`, as the spine benchmark does.
Meanwhile it polls `GET /reports` every 0.2 s and prints, per scheduled report, how
many real seconds after its slot it appeared, and whether its `figures` equal the SQL
ledger's totals before the slot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from bench_spine import ADMIN, HOST, JSON, Bench, sale_events
from rawhttp import Connection, hammer
from sqlalchemy import create_engine, text

from warroom.simulator import real_now_ms


def ledger_before(db_url: str, campaign_slug: str, before_ms: int) -> dict[str, int]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        cid = conn.execute(
            text("SELECT id FROM campaign WHERE slug = :s"), {"s": campaign_slug}
        ).scalar_one()
        rows = conn.execute(
            text(
                "SELECT body FROM ledger_event WHERE campaign_id = :c AND type = 'order' "
                "AND ts_ms < :t"
            ),
            {"c": cid, "t": before_ms},
        ).scalars()
        gmv = orders = 0
        for body in rows:
            e = orjson.loads(body)
            gmv += e["amount_fen"]
            orders += 1
    engine.dispose()
    return {"gmv_fen": gmv, "orders": orders}


async def run(b: Bench, seconds: float, scale: int) -> None:
    env = dict(os.environ)
    env.update(
        REDIS_URL=b.redis_url,
        DATABASE_URL=b.database_url,
        WARROOM_ADMIN_TOKEN=ADMIN,
        WARROOM_DATA_DIR=str(b.tmp),
    )
    log = (b.tmp / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "warroom.cli", "worker"], env=env, stdout=log, stderr=log
    )
    try:
        now = real_now_ms()
        starts = now - now % 60_000
        before = real_now_ms()
        created = await b.call(
            "POST",
            "/api/v1/campaigns",
            {
                "slug": "settle",
                "name": "settle",
                "starts_at": starts,
                "ends_at": starts + 7 * 3600_000,
                "report_every_minutes": 1,
                "time_scale": scale,
                "target_base_fen": 10**12,
            },
        )
        created_real = (before + real_now_ms()) // 2
        token = created["ingest_token"]
        events = sale_events(2_000_000, "s")
        seen: dict[int, tuple[float, dict[str, Any]]] = {}
        stop = asyncio.Event()

        async def poll() -> None:
            conn = await Connection(HOST, b.port).open()
            headers = f"Authorization: Bearer {ADMIN}\r\n".encode()
            try:
                while not stop.is_set():
                    _, body = await conn.request(
                        "GET", "/api/v1/campaigns/settle/reports", b"", headers
                    )
                    for r in orjson.loads(body):
                        if r["kind"] == "scheduled" and r["id"] not in seen:
                            seen[r["id"]] = (real_now_ms(), r)
                    await asyncio.sleep(0.2)
            finally:
                conn.close()

        poller = asyncio.create_task(poll())
        headers = f"Authorization: Bearer {token}\r\n".encode() + JSON
        posted, i = 0, 0
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            chunk = [events[(i + k) * 500 : (i + k + 1) * 500] for k in range(8)]
            i += 8
            reqs = [
                ("POST", "/api/v1/campaigns/settle/events", orjson.dumps(c), headers) for c in chunk
            ]
            await hammer(HOST, b.port, reqs, 4)
            posted += sum(len(c) for c in chunk)
        rate = posted / (time.perf_counter() - began)
        await asyncio.sleep(5)  # the last slot's report
        stop.set()
        await poller
    finally:
        worker.terminate()
        worker.wait(timeout=15)
        log.close()
    print(f"  ingest during the run: {rate:,.0f} events/s (batches of 500, 4 in flight)")
    lags = []
    for at_real, r in sorted(seen.values(), key=lambda x: x[0]):
        slot = int(datetime.fromisoformat(r["figures"]["as_of"]).timestamp() * 1000)
        slot_real = created_real + (slot - starts) / scale
        lag = (at_real - slot_real) / 1000
        lags.append(lag)
        truth = ledger_before(b.database_url, "settle", slot)
        ok = all(r["figures"][k] == v for k, v in truth.items())
        print(
            f"  {r['text'].splitlines()[0]:<28} written {lag:5.2f} s after its slot; "
            f"figures {'=' if ok else '≠'} ledger (¥{r['figures']['gmv_fen'] / 100:,.0f}, "
            f"{r['figures']['orders']:,} orders)"
        )
    if lags:
        lags.sort()
        print(
            f"  {len(lags)} reports: median {lags[len(lags) // 2]:.2f} s, "
            f"max {lags[-1]:.2f} s after the slot (poll interval 0.2 s)"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--scale", type=int, default=10)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="wr-settle-") as tmp:
        b = Bench(Path(tmp))
        b.start()
        try:
            asyncio.run(run(b, args.seconds, args.scale))
        finally:
            b.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
