"""The retrospective and group-health benchmark: the groups API and the review page at
10,000 groups and up to 1,000,000 orders.

    .venv/bin/python bench/bench_review.py [--orders 1000000] [--groups 10000] [--steps 3]

Runs the app in-process (httpx ASGI transport, so HTTP parsing is left out but routing,
auth, Redis, SQL and rendering are in) on an embedded redis-server and SQLite in a temp
dir. Ledger rows are written straight into SQLite with executemany (fast), and the same
events go through the real apply script (`HotState.apply`, the aggregator's path), so
group health is kept exactly as in production. After each step (orders/steps more
orders, plus messages and joins) it times, per request:
- `GET /groups` (all 10,000 rows) and `/groups/summary` (the screen's panel): should be
  flat in the number of orders, since they read per-group counters only;
- `GET /c/{slug}/review` first (a scan of the whole ledger) and again (cached until the
  ledger grows): the first grows with the ledger, the second is flat;
- `GET /export/groups.csv` (cached review) and `/export/events.csv` (streamed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from warroom.adapters.redis.embedded import EmbeddedRedis  # noqa: E402
from warroom.adapters.sql.tables import LedgerEvent  # noqa: E402
from warroom.bootstrap import web_app  # noqa: E402
from warroom.settings import Settings  # noqa: E402

ADMIN = "bench-admin"
MIN = 60_000
CHUNK = 5000


def events_for(
    n_orders: int, n_groups: int, start_id: int, starts: int, span: int, rnd: random.Random
) -> Iterator[list[dict[str, Any]]]:
    """Orders, one message per five orders, one join per ten orders, a chunk at a time
    (a million event dicts at once would take gigabytes)."""
    out: list[dict[str, Any]] = []
    for i in range(start_id, start_id + n_orders):
        if len(out) >= CHUNK:
            yield out
            out = []
        g = rnd.randrange(n_groups)
        ts = starts + rnd.randrange(span)
        out.append({"type": "order", "order_id": f"o{i}", "amount_fen": rnd.randrange(990, 30_000),
                    "seller_id": f"s{rnd.randrange(500)}", "group_id": f"g{g}",
                    "group_name": f"{g}号社群", "buyer_id": f"b{rnd.randrange(n_orders * 2)}",
                    "product_id": f"p{rnd.randrange(300)}", "quantity": 1, "ts": ts,
                    "key": f"order:o{i}"})  # fmt: skip
        if i % 5 == 0:
            out.append({"type": "message", "message_id": f"m{i}", "group_id": f"g{g}",
                        "member_id": f"u{rnd.randrange(200_000)}", "ts": ts, "key": f"message:m{i}"})  # fmt: skip
        if i % 10 == 0:
            out.append({"type": "member", "event_id": f"j{i}", "group_id": f"g{g}",
                        "member_id": f"u{rnd.randrange(200_000)}", "action": "join", "ts": ts,
                        "key": f"member:j{i}"})  # fmt: skip
    if out:
        yield out


async def timed(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], n: int
) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        res = await client.get(url, headers=headers)
        times.append(time.perf_counter() - t0)
        assert res.status_code == 200, (url, res.status_code, res.text[:200])
        size = len(res.content)
    return statistics.median(times) * 1000, size


def redis_cpu(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def cpu_per_request(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], r: redis.Redis, n: int = 5
) -> tuple[float, float]:
    """CPU ms per request of this process (the app) and of redis-server: unlike wall
    time, barely disturbed by other work on a busy machine."""
    c0, r0 = time.process_time(), redis_cpu(r)
    for _ in range(n):
        res = await client.get(url, headers=headers)
        assert res.status_code == 200
    return (time.process_time() - c0) * 1000 / n, (redis_cpu(r) - r0) * 1000 / n


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--groups", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-review-"))
    try:
        await run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def run(args: argparse.Namespace, tmp: Path) -> None:
    with EmbeddedRedis(tmp / "redis") as server:
        settings = Settings(redis_url=server.url, warroom_admin_token=ADMIN,
                            warroom_data_dir=tmp / "data")  # fmt: skip
        app = web_app(settings)
        async with app.router.lifespan_context(app):
            rt = app.state.runtime
            app.state.groups_ttl_s = 0  # measure every read (viewers share one per 2 s)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", timeout=600
            ) as client:
                now = int(time.time() * 1000)
                starts, ends = now - 7 * 60 * MIN, now - MIN
                res = await client.post("/api/v1/campaigns", headers={"Authorization": f"Bearer {ADMIN}"},
                                        json={"slug": "bench", "name": "基准活动", "starts_at": starts,
                                              "ends_at": ends, "target_base_fen": 10**10})  # fmt: skip
                viewer = {"Authorization": f"Bearer {res.json()['viewer_token']}"}
                record = rt.store.get_campaign("bench")
                table = LedgerEvent.__table__
                rnd = random.Random(1)
                per_step = args.orders // args.steps
                done = 0
                print(f"# bench_review: {args.groups:,} groups, up to {args.orders:,} orders "
                      f"(+1 message per 5 orders, +1 join per 10), cpus={os.cpu_count()}")  # fmt: skip
                print("| orders | ledger rows | apply (events/s) | /groups wall ms (KB) | /groups CPU ms app + redis "
                      "| /groups/summary wall ms | summary CPU ms app + redis | review first (s) "
                      "| review cached (ms) | groups.csv (ms) | events.csv (s, MB) |")  # fmt: skip
                print("|---|---|---|---|---|---|---|---|---|---|---|")
                sync_redis = redis.Redis.from_url(server.url)
                # every group exists from the start: one join each
                seed = [{"type": "member", "event_id": f"seed{g}", "group_id": f"g{g}", "member_id": f"u{g}",
                         "action": "join", "ts": starts, "key": f"member:seed{g}"} for g in range(args.groups)]  # fmt: skip
                lid = 0
                pending: list[list[dict[str, Any]]] = [seed]
                rows_total = 0
                for _step in range(args.steps):
                    done += per_step
                    applied, t_apply = 0, 0.0
                    source = (
                        c
                        for src in (
                            pending,
                            events_for(
                                per_step, args.groups, done - per_step, starts, ends - starts, rnd
                            ),
                        )
                        for c in src
                    )
                    for batch in source:
                        rows_total += len(batch)
                        for i in range(0, len(batch), CHUNK):
                            chunk = batch[i : i + CHUNK]
                            rows = []
                            for e in chunk:
                                lid += 1
                                e["lid"] = lid
                                rows.append({"id": lid, "campaign_id": record.id, "key": e["key"],
                                             "type": e["type"], "ts_ms": e["ts"], "received_ms": now,
                                             "body": orjson.dumps(e).decode(), "relayed": True})  # fmt: skip
                            with rt.store.engine.begin() as conn:
                                conn.execute(table.insert(), rows)
                            t0 = time.perf_counter()
                            applied += await rt.hot.apply("bench", chunk, now)
                            t_apply += time.perf_counter() - t0
                    pending = []
                    g_ms, g_size = await timed(client, "/api/v1/campaigns/bench/groups", viewer, 5)
                    s_ms, _ = await timed(
                        client, "/api/v1/campaigns/bench/groups/summary", viewer, 5
                    )
                    g_app, g_red = await cpu_per_request(
                        client, "/api/v1/campaigns/bench/groups", viewer, sync_redis
                    )
                    s_app, s_red = await cpu_per_request(
                        client, "/api/v1/campaigns/bench/groups/summary", viewer, sync_redis
                    )
                    t0 = time.perf_counter()
                    await timed(client, "/c/bench/review", viewer, 1)
                    first = time.perf_counter() - t0
                    r_ms, _ = await timed(client, "/c/bench/review", viewer, 5)
                    c_ms, _ = await timed(
                        client, "/api/v1/campaigns/bench/export/groups.csv", viewer, 3
                    )
                    t0 = time.perf_counter()
                    ev_size = 0  # streamed: count the bytes, keep none
                    async with client.stream(
                        "GET", "/api/v1/campaigns/bench/export/events.csv", headers=viewer
                    ) as res:
                        async for part in res.aiter_bytes():
                            ev_size += len(part)
                    ev_s = time.perf_counter() - t0
                    print(f"| {done:,} | {rows_total:,} | {applied / t_apply:,.0f} | {g_ms:.0f} ({g_size / 1024:,.0f}) "
                          f"| {g_app:.0f} + {g_red:.0f} | {s_ms:.0f} | {s_app:.0f} + {s_red:.0f} | {first:.1f} | {r_ms:.0f} | {c_ms:.0f} | {ev_s:.1f} ({ev_size / 1e6:.0f}) |",
                          flush=True)  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
