"""Settled figures: per-minute sums below an instant are the totals as of it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from warroom.core.ingest.clock import MINUTE_MS as M
from warroom.core.live.figures import (
    activity_by_minute,
    crossing_minute,
    figures_at,
    first_activity_ms,
)

START = 1_716_170_400_000


def test_figures_sum_the_minutes_below_the_instant() -> None:
    minutes = {
        "gmv": {START: 100, START + M: 200, START + 2 * M: 400},
        "orders": {START: 1, START + M: 2, START + 2 * M: 4},
        "newbuyers": {START: 1, START + 2 * M: 3},
        "buyers": {START: 1, START + M: 2, START + 2 * M: 4},
        "refund": {START + M: 50},
    }
    f = figures_at(minutes, START + 2 * M)
    assert (f.gmv_fen, f.refund_fen, f.net_gmv_fen, f.orders, f.buyers) == (300, 50, 250, 3, 1)
    d = f.as_dict("Asia/Shanghai")
    assert d["as_of"] == "2024-05-20T10:02:00+08:00" and d["net_gmv_fen"] == 250


def test_buyers_before_first_order_minutes_existed() -> None:
    """Hot state without `newbuyers`: per-minute distinct buyers, the best there is."""
    minutes = {"orders": {START: 3, START + M: 1}, "buyers": {START: 2, START + M: 1}}
    assert figures_at(minutes, START + 5 * M).buyers == 3
    # a repeat buyer: today's distinct count caps the sum, and is the answer at the end
    assert figures_at(minutes, START + 5 * M, total_buyers=2).buyers == 2
    assert figures_at(minutes, START + M, total_buyers=1).buyers == 1


def test_crossing_minute_and_first_activity() -> None:
    gmv = {START + 3 * M: 600, START + M: 500}
    assert crossing_minute(gmv, 500) == START + M
    assert crossing_minute(gmv, 501) == START + 3 * M
    assert crossing_minute(gmv, 2_000) is None and crossing_minute(gmv, 0) is None
    assert first_activity_ms({"messages": {START + 7 * M: 1}, "gmv": {}}, None) == START + 7 * M
    assert first_activity_ms({}, START + 90_000) == START + M  # a member event's ts only
    assert first_activity_ms({}, None) is None
    assert activity_by_minute({"orders": {START: 2}, "messages": {START: 3, START + M: 1},
                               "refund": {START + 2 * M: 900}}) == {
        START: 5, START + M: 1, START + 2 * M: 1,
    }  # fmt: skip


@given(
    st.dictionaries(st.integers(0, 500), st.integers(1, 10**6), max_size=40), st.integers(0, 600)
)
def test_figures_grow_with_the_instant_and_end_at_the_totals(
    sales: dict[int, int], cut: int
) -> None:
    gmv = {START + k * M: v for k, v in sales.items()}
    minutes = {"gmv": gmv, "orders": {m: 1 for m in gmv}}
    a, b = figures_at(minutes, START + cut * M), figures_at(minutes, START + (cut + 1) * M)
    assert a.gmv_fen <= b.gmv_fen and a.orders <= b.orders
    end = figures_at(minutes, START + 501 * M)
    assert (end.gmv_fen, end.orders) == (sum(sales.values()), len(sales))
