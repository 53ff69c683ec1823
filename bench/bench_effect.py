"""Validation of the stimulus effect estimator on simulated days where the truth is known
(docs/stimulus.md). Not a test: it prints figures.

    .venv/bin/python bench/bench_effect.py [--days 200] [--groups 60] [--share 0.2] [--seed 1]

A simulated day, per group and per minute, over a 30-minute pre window and a 15-minute
effect window (the fire between them):
- groups of lognormal size (orders per minute 1.2 × LogNormal(0, 1)), each with its own
  mean ticket (40–120 yuan; an order's ticket ±50% around it);
- the day's shape: level 1, then a slump starting 5–12 minutes before the fire down to
  0.35–0.65, which after the fire recovers by itself part of the way (30–70%, time
  constant 3–8 minutes): the shape that a before/after ratio mistakes for an effect;
- noise: a day-wide factor per minute (σ 5%), a per-group factor on the whole window
  after the fire (σ 15%: groups drift apart), a per-group-minute factor (σ 20%), and
  Poisson orders;
- the lift: treated groups' rate × (1 + lift × e^(−t/12)) for t minutes after the fire
  (lift 0.2 by default, 0 on the no-lift days). The truth is the expected incremental GMV
  of the treated groups given the day's rates (Σ rate × lift share × mean ticket).

Each day is drawn with a holdout (`--share` of the groups, stratified by their pre-window
sales) and, from the same rates, with no holdout (every group treated, the trend method).
For each method: bias (mean estimate − truth, and relative to the mean truth), coverage
of the 90% interval, its mean width, and the share of intervals excluding 0 (power with
the lift, false positives without). Holdout variants: `welch` (the default of
`effect.holdout_effect`), `bootstrap` (percentile, B=--draws), `welch/adjusted`
(regression adjustment on the pre-fire level, HC3 variance). `--fast` skips the
bootstrap.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from warroom.core.reports.effect import (  # noqa: E402
    Effect,
    campaign_totals,
    holdout_effect,
    trend_effect,
)
from warroom.core.reports.holdout import Assignment, assign  # noqa: E402

PRE, POST = 30, 15
COST_FEN = 500_000  # ¥5,000 a fire
# (interval, regression adjustment): the default first
VARIANTS: tuple[tuple[Literal["welch", "bootstrap"], bool], ...] = (
    ("welch", False),
    ("bootstrap", False),
    ("welch", True),
)


@dataclass
class Day:
    rates: dict[str, list[float]]  # expected orders per minute without lift
    tickets: dict[str, int]  # mean ticket, fen
    lift: list[float]  # multiplicative lift per post minute (index 0 = first minute after)


def simulate_rates(rng: random.Random, groups: int, lift: float) -> Day:
    lead = rng.uniform(5, 12)
    floor = rng.uniform(0.35, 0.65)
    recover = rng.uniform(0.3, 0.7)
    tau = rng.uniform(3, 8)
    shape = []
    for t in range(PRE + POST):
        x = t - PRE  # minutes since the fire
        dip = (1 - floor) / (1 + math.exp(-(x + lead) / 1.5))
        if x >= 0:
            dip *= 1 - recover * (1 - math.exp(-(x + 1) / tau))
        shape.append((1 - dip) * rng.lognormvariate(0, 0.05))
    rates: dict[str, list[float]] = {}
    tickets: dict[str, int] = {}
    for i in range(groups):
        g = f"g{i:04d}"
        size = 1.2 * rng.lognormvariate(0, 1.0)
        drift = rng.lognormvariate(0, 0.15)
        rates[g] = [
            size * s * (drift if t >= PRE else 1.0) * rng.lognormvariate(0, 0.2)
            for t, s in enumerate(shape)
        ]
        tickets[g] = rng.randint(4_000, 12_000)
    return Day(rates, tickets, [lift * math.exp(-x / 12) for x in range(POST)])


def poisson(rng: random.Random, lam: float) -> int:
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def realise(
    rng: random.Random, day: Day, treated: frozenset[str]
) -> tuple[dict[str, list[int]], int]:
    """Per-group per-minute GMV (fen) and the truth (expected incremental fen)."""
    series: dict[str, list[int]] = {}
    truth = 0.0
    for g, rates in day.rates.items():
        ticket = day.tickets[g]
        row = []
        for t, r in enumerate(rates):
            if g in treated and t >= PRE:
                extra = r * day.lift[t - PRE]
                truth += extra * ticket
                r += extra
            n = poisson(rng, r)
            row.append(sum(round(ticket * rng.uniform(0.5, 1.5)) for _ in range(n)))
        series[g] = row
    return series, round(truth)


@dataclass
class Tally:
    truths: list[int] = field(default_factory=list)
    estimates: list[int] = field(default_factory=list)
    covered: int = 0
    excludes_zero: int = 0
    widths: list[int] = field(default_factory=list)

    def add(self, effect: Effect, truth: int) -> None:
        lo, hi = effect.ci90_fen
        self.truths.append(truth)
        self.estimates.append(effect.incremental_gmv_fen)
        self.covered += lo <= truth <= hi
        self.excludes_zero += lo > 0 or hi < 0
        self.widths.append(hi - lo)


def run(
    days: int,
    groups: int,
    share: float,
    seed: int,
    draws: int,
    fast: bool = False,
    lift: float = 0.2,
) -> dict[tuple[str, str], Tally]:
    master = random.Random(seed)
    tallies: dict[tuple[str, str], Tally] = {}
    for scenario, size in (("lift", lift), ("none", 0.0)):
        for _ in range(days):
            day_seed = master.getrandbits(32)
            rng = random.Random(day_seed)
            day = simulate_rates(rng, groups, size)
            # The assignment is drawn from sales before the fire (the same rates, no lift).
            recent = {g: round(sum(r[:PRE]) * day.tickets[g]) for g, r in day.rates.items()}
            a = assign(recent, share, day_seed)
            series, truth = realise(rng, day, frozenset(a.treated))
            for interval, adjust in VARIANTS:
                if fast and interval == "bootstrap":
                    continue
                e = holdout_effect(
                    series,
                    PRE,
                    POST,
                    a,
                    COST_FEN,
                    seed=day_seed,
                    interval=interval,
                    adjust=adjust,
                    draws=draws,
                )
                name = f"holdout/{interval}" + ("/adjusted" if adjust else "")
                tallies.setdefault((scenario, name), Tally()).add(e, truth)
            everyone = Assignment(day_seed, 0.0, tuple(sorted(day.rates)), ())
            series0, truth0 = realise(rng, day, frozenset(everyone.treated))
            totals = campaign_totals(series0, everyone.treated, PRE + POST)
            e = trend_effect(totals, PRE, POST, COST_FEN, treated_groups=len(everyone.treated))
            tallies.setdefault((scenario, "trend"), Tally()).add(e, truth0)
    return tallies


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--days", type=int, default=200, help="days per scenario (lift, none)")
    ap.add_argument("--groups", type=int, default=60)
    ap.add_argument("--share", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lift", type=float, default=0.2, help="treated groups' lift at the fire")
    ap.add_argument("--fast", action="store_true", help="Welch intervals only (no bootstrap)")
    ap.add_argument("--draws", type=int, default=1000, help="bootstrap resamples")
    args = ap.parse_args()
    started = time.perf_counter()
    tallies = run(args.days, args.groups, args.share, args.seed, args.draws, args.fast, args.lift)
    elapsed = time.perf_counter() - started
    print(
        f"{args.days} days with lift and {args.days} without; {args.groups} groups, "
        f"holdout share {args.share}, lift {args.lift}, {PRE} min before / {POST} min after, seed {args.seed}, "
        f"bootstrap B={args.draws}; {elapsed:.1f}s"
    )
    head = (
        f"{'scenario':8} {'method':22} {'mean truth':>12} {'mean est.':>12} {'bias':>10} "
        f"{'bias %':>7} {'coverage':>9} {'width':>11} {'excl. 0':>8}"
    )
    print(head)
    print("-" * len(head))
    for (scenario, method), t in tallies.items():
        n = len(t.truths)
        mean_truth = sum(t.truths) / n
        mean_est = sum(t.estimates) / n
        bias = mean_est - mean_truth
        rel = f"{100 * bias / mean_truth:+.1f}" if mean_truth else "—"
        print(
            f"{scenario:8} {method:22} {mean_truth / 100:>11,.0f}¥ {mean_est / 100:>11,.0f}¥ "
            f"{bias / 100:>9,.0f}¥ {rel:>7} {100 * t.covered / n:>8.1f}% "
            f"{sum(t.widths) / n / 100:>10,.0f}¥ {100 * t.excludes_zero / n:>7.1f}%"
        )


if __name__ == "__main__":
    main()
