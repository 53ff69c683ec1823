"""Hypothesis strategies: random flash-sale event sets with all the awkward cases."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

BASE = "2026-11-11T10:{m:02d}:{s:02d}+08:00"


@st.composite
def ts(draw: st.DrawFn) -> str:
    return BASE.format(m=draw(st.integers(0, 6)), s=draw(st.integers(0, 59)))


@st.composite
def event_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Distinct events (by identity), then re-sends of some of them."""
    n_orders = draw(st.integers(0, 25))
    events: list[dict[str, Any]] = []
    for i in range(n_orders):
        events.append(
            {
                "type": "order",
                "order_id": f"o{i}",
                "amount_fen": draw(st.integers(1, 10**6)),
                "seller_id": draw(st.sampled_from(["s1", "s2", "s3", "s4"])),
                "group_id": draw(st.sampled_from(["g1", "g2", "g3"])),
                "buyer_id": draw(st.sampled_from([f"b{k}" for k in range(8)])),
                "product_id": draw(st.sampled_from(["p1", "p2", "p3"])),
                "quantity": draw(st.integers(1, 5)),
                "ts": draw(ts()),
            }
        )
    for i in range(draw(st.integers(0, 10))):
        # Refunds of known orders, of orders that come later in arrival, and of none.
        target = draw(st.integers(0, n_orders + 2))
        events.append(
            {
                "type": "refund",
                "refund_id": f"r{i}",
                "order_id": f"o{target}",
                "amount_fen": draw(st.integers(1, 10**6)),
                "ts": draw(ts()),
            }
        )
    for i in range(draw(st.integers(0, 12))):
        events.append(
            {
                "type": "member",
                "event_id": f"m{i}",
                "group_id": draw(st.sampled_from(["g1", "g2"])),
                "member_id": draw(st.sampled_from(["u1", "u2", "u3", "u4"])),
                "action": draw(st.sampled_from(["join", "join", "leave"])),
                "ts": draw(ts()),
            }
        )
    for i in range(draw(st.integers(0, 10))):
        events.append(
            {
                "type": "message",
                "message_id": f"x{i}",
                "group_id": "g1",
                "member_id": draw(st.sampled_from(["u1", "u2", "u5"])),
                "kind": draw(st.sampled_from(["text", "image", "red_packet"])),
                "ts": draw(ts()),
            }
        )
    if events:
        resend = draw(st.lists(st.sampled_from(events), max_size=6))
        events = events + [dict(e) for e in resend]
    return draw(st.permutations(events))


@st.composite
def batchings(draw: st.DrawFn, n: int) -> list[tuple[int, str]]:
    """Split n events into consecutive batches, each sent as an array, NDJSON or one object."""
    out: list[tuple[int, str]] = []
    left = n
    while left > 0:
        size = draw(st.integers(1, left))
        shape = (
            "single"
            if size == 1 and draw(st.booleans())
            else draw(st.sampled_from(["array", "ndjson"]))
        )
        out.append((size, shape))
        left -= size
    return out
