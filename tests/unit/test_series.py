"""The replay's per-minute series (core/review/series.py): running values, membership
over time and per-entity standings with checkpoints."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from warroom.core.ingest.clock import MINUTE_MS as M
from warroom.core.review.series import CHECKPOINT_MS, Series, Stepped, members_series, series_of

T0 = 1_716_170_400_000  # a minute and a checkpoint boundary
assert T0 % CHECKPOINT_MS == 0


@pytest.mark.parametrize(
    ("as_of", "value"),
    [
        (T0 - 1, 0),
        (T0, 0),  # the minute starting at as_of is not before it
        (T0 + 1, 5),
        (T0 + M, 5),
        (T0 + M + 1, 8),
        (T0 + 10**9, 8),
    ],
)
def test_series_before_reads_the_last_minute_strictly_before(as_of: int, value: int) -> None:
    assert Series([T0, T0 + M], [5, 8]).before(as_of) == value


def test_series_of_runs_in_minute_order_whatever_the_mapping_order() -> None:
    s = series_of({T0 + 2 * M: 1, T0: 10, T0 + M: 100})
    assert s == Series([T0, T0 + M, T0 + 2 * M], [10, 110, 111])
    peak = series_of({T0 + 2 * M: 4, T0: 3, T0 + M: 9}, running=max)
    assert peak.values == [3, 9, 9]
    assert series_of({}) == Series([], [])


def ev(ts: int, key: str, member: str, group: str, action: str) -> tuple[int, str, str, str, str]:
    return (ts, key, member, group, action)


@pytest.mark.parametrize(
    ("events", "minutes", "values"),
    [
        ([], [], []),
        # one member in two groups counts once, and stays while in either
        (
            [
                ev(T0, "a", "u1", "g1", "join"),
                ev(T0 + 5, "b", "u1", "g2", "join"),
                ev(T0 + M, "c", "u1", "g1", "leave"),
                ev(T0 + 2 * M, "d", "u1", "g2", "leave"),
            ],
            [T0, T0 + M, T0 + 2 * M],
            [1, 1, 0],
        ),
        # a repeated join changes nothing; a leave of a group never joined neither
        (
            [
                ev(T0, "a", "u1", "g1", "join"),
                ev(T0 + 1, "b", "u1", "g1", "join"),
                ev(T0 + 2, "c", "u2", "g1", "leave"),
            ],
            [T0],
            [1],
        ),
        # same instant: the larger key is the later one (leave wins), in any arrival order
        ([ev(T0, "k2", "u1", "g1", "leave"), ev(T0, "k1", "u1", "g1", "join")], [T0], [0]),
        ([ev(T0, "k1", "u1", "g1", "leave"), ev(T0, "k2", "u1", "g1", "join")], [T0], [1]),
        # a leave arriving before its (earlier) join is applied after it
        (
            [ev(T0 + M, "b", "u1", "g1", "leave"), ev(T0, "a", "u1", "g1", "join")],
            [T0, T0 + M],
            [1, 0],
        ),
    ],
)
def test_members_series(
    events: list[tuple[int, str, str, str, str]], minutes: list[int], values: list[int]
) -> None:
    assert members_series(events) == Series(minutes, values)


member_events = st.lists(
    st.tuples(
        st.integers(0, 5 * M),
        st.text("xyz", min_size=1, max_size=2),
        st.sampled_from(["u1", "u2", "u3"]),
        st.sampled_from(["g1", "g2"]),
        st.sampled_from(["join", "leave"]),
    ),
    max_size=25,
    unique_by=lambda e: e[1],  # keys are unique per campaign
)


@hsettings(max_examples=80, deadline=None)
@given(member_events, st.integers(0, 7))
def test_members_as_of_any_minute_are_the_latest_action_per_pair(
    raw: list[tuple[int, str, str, str, str]], minute: int
) -> None:
    events = [(T0 + ts, *rest) for ts, *rest in raw]
    as_of = T0 + minute * M
    latest: dict[tuple[str, str], tuple[int, str, str]] = {}
    for ts, key, who, group, action in events:
        if ts < as_of and ((who, group) not in latest or (ts, key) > latest[(who, group)][:2]):
            latest[(who, group)] = (ts, key, action)
    expected = len({who for (who, _g), v in latest.items() if v[2] == "join"})
    assert members_series(events).before(as_of) == expected
    assert members_series(list(reversed(events))) == members_series(events)


# --- standings ----------------------------------------------------------------------


def nonzero(standings: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in standings.items() if v}


def test_stepped_checkpoints_hold_everything_before_their_bound() -> None:
    per_minute = {
        T0: {"a": 1},
        T0 + 20 * M: {"a": 2, "b": 5},
        T0 + 21 * M: {"c": 7},
    }
    s = Stepped.of(per_minute)
    assert s.minutes == [T0, T0 + 20 * M, T0 + 21 * M]
    assert s.bounds[0] == T0 + 15 * M and s.bounds[-1] > T0 + 10**9  # the last: the day
    assert s.totals == [{"a": 1}, {"a": 3, "b": 5, "c": 7}]
    base, later = s.around(T0 + 20 * M, T0 + 20 * M)
    assert base == {"a": 3, "b": 5, "c": 7}
    assert later == {T0 + 20 * M: {"a": 2, "b": 5}, T0 + 21 * M: {"c": 7}}
    # `since` earlier than as_of: its minutes come along, up to the checkpoint
    assert list(s.around(T0 + 5 * M, T0)[1]) == [T0]
    # entities that only appear later may be listed at zero
    assert nonzero(s.before(T0 + 21 * M)) == {"a": 3, "b": 5}
    assert nonzero(s.before(T0 + 20 * M)) == {"a": 1}
    assert nonzero(s.before(T0)) == {}
    assert s.before(T0 + 10**9) == {"a": 3, "b": 5, "c": 7}


def test_stepped_of_nothing() -> None:
    s = Stepped.of({})
    assert s.before(T0) == {} and s.around(T0, T0) == ({}, {})


@hsettings(max_examples=80, deadline=None)
@given(
    st.dictionaries(
        st.integers(0, 90),
        st.dictionaries(st.sampled_from("abcd"), st.integers(1, 1_000), min_size=1),
        max_size=25,
    ),
    st.integers(-1, 95),
    st.integers(0, M - 1),
)
def test_stepped_before_equals_summing_the_minutes_below(
    deltas: dict[int, dict[str, int]], minute: int, jitter: int
) -> None:
    per_minute = {T0 + k * M: v for k, v in deltas.items()}
    as_of = T0 + minute * M + jitter
    expected: defaultdict[str, int] = defaultdict(int)
    for m, per in per_minute.items():
        if m < as_of:
            for k, v in per.items():
                expected[k] += v
    got = Stepped.of(per_minute).before(as_of)
    assert nonzero(got) == dict(expected)
    assert all(v >= 0 for v in got.values())
