"""Holdout assignment: sizes, disjointness, reproducibility, stratification, bounds."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.core.reports.holdout import Assignment, assign, holdout_size, strata

sales = st.dictionaries(
    st.text(alphabet="abcdefgh0123456789", min_size=1, max_size=6),
    st.integers(min_value=0, max_value=10**9),
    max_size=80,
)
shares = st.floats(min_value=0.0, max_value=0.5, allow_nan=False)


def skewed(n: int, seed: int = 5) -> dict[str, int]:
    rng = random.Random(seed)
    return {f"g{i:03d}": round(rng.lognormvariate(12, 1.5)) for i in range(n)}


@given(sales, shares, st.integers(min_value=0, max_value=2**32))
@settings(max_examples=200)
def test_arms_are_disjoint_cover_every_group_and_have_the_rounded_size(
    groups: dict[str, int], share: float, seed: int
) -> None:
    a = assign(groups, share, seed)
    assert set(a.treated).isdisjoint(a.holdout)
    assert set(a.treated) | set(a.holdout) == set(groups)
    assert list(a.treated) == sorted(a.treated) and list(a.holdout) == sorted(a.holdout)
    n = len(groups)
    expected = 0 if n < 2 or share == 0 else min(math.floor(share * n + 0.5), n // 2)
    assert len(a.holdout) == expected == holdout_size(n, share)
    assert len(a.holdout) <= len(a.treated)
    assert (a.seed, a.share) == (seed, share)


@given(sales, shares, st.integers(min_value=0, max_value=2**32))
@settings(max_examples=100)
def test_reproducible_from_the_seed_whatever_the_dict_order(
    groups: dict[str, int], share: float, seed: int
) -> None:
    reordered = dict(reversed(list(groups.items())))
    assert assign(groups, share, seed) == assign(reordered, share, seed)


@pytest.mark.parametrize(
    ("n", "share", "held"),
    [(60, 0.2, 12), (62, 0.2, 12), (10, 0.5, 5), (7, 0.5, 3), (5, 0.1, 1), (4, 0.1, 0),
     (100, 0.05, 5), (3, 0.33, 1), (1000, 0.25, 250)],
)  # fmt: skip
def test_sizes(n: int, share: float, held: int) -> None:
    a = assign(skewed(n), share, 1)
    assert len(a.holdout) == held
    assert len(a.treated) == n - held


def test_share_zero_and_tiny_campaigns_hold_nobody_out() -> None:
    assert assign(skewed(50), 0.0, 1).holdout == ()
    assert assign({"only": 5}, 0.5, 1) == Assignment(1, 0.5, ("only",), ())
    assert assign({}, 0.2, 1) == Assignment(1, 0.2, (), ())


@pytest.mark.parametrize("share", [-0.01, 0.51, 1.0, float("nan"), float("inf")])
def test_share_out_of_bounds_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="holdout share"):
        assign(skewed(10), share, 1)


def test_different_seeds_draw_different_holdouts() -> None:
    groups = skewed(60)
    draws = {assign(groups, 0.2, seed).holdout for seed in range(20)}
    assert len(draws) == 20


def test_strata_are_consecutive_ranks_and_each_holds_out_its_share() -> None:
    groups = skewed(60)
    ranked = sorted(groups, key=lambda g: (-groups[g], g))
    blocks = strata(ranked, 0.2)
    assert [len(b) for b in blocks] == [5] * 12
    assert [g for b in blocks for g in b] == ranked
    held = set(assign(groups, 0.2, 3).holdout)
    assert [sum(g in held for g in b) for b in blocks] == [1] * 12
    # a short last block joins the one before it
    assert [len(b) for b in strata(ranked[:13], 0.2)] == [5, 8]


def test_both_arms_have_alike_sales_on_a_skewed_population() -> None:
    groups = skewed(200, seed=11)

    def gap(a: Assignment) -> float:
        mean_t = sum(groups[g] for g in a.treated) / len(a.treated)
        mean_h = sum(groups[g] for g in a.holdout) / len(a.holdout)
        return abs(mean_h / mean_t - 1)

    stratified = [gap(assign(groups, 0.2, seed)) for seed in range(50)]
    # a plain random draw of the same size, for contrast
    plain = []
    for seed in range(50):
        held = tuple(sorted(random.Random(seed).sample(sorted(groups), 40)))
        plain.append(gap(Assignment(seed, 0.2, tuple(sorted(set(groups) - set(held))), held)))
    assert max(stratified) < 0.15
    assert sum(stratified) / 50 < sum(plain) / 50 / 2


def test_ties_are_broken_by_id() -> None:
    flat = {f"g{i}": 100 for i in range(10)}
    a = assign(flat, 0.2, 9)
    assert a == assign(dict(sorted(flat.items(), reverse=True)), 0.2, 9)
    assert len(a.holdout) == 2


def test_recorded_form_round_trips() -> None:
    a = assign(skewed(30), 0.2, 42)
    d = a.as_dict()
    assert set(d) == {"treated", "holdout", "seed", "share"}
    assert Assignment.from_dict(d) == a
