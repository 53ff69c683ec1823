"""The host's own-rank card read in bounded steps (the top of the board for the picker,
one seller's place and neighbours) says exactly what a read of the whole seller board
says: rank, move, the seller above and below and the gaps, ties included, for sellers
inside and far below the picker's cut."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Harness
from tests.integration.test_bounded_read import iso, random_day
from warroom.adapters.clock import real_now_ms
from warroom.core.live.snapshot import leaderboard, recent_from
from warroom.services.campaigns import clock_of
from warroom.web.pages.screen_view import seller_card


def full_card(rows: list[dict[str, Any]], seller: str) -> dict[str, Any]:
    """The card from every seller's row (what the card used to read)."""
    i = next(n for n, r in enumerate(rows) if r["id"] == seller)
    above = rows[i - 1] if i > 0 else None
    below = rows[i + 1] if i + 1 < len(rows) else None
    return {
        "seller": rows[i],
        "above": above,
        "below": below,
        "gap_up_fen": above["net_gmv_fen"] - rows[i]["net_gmv_fen"] if above else None,
        "lead_fen": rows[i]["net_gmv_fen"] - below["net_gmv_fen"] if below else None,
    }


@pytest.mark.parametrize("seed", range(4))
async def test_bounded_card_equals_the_whole_board(harness: Harness, seed: int) -> None:
    now = datetime.now(UTC)
    slug = f"h{seed}"
    c = await harness.create_campaign(
        slug=slug, starts_at=iso(now - timedelta(hours=2)), ends_at=iso(now + timedelta(hours=5))
    )
    events = random_day(seed, now)
    # hostile names on the board too: HTML, emoji, right-to-left text
    events[0]["seller_name"] = "<b>王姐</b>🌸\u202eابحر"
    assert (await harness.post_events(slug, c["ingest_token"], events)).status_code == 202
    await harness.drain()
    rt = harness.runtime
    record = await rt.campaigns.get(slug)
    assert record is not None
    real = real_now_ms()
    full = await rt.hot.read(slug, recent_from(clock_of(record).now_ms(real)))
    scores = full.boards["sellers"]
    rows = leaderboard(
        scores,
        full.board_orders["sellers"],
        full.board_names["sellers"],
        full.board_minutes["sellers"],
        len(scores),
    )
    assert len(rows) >= 3
    picker = 2  # a short picker: most sellers are below its cut
    for seller in [r["id"] for r in rows]:
        card = await seller_card(rt.hot, record, seller, real, picker=picker)
        expected = full_card(rows, seller)
        assert {k: card[k] for k in expected} == expected, seller
        assert card["count"] == len(rows)
        assert [o["id"] for o in card["options"]] == [r["id"] for r in rows[:picker]]
    nobody = await seller_card(rt.hot, record, "no-such-seller", real, picker=picker)
    assert nobody["seller"] is None and nobody["count"] == len(rows)


async def test_a_host_ranked_below_the_picker_still_sees_their_name_chosen(
    harness: Harness,
) -> None:
    now = datetime.now(UTC)
    c = await harness.create_campaign(
        slug="deep", starts_at=iso(now - timedelta(hours=1)), ends_at=iso(now + timedelta(hours=1))
    )
    events = [
        {
            "type": "order",
            "order_id": f"o{i}",
            "amount_fen": 1000 * (i + 1),
            "seller_id": f"s{i}",
            "seller_name": f"团长{i}",
            "group_id": "g",
            "product_id": "p",
            "buyer_id": f"b{i}",
            "ts": iso(now - timedelta(minutes=10)),
        }
        for i in range(5)
    ]
    assert (await harness.post_events("deep", c["ingest_token"], events)).status_code == 202
    await harness.drain()
    record = await harness.runtime.campaigns.get("deep")
    assert record is not None
    card = await seller_card(harness.runtime.hot, record, "s0", real_now_ms(), picker=2)
    assert card["seller"]["rank"] == 5 and card["above"]["id"] == "s1" and card["below"] is None
    assert card["gap_up_fen"] == 1000
