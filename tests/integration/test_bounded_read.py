"""The bounded read (top rows only, flat in the number of entities) gives exactly the
leaderboards of a full read, prev ranks and ties included, on random days with recent
sales, refunds and many equal scores."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Harness
from warroom.adapters.clock import real_now_ms
from warroom.core.live.snapshot import build_snapshot, recent_from
from warroom.services.campaigns import clock_of


def iso(dt: datetime) -> str:
    return dt.isoformat()


def random_day(seed: int, now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    sellers = rng.choice([3, 12, 40])
    for i in range(rng.randrange(50, 400)):
        # Amounts from a small set: many equal scores, ties at every cut.
        amount = rng.choice([100, 200, 300, 500])
        minutes_ago = rng.choice([0, 1, 2, 3, 4, 5, 6, 8, 15, 30, 59])
        events.append(
            {
                "type": "order",
                "order_id": f"o{i}",
                "amount_fen": amount,
                "seller_id": f"s{rng.randrange(sellers):02d}",
                "group_id": f"g{rng.randrange(sellers * 2)}",
                "product_id": f"p{rng.randrange(7)}",
                "buyer_id": f"b{rng.randrange(90)}",
                "seller_name": f"团长{rng.randrange(sellers)}",
                "ts": iso(now - timedelta(minutes=minutes_ago, seconds=rng.randrange(50))),
            }
        )
    for j in range(rng.randrange(0, 40)):
        events.append(
            {
                "type": "refund",
                "refund_id": f"r{j}",
                "order_id": f"o{rng.randrange(len(events))}",
                "amount_fen": rng.choice([100, 300, 1000]),
                "ts": iso(now - timedelta(minutes=rng.choice([0, 2, 7, 20]))),
            }
        )
    return events


@pytest.mark.parametrize("seed", range(8))
async def test_bounded_read_equals_full_read(harness: Harness, seed: int) -> None:
    now = datetime.now(UTC)
    size = [1, 3, 5, 10][seed % 4]
    c = await harness.create_campaign(
        slug=f"b{seed}",
        starts_at=iso(now - timedelta(hours=2)),
        ends_at=iso(now + timedelta(hours=5)),
        leaderboard_size=size,
    )
    res = await harness.post_events(f"b{seed}", c["ingest_token"], random_day(seed, now))
    assert res.status_code == 202
    await harness.drain()
    rt = harness.runtime
    record = await rt.campaigns.get(f"b{seed}")
    clock_now = clock_of(record).now_ms(real_now_ms())
    since = recent_from(clock_now)
    full = await rt.hot.read(f"b{seed}", since)
    bounded = await rt.hot.read(f"b{seed}", since, top=size)
    assert any(full.board_minutes.get("sellers", {}).values()), "the day must have recent sales"

    def snap(raw: Any, prev: Any) -> dict[str, Any]:
        return build_snapshot(record.settings, replace(raw, board_prev=prev or {}), clock_now)

    want = snap(full, None)["leaderboards"]
    got = snap(bounded, bounded.board_prev)["leaderboards"]
    assert got == want
    rows = [r for b in want.values() for r in b]
    # The day exercises what the bounded read must get right: moves and ties.
    assert any(r["prev_rank"] not in (None, r["rank"]) for r in rows) or size == 1
    for b in ("sellers", "groups", "products"):
        assert len(bounded.boards[b]) <= size
