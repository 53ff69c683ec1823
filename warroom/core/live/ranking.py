"""Leaderboard ranks from a bounded read: the rows shown, never every entity. Pure.

The rank before the recent minutes (`prev_rank`) of an entity with a positive score
then is 1 + the entities whose score then was higher, + those level with it whose id
is smaller. The hot state keeps the scores then in a `prev` set per board (folded
forward minute by minute), so the adapter reads a count and one score level per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def rank_order(scores: Mapping[str, int]) -> list[str]:
    """Highest first; ties broken by id so every process agrees."""
    return sorted(scores, key=lambda k: (-scores[k], k))


def prev_rank(ident: str, above: int, level: Iterable[str]) -> int:
    """`above`: entities with a higher score then; `level`: those with the same."""
    return 1 + above + sum(1 for y in level if y < ident)
