"""Pure parts of the retrospective and group health: tables of cases."""

from __future__ import annotations

import csv
import io

import pytest

from warroom.core.live.group_health import Thresholds, health_of
from warroom.core.review.export import BOM, cell, render_table
from warroom.core.review.retrospective import Refund, ReviewBuilder, peak_window, rank_history
from warroom.core.review.view import Fire, stimulus_rows

MIN = 60_000
T = Thresholds(quiet_minutes=10, cold_minutes=30, cold_max_messages=5)
S = 1_000 * MIN  # campaign start


@pytest.mark.parametrize(
    ("last_msg", "last_ord", "recent", "now", "want", "since"),
    [
        (None, None, 0, S + 5 * MIN, "active", None),  # the first minutes are not silence
        (None, None, 0, S + 10 * MIN, "quiet", S + 10 * MIN),
        (None, None, 0, S + 30 * MIN, "cold", S + 30 * MIN),
        (S + 25 * MIN, S + 1 * MIN, 6, S + 31 * MIN, "active", None),  # chats: not cold
        (S + 5 * MIN, S + 1 * MIN, 6, S + 31 * MIN, "quiet", S + 15 * MIN),
        (S + 30 * MIN, S + 1 * MIN, 5, S + 31 * MIN, "cold", S + 31 * MIN),  # few messages
        (S + 30 * MIN, S + 2 * MIN, 0, S + 32 * MIN - 1, "active", None),  # 1 ms short
        (S + 30 * MIN, S + 2 * MIN, 0, S + 32 * MIN, "cold", S + 32 * MIN),
        (S - 50 * MIN, S - 50 * MIN, 0, S + 29 * MIN, "quiet", S + 10 * MIN),  # before start
    ],
)
def test_health_rule(
    last_msg: int | None, last_ord: int | None, recent: int, now: int, want: str, since: int | None
) -> None:
    assert health_of(last_msg, last_ord, recent, S, now, T) == (want, since)


def test_peak_window_finds_the_best_run_and_the_earliest_tie() -> None:
    by_min = {0: 5, MIN: 1, 2 * MIN: 9, 5 * MIN: 9}
    assert peak_window(by_min, 1) == (2 * MIN, 9)
    assert peak_window(by_min, 3) == (0, 15)
    assert peak_window({}, 10) == (None, 0)


def test_refunds_are_capped_dated_and_ignore_missing_orders() -> None:
    refunds = [Refund(1, "o1", 300, 5 * MIN), Refund(3, "o1", 900, 9 * MIN), Refund(4, "zz", 50, 0)]
    b = ReviewBuilder([10 * MIN], refunds, None)
    b.add(2, "order", 2 * MIN, 0, {"order_id": "o1", "amount_fen": 1000, "seller_id": "s",
                                   "group_id": "g", "product_id": "p", "buyer_id": "b"})  # fmt: skip
    f = b.finish()
    assert (f.gmv, f.refund) == (1000, 1000)
    assert dict(f.refund_by_minute) == {5 * MIN: 300, 9 * MIN: 700}
    assert f.boards["sellers"].net("s") == 0


def test_rank_history_reads_standing_before_each_mark() -> None:
    b = ReviewBuilder([10 * MIN, 20 * MIN], [], None)
    for lid, (ts, seller, amount) in enumerate(
        [(1 * MIN, "a", 500), (2 * MIN, "b", 100), (15 * MIN, "b", 900), (25 * MIN, "c", 5000)]
    ):
        b.add(lid, "order", ts, 0, {"order_id": str(lid), "amount_fen": amount, "seller_id": seller,
                                    "group_id": "g", "product_id": "p", "buyer_id": "x"})  # fmt: skip
    f = b.finish()
    assert rank_history(f.boards["sellers"], [10 * MIN, 20 * MIN], ["a", "b", "c"]) == {
        "a": [1, 2], "b": [2, 1], "c": [None, None]
    }  # fmt: skip


def test_overlapping_fires_are_flagged_and_scored_per_yuan() -> None:
    gmv = {m * MIN: (100 if m < 10 else 300) for m in range(0, 40)}
    f = ReviewBuilder([], [], None).facts
    f.gmv_by_minute.update(gmv)
    fires = [Fire(1, "r", "red_packet_rain", 10 * MIN, 1000, 5), Fire(2, "m", "announcement", 12 * MIN, 0, 5),
             Fire(3, "x", "buy_n_gift", 30 * MIN, 0, 5)]  # fmt: skip
    rows = stimulus_rows(fires, f, 60 * MIN)
    assert rows[0]["before_gmv_per_min_fen"] == 100 and rows[0]["after_gmv_per_min_fen"] == 300
    assert rows[0]["uplift"] == 3.0 and rows[0]["gmv_per_yuan"] == 1.0  # +1000 fen for 1000 fen
    assert rows[0]["overlaps"] == [2] and rows[1]["overlaps"] == [1] and rows[2]["overlaps"] == []
    assert rows[1]["gmv_per_yuan"] is None  # nothing spent


def test_csv_has_a_bom_and_defuses_formulas() -> None:
    text = render_table(
        ["id", "name", "net_gmv_fen"], [["s1", "=HYPERLINK(1)", 5], ["s2", "团长😀", 0]]
    )
    assert text.startswith(BOM)
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows == [
        ["id", "name", "net_gmv_fen"],
        ["s1", "'=HYPERLINK(1)", "5"],
        ["s2", "团长😀", "0"],
    ]
    assert cell(None) == "" and cell(True) == "true" and cell(-5) == -5


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York", "Australia/Lord_Howe", "UTC"])
def test_fast_instant_equals_rfc3339_across_offset_changes(tz: str) -> None:
    import random

    from warroom.core.ingest.clock import rfc3339
    from warroom.core.live.group_health import instant

    rnd = random.Random(tz)
    for _ in range(3000):
        ms = rnd.randrange(1_600_000_000_000, 1_900_000_000_000)
        if rnd.random() < 0.3:
            ms -= ms % 1000
        assert instant(ms, tz) == rfc3339(ms, tz)


def test_late_cutoff_from_the_final_reports_memo() -> None:
    from types import SimpleNamespace

    from warroom.core.campaign import CampaignSettings
    from warroom.core.ingest.clock import rfc3339
    from warroom.core.records import CampaignRecord
    from warroom.services.review_loader import late_cutoff_ms

    ends = 1_800_000_000_000
    s = CampaignSettings(slug="x", name="x", starts_at=ends - 3_600_000, ends_at=ends)
    rec = CampaignRecord(1, s, "", "", created_at_ms=0)

    def final(memo: str) -> list[SimpleNamespace]:
        return [
            SimpleNamespace(kind="scheduled", memo_json="{}"),
            SimpleNamespace(kind="final", memo_json=memo),
        ]

    assert late_cutoff_ms(rec, [SimpleNamespace(kind="scheduled", memo_json="{}")]) is None
    assert late_cutoff_ms(rec, final('{"written_ms": 5}')) == 5
    # `at` = ends_at (the figures' as-of): the earliest a final may be written
    assert late_cutoff_ms(rec, final(f'{{"at": "{rfc3339(ends, "UTC")}"}}')) == ends + 30_000
    # `at` = when it was written
    assert (
        late_cutoff_ms(rec, final(f'{{"at": "{rfc3339(ends + 95_000, "UTC")}"}}')) == ends + 95_000
    )
    assert late_cutoff_ms(rec, final("not json")) == ends + 30_000
