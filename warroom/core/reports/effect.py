"""The effect of a stimulus fire, against a counterfactual, with a 90% interval
(docs/stimulus.md).

Input: per-group per-minute GMV in fen, `pre_minutes` before the fire followed by
`post_minutes` after it (the effect window), the fire's `Assignment`, the action's cost
in fen, and a seed for the resampling.

- `holdout` (both arms have at least two groups): per group, the change in mean GMV per
  minute, d = mean(post) − mean(pre); the difference in differences is
  DiD = mean of d over treated groups − mean of d over held-out groups, and the
  incremental GMV of the treated groups over the window is DiD × treated groups × post
  minutes. The 90% interval is Welch's: the two arms' sample variances of d give the
  standard error, the Welch–Satterthwaite degrees of freedom the Student t quantile
  (a cluster-robust interval with the group as the cluster). A percentile bootstrap over
  groups is here too (`interval="bootstrap"`); it is too narrow with a few held-out
  groups (docs/stimulus.md has the figures), so Welch is the default. `adjust=True` adds
  a regression adjustment on each group's pre-fire level (narrower, but its false-positive
  rate sits at the 10% edge in the validation, so it is not the default).
- `trend` (no usable holdout): the counterfactual is a least-squares line through the
  pre-window's per-minute totals of the treated groups, extrapolated over the window;
  incremental = actual − counterfactual, the interval a t prediction interval for the
  window's sum from the fit's residual spread. Weaker evidence: a day's own shape (a
  slump that recovers by itself) is not a line, and the residuals are not independent.

Money at the boundary is integer fen, rounded half to even (Python's `round`); the point
estimate of the holdout method is computed exactly (fractions), so constructed data
with a whole-fen lift gives exactly that lift. ROI = incremental / cost, its interval
the interval's ends over the cost; no ROI for a cost of 0.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from warroom.core.ingest.money import format_wan
from warroom.core.reports.holdout import Assignment
from warroom.core.reports.student_t import t_quantile

Method = Literal["holdout", "trend"]
Interval = Literal["welch", "bootstrap"]

LEVEL = 0.90
DRAWS = 1000  # bootstrap resamples
MIN_ARM = 2  # groups each arm needs for the holdout method
MIN_PRE_MINUTES = 3  # a line and a residual spread need three points


@dataclass(frozen=True, slots=True)
class Effect:
    method: Method
    treated_groups: int
    holdout_groups: int
    incremental_gmv_fen: int
    ci90_fen: tuple[int, int]
    roi: float | None
    roi_ci90: tuple[float, float] | None

    def as_dict(self) -> dict[str, Any]:
        """The contract's `effect` entry (plus `roi_ci90`)."""
        return {
            "method": self.method,
            "treated_groups": self.treated_groups,
            "holdout_groups": self.holdout_groups,
            "incremental_gmv_fen": self.incremental_gmv_fen,
            "ci90_fen": [self.ci90_fen[0], self.ci90_fen[1]],
            "roi": self.roi,
            "roi_ci90": None if self.roi_ci90 is None else list(self.roi_ci90),
        }


def estimate(
    series: Mapping[str, Sequence[int]],
    pre_minutes: int,
    post_minutes: int,
    assignment: Assignment,
    cost_fen: int,
    *,
    seed: int,
    interval: Interval = "welch",
    adjust: bool = False,
    draws: int = DRAWS,
) -> Effect | None:
    """The holdout effect when both arms have at least two groups, else the trend
    effect over the treated groups' totals; None when neither can be estimated (fewer
    than three pre-fire minutes without a holdout, or no post minutes)."""
    if len(assignment.treated) >= MIN_ARM and len(assignment.holdout) >= MIN_ARM:
        return holdout_effect(
            series,
            pre_minutes,
            post_minutes,
            assignment,
            cost_fen,
            seed=seed,
            interval=interval,
            adjust=adjust,
            draws=draws,
        )
    if pre_minutes < MIN_PRE_MINUTES or post_minutes < 1:
        return None
    totals = campaign_totals(series, assignment.treated, pre_minutes + post_minutes)
    return trend_effect(
        totals,
        pre_minutes,
        post_minutes,
        cost_fen,
        treated_groups=len(assignment.treated),
        holdout_groups=len(assignment.holdout),
    )


def campaign_totals(
    series: Mapping[str, Sequence[int]], groups: Sequence[str], minutes: int
) -> list[int]:
    """Per-minute sums over `groups` (a group without a series sold nothing)."""
    totals = [0] * minutes
    for g in groups:
        row = _row(series, g, minutes)
        for i, v in enumerate(row):
            totals[i] += v
    return totals


def holdout_effect(
    series: Mapping[str, Sequence[int]],
    pre_minutes: int,
    post_minutes: int,
    assignment: Assignment,
    cost_fen: int,
    *,
    seed: int,
    interval: Interval = "welch",
    adjust: bool = False,
    draws: int = DRAWS,
) -> Effect:
    """Difference in differences of GMV per group per minute, treated against held out.

    `series[g]` has `pre_minutes + post_minutes` values (fen per minute), the fire
    between them; a group of the assignment absent from `series` sold nothing; groups
    outside the assignment are ignored. With `adjust`, each arm's mean change is taken
    at the common mean pre-fire level (a least-squares line of the change on the group's
    pre-fire level within the arm, Lin's regression adjustment), which removes the part
    of the change that the day's shape explains by group size."""
    if pre_minutes < 1 or post_minutes < 1:
        raise ValueError("the holdout method needs at least one minute before and after")
    n_t, n_h = len(assignment.treated), len(assignment.holdout)
    if n_t < MIN_ARM or n_h < MIN_ARM:
        raise ValueError(f"the holdout method needs at least {MIN_ARM} groups in each arm")
    minutes = pre_minutes + post_minutes
    rows_t = [_row(series, g, minutes) for g in assignment.treated]
    rows_h = [_row(series, g, minutes) for g in assignment.holdout]
    d_t = [_change(r, pre_minutes) for r in rows_t]
    d_h = [_change(r, pre_minutes) for r in rows_h]
    x_t = [Fraction(sum(r[:pre_minutes]), pre_minutes) for r in rows_t]
    x_h = [Fraction(sum(r[:pre_minutes]), pre_minutes) for r in rows_h]
    x_bar = (sum(x_t, Fraction(0)) + sum(x_h, Fraction(0))) / (n_t + n_h)
    centre = x_bar if adjust else None
    did = _exact_level(d_t, x_t, centre) - _exact_level(d_h, x_h, centre)
    scale = n_t * post_minutes  # DiD per group-minute → fen over the treated groups' window
    point = round(did * scale)
    arm_t = _Arm([float(v) for v in d_t], [float(v) for v in x_t])
    arm_h = _Arm([float(v) for v in d_h], [float(v) for v in x_h])
    fx_bar = float(x_bar) if adjust else None
    if interval == "bootstrap":
        lo, hi = _bootstrap(arm_t, arm_h, fx_bar, seed=seed, draws=draws)
    elif interval == "welch":
        lo, hi = _welch(arm_t, arm_h, fx_bar, float(did))
    else:
        raise ValueError(f"unknown interval {interval!r}")
    ci = (min(round(lo * scale), point), max(round(hi * scale), point))
    return _effect("holdout", n_t, n_h, point, ci, cost_fen)


def trend_effect(
    totals: Sequence[int],
    pre_minutes: int,
    post_minutes: int,
    cost_fen: int,
    *,
    treated_groups: int,
    holdout_groups: int = 0,
) -> Effect:
    """Actual minus a least-squares line through the pre-window totals, extrapolated
    over the window; a t prediction interval for the window's sum (df = pre − 2)."""
    p, q = pre_minutes, post_minutes
    if p < MIN_PRE_MINUTES or q < 1:
        raise ValueError(f"the trend method needs {MIN_PRE_MINUTES} minutes before, 1 after")
    if len(totals) != p + q:
        raise ValueError(f"expected {p + q} minutes of totals, got {len(totals)}")
    pre = [float(v) for v in totals[:p]]
    x_bar = (p - 1) / 2
    y_bar = sum(pre) / p
    sxx = sum((x - x_bar) ** 2 for x in range(p))
    slope = sum((x - x_bar) * (y - y_bar) for x, y in zip(range(p), pre, strict=True)) / sxx
    residual_ss = sum((y - (y_bar + slope * (x - x_bar))) ** 2 for x, y in enumerate(pre))
    sigma2 = residual_ss / (p - 2)
    xf_bar = p + (q - 1) / 2  # mean position of the window's minutes
    counterfactual = q * (y_bar + slope * (xf_bar - x_bar))
    actual = sum(totals[p:])
    point = round(actual - counterfactual)
    # Var(sum of q new minutes − its prediction) = σ²(q + q²/p + q²(x̄f − x̄)²/Sxx).
    spread = math.sqrt(sigma2 * (q + q * q / p + q * q * (xf_bar - x_bar) ** 2 / sxx))
    half = t_quantile(0.5 + LEVEL / 2, p - 2) * spread
    ci = (
        min(round(actual - counterfactual - half), point),
        max(round(actual - counterfactual + half), point),
    )
    return _effect("trend", treated_groups, holdout_groups, point, ci, cost_fen)


def effect_line(effect: Effect) -> str:
    """One line for the review page and the final report; never a point alone:
    "增量 ¥1.8万（90% 区间 ¥0.9万–¥2.7万），ROI 9.0×" (trend: plus "（趋势估计，证据较弱）")."""
    lo, hi = effect.ci90_fen
    text = f"增量 {_money(effect.incremental_gmv_fen)}（90% 区间 {_money(lo)}–{_money(hi)}）"
    if effect.roi is not None:
        text += f"，ROI {effect.roi:.1f}×"
        if effect.roi_ci90 is not None:
            text += f"（{effect.roi_ci90[0]:.1f}×–{effect.roi_ci90[1]:.1f}×）"
    if effect.method == "trend":
        text += "（趋势估计，证据较弱）"
    return text


def _money(fen: int) -> str:
    """An estimate has no cents: whole yuan below 1万 ("¥3,811"), one decimal of 万 above."""
    return format_wan(round(fen, -2), decimals=1)


def _effect(
    method: Method, n_t: int, n_h: int, point: int, ci: tuple[int, int], cost_fen: int
) -> Effect:
    roi: float | None = None
    roi_ci: tuple[float, float] | None = None
    if cost_fen > 0:
        roi = point / cost_fen
        roi_ci = (ci[0] / cost_fen, ci[1] / cost_fen)
    return Effect(method, n_t, n_h, point, ci, roi, roi_ci)


def _row(series: Mapping[str, Sequence[int]], group: str, minutes: int) -> Sequence[int]:
    row = series.get(group)
    if row is None:
        return [0] * minutes
    if len(row) != minutes:
        raise ValueError(f"group {group!r}: expected {minutes} minutes, got {len(row)}")
    return row


def _change(row: Sequence[int], pre_minutes: int) -> Fraction:
    """Mean GMV per minute after the fire minus before it, exactly."""
    post_minutes = len(row) - pre_minutes
    return Fraction(sum(row[pre_minutes:]), post_minutes) - Fraction(
        sum(row[:pre_minutes]), pre_minutes
    )


MIN_FIT = 4  # groups an arm needs for its line (two residual degrees of freedom)


@dataclass(frozen=True, slots=True)
class _Arm:
    """One arm's per-group changes d and pre-fire levels x (fen per minute)."""

    d: list[float]
    x: list[float]

    def fit(self, x_bar: float | None) -> tuple[float, float, float]:
        """(level, variance of the level, degrees of freedom): the arm's mean change,
        or with x_bar its line's value at x_bar."""
        n = len(self.d)
        d_mean = sum(self.d) / n
        if x_bar is None or n < MIN_FIT:
            return d_mean, statistics.variance(self.d) / n, n - 1
        x_mean = sum(self.x) / n
        sxx = sum((v - x_mean) ** 2 for v in self.x)
        if sxx <= 0.0:
            return d_mean, statistics.variance(self.d) / n, n - 1
        slope = sum((v - x_mean) * (w - d_mean) for v, w in zip(self.x, self.d, strict=True)) / sxx
        level = d_mean + slope * (x_bar - x_mean)
        # The level is Σ w_i d_i; its variance from each group's own residual, inflated
        # by its leverage (HC3): big groups have both the big residuals and the leverage.
        var = 0.0
        for v, w in zip(self.x, self.d, strict=True):
            weight = 1 / n + (x_bar - x_mean) * (v - x_mean) / sxx
            leverage = 1 / n + (v - x_mean) ** 2 / sxx
            residual = w - d_mean - slope * (v - x_mean)
            var += (weight * residual) ** 2 / max(1.0 - leverage, 1e-9) ** 2  # HC3
        return level, var, n - 2

    def level(self, x_bar: float | None) -> float:
        return self.fit(x_bar)[0]


def _exact_level(d: Sequence[Fraction], x: Sequence[Fraction], x_bar: Fraction | None) -> Fraction:
    """`_Arm.fit`'s level, exactly."""
    n = len(d)
    d_mean = sum(d, Fraction(0)) / n
    if x_bar is None or n < MIN_FIT:
        return d_mean
    x_mean = sum(x, Fraction(0)) / n
    sxx = sum(((v - x_mean) ** 2 for v in x), Fraction(0))
    if sxx == 0:
        return d_mean
    sxd = sum(((v - x_mean) * (w - d_mean) for v, w in zip(x, d, strict=True)), Fraction(0))
    return d_mean + sxd / sxx * (x_bar - x_mean)


def _welch(arm_t: _Arm, arm_h: _Arm, x_bar: float | None, did: float) -> tuple[float, float]:
    """Welch's interval: the arms' variances added, Welch–Satterthwaite df, t quantile."""
    _, v_t, df_t = arm_t.fit(x_bar)
    _, v_h, df_h = arm_h.fit(x_bar)
    se2 = v_t + v_h
    if se2 <= 0.0:
        return did, did
    df = se2 * se2 / ((v_t * v_t / df_t if v_t else 0.0) + (v_h * v_h / df_h if v_h else 0.0))
    half = t_quantile(0.5 + LEVEL / 2, df) * math.sqrt(se2)
    return did - half, did + half


def _bootstrap(
    arm_t: _Arm, arm_h: _Arm, x_bar: float | None, *, seed: int, draws: int
) -> tuple[float, float]:
    """Percentile interval of the DiD, resampling each arm's groups with replacement."""
    rng = random.Random(seed)
    if x_bar is None:  # the plain DiD: means of resampled changes
        n_t, n_h = len(arm_t.d), len(arm_h.d)
        stats = sorted(
            sum(rng.choices(arm_t.d, k=n_t)) / n_t - sum(rng.choices(arm_h.d, k=n_h)) / n_h
            for _ in range(draws)
        )
    else:
        stats = sorted(
            _resample(rng, arm_t).level(x_bar) - _resample(rng, arm_h).level(x_bar)
            for _ in range(draws)
        )
    tail = (1 - LEVEL) / 2
    return _percentile(stats, tail), _percentile(stats, 1 - tail)


def _resample(rng: random.Random, arm: _Arm) -> _Arm:
    picks = rng.choices(range(len(arm.d)), k=len(arm.d))
    return _Arm([arm.d[i] for i in picks], [arm.x[i] for i in picks])


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (type 7)."""
    pos = q * (len(ordered) - 1)
    i = math.floor(pos)
    j = min(i + 1, len(ordered) - 1)
    return ordered[i] + (ordered[j] - ordered[i]) * (pos - i)
