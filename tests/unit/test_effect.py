"""The effect of a fire: difference in differences against held-out groups, the trend
fallback, ROI, and the line the review page shows."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.core.reports.effect import (
    Effect,
    campaign_totals,
    effect_line,
    estimate,
    holdout_effect,
    trend_effect,
)
from warroom.core.reports.holdout import Assignment, assign
from warroom.core.reports.student_t import t_quantile

PRE, POST = 20, 10


def arms(n: int, held: int) -> Assignment:
    ids = [f"g{i:03d}" for i in range(n)]
    return Assignment(0, held / n, tuple(ids[held:]), tuple(ids[:held]))


def noisy_day(
    rng: random.Random, a: Assignment, lift: float, change: float = -0.3
) -> tuple[dict[str, list[int]], int]:
    """Groups of lognormal size, a common multiplicative change after the fire, per-group
    drift and per-minute noise; treated groups gain `lift` × their size per minute.
    Returns the series and the true incremental GMV (fen)."""
    series: dict[str, list[int]] = {}
    truth = 0.0
    treated = set(a.treated)
    for g in a.treated + a.holdout:
        size = 10_000 * rng.lognormvariate(0, 0.8)
        drift = rng.gauss(0, 0.1)
        row = []
        for t in range(PRE + POST):
            level = size * ((1 + change + drift) if t >= PRE else 1)
            if g in treated and t >= PRE:
                level += lift * size
                truth += lift * size
            row.append(max(0, round(level * rng.lognormvariate(0, 0.2))))
        series[g] = row
    return series, round(truth)


# -- holdout: exact in the noiseless case -------------------------------------------------


@given(
    st.lists(st.integers(min_value=0, max_value=100_000), min_size=4, max_size=30),
    st.integers(min_value=-5_000, max_value=5_000),
    st.integers(min_value=-2_000, max_value=20_000),
    st.integers(min_value=2, max_value=10),
    st.sampled_from(["welch", "bootstrap"]),
    st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_noiseless_estimate_is_the_lift_and_the_interval_collapses(
    levels: list[int], change: int, lift: int, held: int, interval: str, adjust: bool
) -> None:
    held = min(held, len(levels) // 2)
    a = arms(len(levels), held)
    treated = set(a.treated)
    series = {
        g: [v] * PRE + [v + change + (lift if g in treated else 0)] * POST
        for g, v in zip(a.holdout + a.treated, levels, strict=True)
    }
    e = holdout_effect(series, PRE, POST, a, 0, seed=1, interval=interval, adjust=adjust, draws=50)  # type: ignore[arg-type]
    truth = lift * len(a.treated) * POST
    assert e.incremental_gmv_fen == truth
    assert e.ci90_fen == (truth, truth)
    assert (e.method, e.treated_groups, e.holdout_groups) == ("holdout", len(a.treated), held)
    assert e.roi is None and e.roi_ci90 is None


def test_a_constructed_lift_with_different_group_sizes() -> None:
    a = arms(6, 2)
    # held out: flat; treated: +300 fen per minute after the fire, whatever their size
    series = {
        "g000": [1_000] * PRE + [1_000] * POST,
        "g001": [5_000] * PRE + [5_000] * POST,
        "g002": [2_000] * PRE + [2_300] * POST,
        "g003": [9_000] * PRE + [9_300] * POST,
        "g004": [100] * PRE + [400] * POST,
        "g005": [0] * PRE + [300] * POST,
    }
    e = holdout_effect(series, PRE, POST, a, 24_000, seed=1)
    assert e.incremental_gmv_fen == 300 * 4 * POST == 12_000
    assert e.ci90_fen == (12_000, 12_000)
    assert e.roi == 0.5 and e.roi_ci90 == (0.5, 0.5)


def test_a_group_without_a_series_sold_nothing_and_strangers_are_ignored() -> None:
    a = arms(4, 2)
    series = {
        "g001": [0] * PRE + [0] * POST,
        "g002": [100] * PRE + [200] * POST,
        "g003": [100] * PRE + [200] * POST,
        "joined-later": [0] * PRE + [10**6] * POST,
    }  # g000 (held out) has no series
    e = holdout_effect(series, PRE, POST, a, 0, seed=1)
    assert e.incremental_gmv_fen == 100 * 2 * POST


# -- holdout: noisy ----------------------------------------------------------------------


def test_covers_the_truth_in_a_seeded_noisy_case() -> None:
    rng = random.Random(2024)
    a = assign({f"g{i:03d}": i for i in range(60)}, 0.2, 7)
    series, truth = noisy_day(rng, a, lift=0.3)
    e = holdout_effect(series, PRE, POST, a, 50_000, seed=7)
    lo, hi = e.ci90_fen
    assert lo <= truth <= hi
    assert lo > 0  # a 30% lift over 60 groups is seen
    assert lo <= e.incremental_gmv_fen <= hi
    assert e.roi is not None and e.roi_ci90 == (lo / 50_000, hi / 50_000)


@pytest.mark.parametrize("interval", ["welch", "bootstrap"])
def test_coverage_over_seeded_days(interval: str) -> None:
    covered = 0
    for seed in range(60):
        rng = random.Random(seed)
        a = assign({f"g{i:03d}": rng.randint(0, 10**6) for i in range(40)}, 0.25, seed)
        series, truth = noisy_day(rng, a, lift=0.05)
        e = holdout_effect(series, PRE, POST, a, 0, seed=seed, interval=interval, draws=200)  # type: ignore[arg-type]
        covered += e.ci90_fen[0] <= truth <= e.ci90_fen[1]
    assert covered >= 48  # 80% of 60; a 90% interval should cover ~54


def test_no_effect_gives_an_interval_containing_zero() -> None:
    rng = random.Random(99)
    a = assign({f"g{i:03d}": i for i in range(60)}, 0.2, 3)
    series, truth = noisy_day(rng, a, lift=0.0)
    assert truth == 0
    lo, hi = holdout_effect(series, PRE, POST, a, 10_000, seed=3).ci90_fen
    assert lo < 0 < hi


def test_the_common_slump_and_recovery_is_not_credited() -> None:
    """The day's shape changes every group alike: a before/after ratio says ×2, the
    difference in differences finds nothing."""
    sizes = {f"g{i:03d}": 1_000 + 37 * i for i in range(30)}
    a = assign(sizes, 0.3, 4)
    series = {g: [v] * PRE + [2 * v] * POST for g, v in sizes.items()}
    e = holdout_effect(series, PRE, POST, a, 0, seed=1)
    lo, hi = e.ci90_fen
    assert lo <= 0 <= hi
    total_post = sum(2 * v for v in sizes.values()) * POST
    assert abs(e.incremental_gmv_fen) < total_post / 100


def test_bootstrap_is_reproducible_from_the_seed() -> None:
    rng = random.Random(5)
    a = assign({f"g{i:03d}": i for i in range(30)}, 0.2, 1)
    series, _ = noisy_day(rng, a, lift=0.05)
    one = holdout_effect(series, PRE, POST, a, 0, seed=11, interval="bootstrap", draws=200)
    two = holdout_effect(series, PRE, POST, a, 0, seed=11, interval="bootstrap", draws=200)
    assert one == two


def test_holdout_refuses_what_it_cannot_estimate() -> None:
    with pytest.raises(ValueError, match="each arm"):
        holdout_effect({}, PRE, POST, arms(5, 1), 0, seed=1)
    with pytest.raises(ValueError, match="expected 30 minutes"):
        holdout_effect({"g000": [1, 2]}, PRE, POST, arms(4, 2), 0, seed=1)
    with pytest.raises(ValueError, match="unknown interval"):
        holdout_effect({}, PRE, POST, arms(4, 2), 0, seed=1, interval="jackknife")  # type: ignore[arg-type]


# -- trend -------------------------------------------------------------------------------


@given(
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=-1_000, max_value=1_000),
    st.integers(min_value=-(10**5), max_value=10**5),
    st.integers(min_value=3, max_value=40),
    st.integers(min_value=1, max_value=20),
)
@settings(max_examples=100)
def test_trend_on_a_line_with_a_known_step(
    intercept: int, slope: int, step: int, pre: int, post: int
) -> None:
    totals = [intercept + slope * t + (step if t >= pre else 0) for t in range(pre + post)]
    e = trend_effect(totals, pre, post, 0, treated_groups=12)
    assert e.incremental_gmv_fen == step * post
    assert e.ci90_fen == (step * post, step * post)
    assert (e.method, e.treated_groups, e.holdout_groups) == ("trend", 12, 0)


def test_trend_interval_from_the_residual_spread() -> None:
    rng = random.Random(8)
    totals = [round(100_000 + 500 * t + rng.gauss(0, 5_000)) for t in range(PRE)]
    totals += [
        round(100_000 + 500 * t + 20_000 + rng.gauss(0, 5_000)) for t in range(PRE, PRE + POST)
    ]
    e = trend_effect(totals, PRE, POST, 100_000, treated_groups=40)
    lo, hi = e.ci90_fen
    assert lo <= 20_000 * POST <= hi
    assert lo > 0
    # wider when the pre window is noisier
    noisier = [v + (30_000 if t % 2 else -30_000) for t, v in enumerate(totals)]
    lo2, hi2 = trend_effect(noisier, PRE, POST, 100_000, treated_groups=40).ci90_fen
    assert hi2 - lo2 > 2 * (hi - lo)


def test_estimate_falls_back_to_trend_over_the_treated_groups() -> None:
    series = {
        "a": [100 + t for t in range(PRE)] + [100 + t + 50 for t in range(PRE, PRE + POST)],
        "b": [200] * PRE + [200] * POST,
        "held": [10**6] * (PRE + POST),  # the one held-out group is left out of the totals
    }
    a = Assignment(1, 0.34, ("a", "b"), ("held",))
    e = estimate(series, PRE, POST, a, 1_000, seed=1)
    assert e is not None
    assert (e.method, e.treated_groups, e.holdout_groups) == ("trend", 2, 1)
    assert e.incremental_gmv_fen == 50 * POST
    assert estimate(series, 2, PRE + POST - 2, a, 0, seed=1) is None
    assert campaign_totals(series, ["a", "b", "none"], PRE + POST)[0] == 300


def test_estimate_uses_the_holdout_when_both_arms_have_two_groups() -> None:
    a = arms(4, 2)
    series = {
        g: [10] * PRE + [10 + (5 if g in a.treated else 0)] * POST for g in a.treated + a.holdout
    }
    e = estimate(series, PRE, POST, a, 0, seed=1)
    assert e is not None and e.method == "holdout"
    assert e.incremental_gmv_fen == 5 * 2 * POST


# -- ROI, the contract's shape, the line -------------------------------------------------


def test_roi_and_its_interval_and_the_contract_entry() -> None:
    totals = [1_000] * PRE + [1_500] * POST
    e = trend_effect(totals, PRE, POST, 2_500, treated_groups=3)
    assert e.incremental_gmv_fen == 5_000
    assert e.roi == 2.0 and e.roi_ci90 == (2.0, 2.0)
    assert e.as_dict() == {
        "method": "trend",
        "treated_groups": 3,
        "holdout_groups": 0,
        "incremental_gmv_fen": 5_000,
        "ci90_fen": [5_000, 5_000],
        "roi": 2.0,
        "roi_ci90": [2.0, 2.0],
    }
    assert trend_effect(totals, PRE, POST, 0, treated_groups=3).as_dict()["roi"] is None


def test_money_fields_are_integers() -> None:
    rng = random.Random(1)
    a = assign({f"g{i:03d}": i for i in range(20)}, 0.25, 1)
    series, _ = noisy_day(rng, a, lift=0.05)
    for interval in ("welch", "bootstrap"):
        e = holdout_effect(series, PRE, POST, a, 1, seed=1, interval=interval, draws=100)
        assert type(e.incremental_gmv_fen) is int
        assert all(type(v) is int for v in e.ci90_fen)
        assert e.ci90_fen[0] <= e.incremental_gmv_fen <= e.ci90_fen[1]


def test_effect_line() -> None:
    e = Effect("holdout", 48, 12, 1_800_000, (900_000, 2_700_000), 9.0, (4.5, 13.5))
    assert effect_line(e) == "增量 ¥1.8万（90% 区间 ¥9,000–¥2.7万），ROI 9.0×（4.5×–13.5×）"
    big = Effect("holdout", 48, 12, 18_300_000, (12_000_000, 24_660_000), None, None)
    assert effect_line(big) == "增量 ¥18.3万（90% 区间 ¥12万–¥24.7万）"
    weak = Effect("trend", 60, 0, -250_000, (-3_100_000, 2_600_000), -0.5, (-6.2, 5.2))
    assert effect_line(weak) == (
        "增量 -¥2,500（90% 区间 -¥3.1万–¥2.6万），ROI -0.5×（-6.2×–5.2×）（趋势估计，证据较弱）"
    )


def test_t_quantiles() -> None:
    assert t_quantile(0.95, 10) == pytest.approx(1.812461, abs=1e-5)
    assert t_quantile(0.95, 1) == pytest.approx(6.313752, abs=1e-5)
    assert t_quantile(0.95, 2.5) == pytest.approx(2.558219, abs=1e-4)
    assert t_quantile(0.95, 10**7) == pytest.approx(1.644854, abs=1e-5)
    assert t_quantile(0.05, 5) == pytest.approx(-2.015048, abs=1e-5)
