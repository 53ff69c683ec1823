"""A fire's effect as people read it (core/reports/effect_view.py) and in the review
model (core/review/view.stimulus_rows): its interval always, pending while unknown."""

from __future__ import annotations

import orjson

from warroom.core.reports.effect_view import (
    PENDING,
    effect_of,
    effect_overlaps,
    effect_text,
    overlapping,
)
from warroom.core.review.retrospective import ReviewBuilder
from warroom.core.review.view import Fire, stimulus_rows

MIN = 60_000
EFFECT = {
    "method": "holdout", "treated_groups": 8, "holdout_groups": 4,
    "incremental_gmv_fen": 1_800_000, "ci90_fen": [1_000_000, 2_600_000], "roi": 9.0,
    "roi_ci90": [5.0, 13.0], "overlaps": [3], "pre_minutes": 10,
}  # fmt: skip


def test_the_line_has_the_interval_and_pending_has_its_words() -> None:
    line = "增量 ¥1.8万（90% 区间 ¥1万–¥2.6万），ROI 9.0×（5.0×–13.0×）"
    assert effect_text(EFFECT) == line
    assert effect_text(orjson.dumps(EFFECT).decode()) == line  # the row's JSON text
    assert effect_text({**EFFECT, "method": "trend"}).endswith("（趋势估计，证据较弱）")
    for unknown in (None, "", "not json", "{}", '{"method": "holdout"}', "[1, 2]"):
        assert effect_of(unknown) is None and effect_text(unknown) == PENDING
    assert effect_overlaps(EFFECT) == [3] and effect_overlaps(None) == []


def test_overlapping_windows_meet_the_measured_span() -> None:
    # this fire (1) at 20 min, measured over [10, 30); others (id, at, effect minutes)
    others = [
        (1, 20 * MIN, 10),
        (2, 5 * MIN, 5),
        (3, 5 * MIN, 6),
        (4, 29 * MIN, 10),
        (5, 30 * MIN, 10),
    ]
    assert overlapping(1, 10 * MIN, 30 * MIN, others) == [3, 4]


def test_review_rows_carry_the_effect_and_skip_what_never_fired() -> None:
    f = ReviewBuilder([], [], None).facts
    f.gmv_by_minute.update({m * MIN: 100 for m in range(40)})
    fires = [
        Fire(1, "r", "red_packet_rain", 10 * MIN, 1000, 5, effect=EFFECT),
        Fire(2, "r", "red_packet_rain", 20 * MIN, 1000, 5, effect_minutes=8),
        Fire(3, "p", "red_packet_rain", 25 * MIN, 1000, 5, status="dismissed"),
    ]
    rows = stimulus_rows(fires, f, 60 * MIN)
    assert [r["id"] for r in rows] == [1, 2]
    assert rows[0]["effect"] == EFFECT and rows[0]["effect_overlaps"] == [3]
    assert rows[0]["effect_text"].startswith("增量 ¥1.8万（90% 区间")
    assert rows[1]["effect"] is None and rows[1]["effect_text"] == PENDING
    assert (rows[0]["effect_minutes"], rows[1]["effect_minutes"]) == (5, 8)
