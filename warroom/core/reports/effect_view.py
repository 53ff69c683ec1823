"""A fire's effect as people read it, and which fires' windows overlap (docs/stimulus.md).

The stored effect is `Effect.as_dict()` (core/reports/effect.py) plus `overlaps` (ids of
other fired stimuli whose effect window meets this fire's measured span) and
`pre_minutes` (the length of the baseline before the fire), written once by
services/effects.py. Every place a person reads a stimulus's effect (the review page,
the final report, the console) prints `effect_text`: the increment with its 90%
interval and the ROI with its interval, never a point alone; "效果待评估（窗口结束后计算）"
while it is unknown. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from warroom.core.ingest.clock import MINUTE_MS
from warroom.core.reports.effect import Effect, effect_line

PENDING = "效果待评估（窗口结束后计算）"
OVERLAP_NOTE = "与其他动作的效果窗口重叠"


def effect_of(data: Mapping[str, Any] | str | bytes | None) -> Effect | None:
    """The stored effect (its dict, or its JSON text) as an `Effect`; None when absent
    or not an effect (an unreadable value is shown as unknown, never as a figure)."""
    if data is None or data == "":
        return None
    try:
        d = orjson.loads(data) if isinstance(data, str | bytes) else data
        if not isinstance(d, Mapping) or d.get("method") not in ("holdout", "trend"):
            return None
        lo, hi = d["ci90_fen"]
        roi = d.get("roi")
        roi_ci = d.get("roi_ci90")
        return Effect(
            method=d["method"],
            treated_groups=int(d.get("treated_groups", 0)),
            holdout_groups=int(d.get("holdout_groups", 0)),
            incremental_gmv_fen=int(d["incremental_gmv_fen"]),
            ci90_fen=(int(lo), int(hi)),
            roi=None if roi is None else float(roi),
            roi_ci90=None if roi_ci is None else (float(roi_ci[0]), float(roi_ci[1])),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError):
        return None


def effect_text(data: Mapping[str, Any] | str | bytes | None) -> str:
    """ "增量 ¥1.8万（90% 区间 ¥0.9万–¥2.7万），ROI 9.0×（4.5×–13.5×）" (trend: plus
    "（趋势估计，证据较弱）"), or PENDING while the effect is unknown."""
    effect = effect_of(data)
    return PENDING if effect is None else effect_line(effect)


def effect_overlaps(data: Mapping[str, Any] | str | bytes | None) -> list[int]:
    """The ids the stored effect names as overlapping (empty when unknown)."""
    if data is None or data == "":
        return []
    try:
        d = orjson.loads(data) if isinstance(data, str | bytes) else data
    except orjson.JSONDecodeError:
        return []
    found = d.get("overlaps") if isinstance(d, Mapping) else None
    return [int(i) for i in found] if isinstance(found, list) else []


def overlapping(
    fire_id: int,
    from_ms: int,
    to_ms: int,
    others: Sequence[tuple[int, int, int]],
) -> list[int]:
    """Ids of the other fires `(id, at_ms, effect_minutes)` whose effect window
    [at, at + effect_minutes) meets this fire's measured span [from_ms, to_ms) (its
    baseline and its window): their effect is mixed into this one's, so neither can
    be credited alone."""
    return sorted(
        i
        for i, at, minutes in others
        if i != fire_id and at < to_ms and at + max(minutes, 0) * MINUTE_MS > from_ms
    )
