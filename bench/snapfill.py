"""Fill a campaign's hot state with many realistic orders, fast: straight through
HotState.apply (the aggregator's own write path) in big batches, skipping HTTP and the
ledger, which the ingest figures measure separately."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
from collections.abc import Iterator
from typing import Any

from warroom.adapters.redis.hotstate import HotState
from warroom.simulator import GROUP_NAMES, PRODUCTS, SALE_MINUTES, SELLERS, intensity

MIN = 60_000
CHUNK = 5000


def orders(first: int, last: int, start_ms: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """Orders with ledger ids first+1..last: 15 sellers, 30 groups, 20 products, one
    buyer per ~7 orders, spread over the day like the simulator's."""
    rng = random.Random(seed + first)
    minute_cum = list(itertools.accumulate(intensity(m) for m in range(SALE_MINUTES)))
    group_cum = list(itertools.accumulate(SELLERS[i // 2][1] for i in range(len(GROUP_NAMES))))
    product_cum = list(itertools.accumulate(w for *_, w in PRODUCTS))
    buyers = max(1000, last // 7)
    for lid in range(first + 1, last + 1):
        minute = bisect.bisect(minute_cum, rng.random() * minute_cum[-1])
        gi = bisect.bisect(group_cum, rng.random() * group_cum[-1])
        pi = bisect.bisect(product_cum, rng.random() * product_cum[-1])
        oid = f"bo{lid}"
        yield {
            "type": "order", "key": f"order:{oid}", "lid": lid, "order_id": oid,
            "ts": start_ms + minute * MIN + rng.randrange(MIN),
            "amount_fen": PRODUCTS[pi][1], "quantity": 1,
            "seller_id": f"s{gi // 2 + 1:02d}", "seller_name": SELLERS[gi // 2][0],
            "group_id": f"g{gi + 1:02d}", "group_name": GROUP_NAMES[gi],
            "product_id": f"p{pi + 1:02d}", "product_name": PRODUCTS[pi][0],
            "buyer_id": f"u{rng.randrange(buyers)}",
        }  # fmt: skip


async def fill_orders(hot: HotState, slug: str, first: int, last: int, start_ms: int) -> None:
    """Apply orders first+1..last, two chunks in flight (Python plans one while Redis
    runs the other's script, as the aggregator does)."""
    await hot.init_generation(slug)
    source = orders(first, last, start_ms)
    now = start_ms + SALE_MINUTES * MIN
    while True:
        chunks = [list(itertools.islice(source, CHUNK)) for _ in range(2)]
        chunks = [c for c in chunks if c]
        if not chunks:
            return
        await asyncio.gather(*(hot.apply(slug, c, now) for c in chunks))
