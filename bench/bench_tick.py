"""The trigger tick benchmark: what one tick of the trigger worker costs over idle live
campaigns (nothing due, no rule firing), the work it repeats four times a second.

    .venv/bin/python bench/bench_tick.py [--campaigns 20] [--ticks 200] [--orders 5000]

Starts an embedded redis-server (unix socket, as `warroom serve` runs it) and a SQLite
ledger in a temp dir, creates `--campaigns` live campaigns through the campaign
directory (stream, consumer group, generation), each with a stimulus rule that stays
quiet, fills each one's hot state straight through HotState.apply with `--orders`
orders over `--entities` sellers and groups (the last minutes busy), lets a few warm-up
ticks post whatever was due, then times `--ticks` ticks of `Triggers.tick()`.

Printed: wall time per tick (p50, p90, mean) and per campaign, this process's CPU per
tick (the tick's SQL runs in threads of this process), Redis commands and Redis CPU per
tick (INFO), and per tick the reads of a campaign's fires (ReportStore.fires) and the
snapshots built (services.snapshots.build_snapshot), counted on thin wrappers.

To measure another tree with this script, put it first on the path:
`PYTHONPATH=/path/to/tree .venv/bin/python bench/bench_tick.py` (the first line printed
says which `warroom` was imported).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import warroom
from warroom.adapters.clock import real_now_ms
from warroom.adapters.redis.embedded import EmbeddedRedis
from warroom.bootstrap import build_runtime
from warroom.core.campaign import CampaignSettings
from warroom.services import snapshots
from warroom.settings import Settings
from warroom.workers.triggers import Triggers

MIN = 60_000
QUIET_RULE = {
    "name": "quiet",
    "metric": "gmv_per_min",
    "window_minutes": 3,
    "below_peak_ratio": 0.001,  # a slump it never sees: evaluated every tick, never fired
    "sustain_minutes": 3,
    "cooldown_minutes": 30,
    "max_fires": 3,
    "action": {"kind": "red_packet_rain", "amount_fen": 0, "text": "never"},
}


def orders(n: int, entities: int, now_ms: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for lid in range(1, n + 1):
        # Most of the day long ago, a tenth in the recent minutes.
        ago = rng.randrange(5 * MIN) if rng.random() < 0.1 else rng.randrange(5 * MIN, 400 * MIN)
        s, g = rng.randrange(entities), rng.randrange(entities)
        out.append(
            {
                "type": "order", "key": f"order:o{lid}", "lid": lid, "order_id": f"o{lid}",
                "ts": now_ms - ago, "amount_fen": rng.choice([990, 1990, 5900, 12800]),
                "quantity": 1, "seller_id": f"s{s}", "seller_name": f"团长{s}",
                "group_id": f"g{g}", "group_name": f"{g}号群", "product_id": f"p{s % 50}",
                "product_name": f"商品{s % 50}", "buyer_id": f"u{rng.randrange(n // 3 + 1)}",
            }
        )  # fmt: skip
    return out


class Counted:
    """Count the calls of a function, calling it through."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.fn(*args, **kwargs)


async def redis_counts(redis: Any) -> tuple[int, float]:
    stats, cpu = await redis.info("stats"), await redis.info("cpu")
    return int(stats["total_commands_processed"]), cpu["used_cpu_user"] + cpu["used_cpu_sys"]


async def run(args: argparse.Namespace, tmp: Path) -> None:
    with EmbeddedRedis(tmp / "redis") as server:
        rt = build_runtime(
            Settings(
                redis_url=server.url,
                database_url=f"sqlite:///{tmp}/b.db",
                warroom_admin_token="bench-admin",
                warroom_data_dir=tmp / "data",
            )
        )
        now = real_now_ms()
        for n in range(args.campaigns):
            slug = f"t{n}"
            settings = CampaignSettings.model_validate(
                {
                    "slug": slug,
                    "name": "tick",
                    "starts_at": now - 420 * MIN,
                    "ends_at": now + 600 * MIN,
                    "target_base_fen": 10**12,
                    "target_stretch_fen": 10**12,
                    "milestones_fen": [],
                    "report_every_minutes": 1440,
                    "stimulus_rules": [
                        {**QUIET_RULE, "name": f"quiet{k}"} for k in range(args.rules)
                    ],
                }
            )
            await rt.campaigns.create(settings)
            batch = orders(args.orders, args.entities, now, seed=n)
            for i in range(0, len(batch), 5000):
                await rt.hot.apply(slug, batch[i : i + 5000], now)

        fires = Counted(rt.reports.fires)
        rt.reports.fires = fires  # type: ignore[method-assign]
        built = Counted(snapshots.build_snapshot)
        snapshots.build_snapshot = built  # type: ignore[assignment]
        triggers = Triggers(rt.store, rt.hot, rt.reports, rt.announcer)
        for _ in range(args.warmup):
            await triggers.tick()
        posted = len(await rt.hot.read_feed("t0", "reports"))
        fires.calls = built.calls = 0
        cmds0, rcpu0 = await redis_counts(rt.redis)
        cpu0 = time.process_time()
        walls = []
        for _ in range(args.ticks):
            t = time.perf_counter()
            await triggers.tick()
            walls.append(time.perf_counter() - t)
        cpu = time.process_time() - cpu0
        cmds1, rcpu1 = await redis_counts(rt.redis)
        late = len(await rt.hot.read_feed("t0", "reports")) - posted
        await rt.close()

    n, m = args.ticks, args.campaigns
    walls.sort()
    p50, p90 = statistics.median(walls) * 1000, walls[int(n * 0.9)] * 1000
    mean = statistics.fmean(walls) * 1000
    print(
        f"{m} campaigns, {args.orders} orders over {args.entities} sellers and groups each,"
        f" {args.rules} quiet rule(s); {n} ticks after {args.warmup} warm-up"
    )
    print(f"tick wall: p50 {p50:.2f} ms, p90 {p90:.2f} ms, mean {mean:.2f} ms")
    print(f"per campaign: {p50 * 1000 / m:.0f} µs wall (p50), {cpu / n / m * 1e6:.0f} µs CPU")
    print(f"this process CPU per tick: {cpu / n * 1000:.2f} ms")
    print(
        f"Redis per tick: {(cmds1 - cmds0 - 2) / n:.1f} commands,"
        f" {(rcpu1 - rcpu0) / n * 1000:.2f} ms CPU"
    )
    print(
        f"per tick: {fires.calls / n:.1f} reads of fires, {built.calls / n:.1f} snapshots built"
        f" ({fires.calls / n / m:.2f} and {built.calls / n / m:.2f} a campaign)"
    )
    if late:
        print(f"note: {late} report(s) of t0 fell due while timing (a slot boundary)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--campaigns", type=int, default=20)
    ap.add_argument("--ticks", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--orders", type=int, default=5000, help="orders per campaign")
    ap.add_argument("--entities", type=int, default=1000, help="sellers and groups")
    ap.add_argument("--rules", type=int, default=1, help="quiet stimulus rules per campaign")
    args = ap.parse_args()
    print(f"warroom from {Path(warroom.__file__).parent.parent}")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
