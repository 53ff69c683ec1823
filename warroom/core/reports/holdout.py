"""Holdout groups for a stimulus: which groups a fire is announced to, and which are
held back as the counterfactual (docs/stimulus.md).

The unit of treatment is the group. `assign` draws a stratified random holdout: the
groups are ranked by their recent sales (highest first, ties by id, so the result never
depends on the order of the mapping), cut into strata of consecutive ranks, and within
each stratum a seeded shuffle picks the held-out ones. Both arms then have alike sales
distributions, which is what makes the difference in differences of `effect.py` precise.

Sizes, precisely:
- the target is k = floor(share × n + 1/2) (half rounds up), capped at floor(n / 2) so
  the held-out arm never outnumbers the treated one; n < 2 or share 0 gives k = 0;
- strata are blocks of b = max(2, round(1 / share)) consecutive ranks; a last block
  shorter than b joins the one before it (so every stratum has b to 2b − 1 groups);
- a stratum of m groups holds out floor(share × m) groups; the k − Σ floor units left
  over go one each to the strata with the largest fractional part share × m − floor
  (ties broken by the seeded generator), never more than one per stratum. Σ floor ≤ k
  and the number of strata ≥ k − Σ floor, so exactly k groups are held out.

Everything random comes from `random.Random(seed)`: the same groups, sales, share and
seed give the same assignment, and the seed is recorded with it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Assignment:
    """A fire's arms. `treated` and `holdout` are sorted, disjoint, and together are
    every group the assignment was drawn over."""

    seed: int
    share: float
    treated: tuple[str, ...]
    holdout: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """What is recorded and served (`…/stimuli/{id}/assignment` answers the two
        lists; the seed and share are kept so the draw can be replayed)."""
        return {
            "treated": list(self.treated),
            "holdout": list(self.holdout),
            "seed": self.seed,
            "share": self.share,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Assignment:
        return cls(
            seed=int(data["seed"]),
            share=float(data["share"]),
            treated=tuple(sorted(str(g) for g in data["treated"])),
            holdout=tuple(sorted(str(g) for g in data["holdout"])),
        )


def check_share(share: float) -> float:
    """The share as a float within [0, 0.5]; ValueError otherwise (NaN included)."""
    share = float(share)
    if not 0.0 <= share <= MAX_SHARE:  # False for NaN too
        raise ValueError(f"holdout share must be within [0, {MAX_SHARE}], got {share!r}")
    return share


def holdout_size(n: int, share: float) -> int:
    """How many of n groups are held out at this share (see the module docstring)."""
    share = check_share(share)
    if n < 2 or share == 0.0:
        return 0
    return min(math.floor(share * n + 0.5), n // 2)


def strata(ranked: Sequence[str], share: float) -> list[list[str]]:
    """Consecutive blocks of b = max(2, round(1 / share)) ranks; a short last block
    joins the one before it."""
    share = check_share(share)
    if not ranked:
        return []
    b = max(2, round(1 / share)) if share > 0 else len(ranked)
    blocks = [list(ranked[i : i + b]) for i in range(0, len(ranked), b)]
    if len(blocks) > 1 and len(blocks[-1]) < b:
        blocks[-2].extend(blocks.pop())
    return blocks


def rank(groups: Mapping[str, int]) -> list[str]:
    """Group ids by recent sales, highest first, ties by id."""
    return sorted(groups, key=lambda g: (-groups[g], g))


def assign(groups: Mapping[str, int], share: float, seed: int) -> Assignment:
    """Hold out `share` of `groups` (group id → recent sales in fen), stratified by
    those sales, drawn with `random.Random(seed)`."""
    share = check_share(share)
    ranked = rank(groups)
    k = holdout_size(len(ranked), share)
    if k == 0:
        return Assignment(seed=seed, share=share, treated=tuple(sorted(ranked)), holdout=())
    rng = random.Random(seed)
    blocks = strata(ranked, share)
    quotas = [share * len(block) for block in blocks]
    counts = [math.floor(q) for q in quotas]
    # Largest remainder, ties by a seeded key; at most one extra per stratum.
    order = sorted(range(len(blocks)), key=lambda i: (-(quotas[i] - counts[i]), rng.random()))
    for i in order[: k - sum(counts)]:
        counts[i] += 1
    held: list[str] = []
    for block, count in zip(blocks, counts, strict=True):
        shuffled = list(block)
        rng.shuffle(shuffled)
        held.extend(shuffled[:count])
    held_set = set(held)
    return Assignment(
        seed=seed,
        share=share,
        treated=tuple(sorted(g for g in ranked if g not in held_set)),
        holdout=tuple(sorted(held)),
    )
