"""The render benchmark: what one screen render (and one snapshot) costs as the number
of sellers, groups and products grows, next to the raw Redis round trip measured in the
same run.

    .venv/bin/python bench/bench_render.py [--entities 15,1000,10000,100000] [--orders 20000]

For each entity count it fills a campaign's hot state straight through HotState.apply
(the aggregator's own write path) with `--orders` orders spread over that many sellers
and groups (half as many products), the last few minutes busy, then times:
the bounded read the screens and the snapshot API use (top rows plus
names, ranks before the recent minutes from counts) and, for comparison, the full
read every entity used to cost; and the host's own-rank card (picker of the top 1,000
plus one seller's place, a seller in the middle of the board). An embedded redis-server on a unix socket, as
`warroom serve` runs it; SQLite in a temp dir.
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

from warroom.adapters.clock import real_now_ms
from warroom.adapters.redis.client import redis_client
from warroom.adapters.redis.embedded import EmbeddedRedis
from warroom.adapters.redis.hotstate import HotState
from warroom.adapters.sql.engine import make_engine
from warroom.adapters.sql.store import Store
from warroom.core.campaign import CampaignSettings
from warroom.core.live.snapshot import build_snapshot, recent_from
from warroom.services.campaigns import clock_of
from warroom.services.snapshots import load_state
from warroom.web.pages.screen_view import seller_card

MIN = 60_000


def orders(n: int, entities: int, now_ms: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for lid in range(1, n + 1):
        # Most of the day long ago, a tenth in the recent minutes (ranks move).
        ago = rng.randrange(5 * MIN) if rng.random() < 0.1 else rng.randrange(5 * MIN, 400 * MIN)
        s, g, p = (
            rng.randrange(entities),
            rng.randrange(entities),
            rng.randrange(max(1, entities // 2)),
        )
        out.append(
            {
                "type": "order", "key": f"order:o{lid}", "lid": lid, "order_id": f"o{lid}",
                "ts": now_ms - ago, "amount_fen": rng.choice([990, 1990, 5900, 12800]),
                "quantity": 1, "seller_id": f"s{s}", "seller_name": f"团长{s}",
                "group_id": f"g{g}", "group_name": f"{g}号群", "product_id": f"p{p}",
                "product_name": f"商品{p}", "buyer_id": f"u{rng.randrange(n // 3 + 1)}",
            }
        )  # fmt: skip
    return out


def p50(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def p90(xs: list[float]) -> float:
    return sorted(xs)[int(len(xs) * 0.9)] * 1000


async def timed(fn: Any, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t)
    return out


async def run(args: argparse.Namespace, tmp: Path) -> None:
    with EmbeddedRedis(tmp / "redis") as server:
        redis = redis_client(server.url)
        hot = HotState(redis)
        store = Store(make_engine(f"sqlite:///{tmp}/b.db"))
        store.create_schema()
        ping = await timed(redis.ping, 200)
        print(f"raw Redis round trip (PING): p50 {p50(ping):.3f} ms, p90 {p90(ping):.3f} ms")
        print(
            f"{'entities':>9} {'orders':>7} {'bounded p50':>12} {'p90':>8} {'full read p50':>14}"
            f" {'p90':>8} {'host card p50':>14} {'p90':>8}"
        )
        for n, entities in enumerate(int(x) for x in args.entities.split(",")):
            slug = f"r{n}"
            now = real_now_ms()
            settings = CampaignSettings.model_validate(
                {
                    "slug": slug,
                    "name": "render",
                    "starts_at": now - 420 * MIN,
                    "ends_at": now + 60 * MIN,
                    "target_base_fen": 100_000_000,
                }
            )
            record = store.create_campaign(settings, "x", "y", now)
            await hot.init_generation(slug)
            batch = orders(args.orders, entities, now, seed=n)
            for i in range(0, len(batch), 5000):
                await hot.apply(slug, batch[i : i + 5000], now)

            async def bounded(record: Any = record) -> None:
                await load_state(hot, record, real_now_ms(), [], [])

            async def full(record: Any = record, slug: str = slug) -> None:
                clock_now = clock_of(record).now_ms(real_now_ms())
                raw = await hot.read(slug, recent_from(clock_now))
                build_snapshot(record.settings, raw, clock_now)

            async def card(record: Any = record, seller: str = f"s{entities // 2}") -> None:
                await seller_card(hot, record, seller, real_now_ms())

            b = await timed(bounded, args.rounds)
            f = await timed(full, max(5, args.rounds // 10))
            h = await timed(card, args.rounds)
            print(
                f"{entities:>9} {args.orders:>7} {p50(b):>9.2f} ms {p90(b):>5.2f} ms"
                f" {p50(f):>11.2f} ms {p90(f):>5.2f} ms {p50(h):>11.2f} ms {p90(h):>5.2f} ms"
            )
        await redis.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", default="15,1000,10000,100000")
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
