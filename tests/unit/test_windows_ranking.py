"""Velocity windows (core/live/windows.py) and leaderboard ranks (core/live/ranking.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from warroom.core.ingest.clock import MINUTE_MS as M
from warroom.core.live.ranking import prev_rank, rank_order
from warroom.core.live.windows import Velocity, velocity, window_series

T0 = 1_716_170_400_000  # a minute boundary

# --- windows ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_minute", "start", "now", "window", "expected"),
    [
        # still inside the first minute: nothing complete yet
        ({T0: 600}, T0, T0 + M - 1, 3, []),
        ({T0: 600}, T0, T0, 3, []),
        # the partial current minute (T0 + 2M) is left out
        ({T0: 600, T0 + M: 300, T0 + 2 * M: 9_999}, T0, T0 + 2 * M + 30_000, 1, [600.0, 300.0]),
        # early on, the window is divided by its full length (no flattering start)
        ({T0: 600, T0 + M: 300}, T0, T0 + 2 * M, 3, [200.0, 300.0]),
        # an idle minute counts as zero, and old minutes slide out
        ({T0: 300, T0 + 2 * M: 600}, T0, T0 + 4 * M, 2, [150.0, 150.0, 300.0, 300.0]),
        # a start inside a minute begins at that minute; minutes before it are ignored
        ({T0 - M: 10**6, T0: 60}, T0 + 5_000, T0 + M, 2, [30.0]),
    ],
)
def test_window_series(
    per_minute: dict[int, int], start: int, now: int, window: int, expected: list[float]
) -> None:
    assert window_series(per_minute, start, now, window) == expected


def test_velocity_is_the_last_window_and_the_peak_of_all() -> None:
    gmv = {T0: 1_000, T0 + M: 5_000, T0 + 2 * M: 1_000, T0 + 3 * M: 1}
    orders = {T0: 1, T0 + M: 3, T0 + 2 * M: 1}
    v = velocity(gmv, orders, T0, T0 + 3 * M + 1, window_minutes=2)
    assert v == Velocity(
        window_minutes=2,
        gmv_per_min_fen=3_000,  # (5000 + 1000) / 2; the partial minute T0+3M not yet
        orders_per_min=2.0,
        peak_gmv_per_min_fen=3_000,
        peak_orders_per_min=2.0,
    )
    later = velocity(gmv, orders, T0, T0 + 5 * M, window_minutes=2)
    assert (later.gmv_per_min_fen, later.peak_gmv_per_min_fen) == (0, 3_000)
    assert later.orders_per_min == 0.0 and later.peak_orders_per_min == 2.0


def test_velocity_rounds_fen_to_integers_and_orders_to_hundredths() -> None:
    v = velocity({T0: 10}, {T0: 1}, T0, T0 + M, window_minutes=3)
    assert v.gmv_per_min_fen == 3 and isinstance(v.gmv_per_min_fen, int)
    assert v.orders_per_min == 0.33
    assert v.as_dict() == {
        "window_minutes": 3,
        "gmv_per_min_fen": 3,
        "orders_per_min": 0.33,
        "peak_gmv_per_min_fen": 3,
        "peak_orders_per_min": 0.33,
    }


def test_velocity_before_any_complete_minute_is_zero() -> None:
    v = velocity({T0: 500}, {T0: 5}, T0, T0 + 10, window_minutes=5)
    assert v == Velocity(5, 0, 0.0, 0, 0.0)


@hsettings(max_examples=80, deadline=None)
@given(
    st.dictionaries(st.integers(-3, 40), st.integers(0, 10**6), max_size=30),
    st.integers(0, 40),
    st.integers(1, 10),
    st.integers(0, M - 1),
)
def test_sliding_sum_equals_summing_each_window(
    sales: dict[int, int], elapsed: int, window: int, jitter: int
) -> None:
    per_minute = {T0 + k * M: v for k, v in sales.items()}
    series = window_series(per_minute, T0, T0 + elapsed * M + jitter, window)
    assert len(series) == elapsed
    for i, value in enumerate(series):
        lo = max(0, i - window + 1)
        direct = sum(sales.get(k, 0) for k in range(lo, i + 1))
        assert value == pytest.approx(direct / window)
    # every complete minute is in exactly `window` windows, less those cut by the end
    assert sum(series) * window == pytest.approx(
        sum(v * min(window, elapsed - k) for k, v in sales.items() if 0 <= k < elapsed)
    )


# --- ranking ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "order"),
    [
        ({}, []),
        ({"a": 1}, ["a"]),
        ({"a": 1, "b": 3, "c": 2}, ["b", "c", "a"]),
        ({"b": 5, "a": 5, "c": 7}, ["c", "a", "b"]),  # ties: the smaller id first
        ({"s10": 0, "s9": 0, "s1": -4}, ["s10", "s9", "s1"]),  # text order, negatives last
    ],
)
def test_rank_order(scores: dict[str, int], order: list[str]) -> None:
    assert rank_order(scores) == order


@pytest.mark.parametrize(
    ("ident", "above", "level", "rank"),
    [
        ("s1", 0, [], 1),
        ("s1", 3, [], 4),
        ("s2", 0, ["s1", "s3"], 2),  # s1 ties with it and sorts first
        ("s2", 2, ["s3", "s4"], 3),  # larger ids level with it do not push it down
        ("b", 1, iter(["a", "aa", "c"]), 4),  # any iterable
    ],
)
def test_prev_rank(ident: str, above: int, level: list[str], rank: int) -> None:
    assert prev_rank(ident, above, level) == rank


@hsettings(max_examples=80, deadline=None)
@given(st.dictionaries(st.text("abc", min_size=1, max_size=3), st.integers(-5, 5), max_size=12))
def test_prev_rank_from_a_count_agrees_with_the_full_order(scores: dict[str, int]) -> None:
    """What the adapter reads (a count above, the ids level) gives the full sort's rank."""
    ordered = rank_order(scores)
    assert sorted(ordered) == sorted(scores)
    assert all(scores[a] >= scores[b] for a, b in zip(ordered, ordered[1:], strict=False))
    for ident, s in scores.items():
        above = sum(1 for v in scores.values() if v > s)
        level = [k for k, v in scores.items() if v == s and k != ident]
        assert prev_rank(ident, above, level) == ordered.index(ident) + 1
