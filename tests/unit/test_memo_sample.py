"""What a report remembers for the next one (core/reports/memo.py), and the sample
campaign templates are checked and previewed against (core/reports/sample.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from warroom.core.ingest.money import format_wan
from warroom.core.reports.context import CONTEXT_KEYS
from warroom.core.reports.memo import memo_of, report_memo, signed, signed_wan
from warroom.core.reports.poster import KIND_TITLES
from warroom.core.reports.sample import sample_context, sample_extra, sample_snapshot

FIGS = {
    "as_of": "2024-05-20T12:00:00+08:00",
    "gmv_fen": 1_000,
    "refund_fen": 10,
    "net_gmv_fen": 990,
    "orders": 7,
    "buyers": 3,
}


def snapshot(**totals: int) -> dict[str, Any]:
    t = {"gmv_fen": 5_000, "refund_fen": 100, "net_gmv_fen": 4_900, "orders": 40, "buyers": 20}
    t.update(totals)
    return {
        "campaign": {"now": "2024-05-20T13:30:00+08:00"},
        "totals": t,
        "leaderboards": {"sellers": [{"id": "s2", "rank": 1}, {"id": "s1", "rank": 2}]},
    }


# --- memo ---------------------------------------------------------------------------


def test_a_memo_without_figures_takes_the_snapshot_totals_at_its_now() -> None:
    memo = report_memo(snapshot())
    assert memo["figures"] == {
        "as_of": "2024-05-20T13:30:00+08:00",
        "gmv_fen": 5_000,
        "refund_fen": 100,
        "net_gmv_fen": 4_900,
        "orders": 40,
        "buyers": 20,
    }
    assert (memo["at"], memo["gmv_fen"], memo["orders"], memo["buyers"]) == (
        "2024-05-20T13:30:00+08:00", 5_000, 40, 20,
    )  # fmt: skip
    assert memo["seller_ranks"] == {"s2": 1, "s1": 2}


def test_a_memo_with_figures_is_about_them_not_the_snapshot() -> None:
    memo = report_memo(snapshot(), FIGS)
    assert memo["figures"] == FIGS and memo["figures"] is not FIGS
    assert (memo["at"], memo["gmv_fen"], memo["orders"], memo["buyers"]) == (
        FIGS["as_of"], 1_000, 7, 3,
    )  # fmt: skip


LEGACY = {"at": "2024-05-20T11:00:00+08:00", "gmv_fen": 1, "orders": 2, "buyers": 3,
          "seller_ranks": {"s9": 1}}  # fmt: skip


@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        (None, None),
        # a snapshot: its totals as of its now
        (
            snapshot(),
            {
                "at": "2024-05-20T13:30:00+08:00",
                "gmv_fen": 5_000,
                "orders": 40,
                "buyers": 20,
                "seller_ranks": {"s2": 1, "s1": 2},
            },
        ),  # fmt: skip
        # a stored memo: its figures win over the flat copies beside them
        (
            {
                "figures": FIGS,
                "at": "x",
                "gmv_fen": -1,
                "orders": -1,
                "buyers": -1,
                "seller_ranks": {"s1": 1},
            },
            {
                "at": FIGS["as_of"],
                "gmv_fen": 1_000,
                "orders": 7,
                "buyers": 3,
                "seller_ranks": {"s1": 1},
            },
        ),  # fmt: skip
        # a report's context: its `raw` memo
        (
            {"raw": {"figures": FIGS}, "gmv": "¥10"},
            {"at": FIGS["as_of"], "gmv_fen": 1_000, "orders": 7, "buyers": 3, "seller_ranks": None},
        ),  # fmt: skip
        # a memo written before reports carried figures, as it is
        (LEGACY, LEGACY),
        ({"raw": LEGACY}, LEGACY),
    ],
)
def test_memo_of(previous: Any, expected: Any) -> None:
    assert memo_of(previous) == expected


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (0, "+¥0"),
        (100, "+¥1"),
        (-100, "-¥1"),
        (-1_234_56, "-¥1,234.56"),
        (11_310_000, "+¥11.31万"),
        (-20_000_000, "-¥20万"),
    ],
)
def test_signed_wan(fen: int, text: str) -> None:
    assert signed_wan(fen) == text


def test_a_negative_wan_change_reads_like_a_negative_yuan_change() -> None:
    assert signed_wan(-20_000_000) == "-¥20万"


@pytest.mark.parametrize(("n", "text"), [(0, "+0"), (3, "+3"), (-2, "-2")])
def test_signed(n: int, text: str) -> None:
    assert signed(n) == text


@given(st.integers(-(10**11), 10**11))
def test_a_change_carries_exactly_one_sign(fen: int) -> None:
    text = signed_wan(fen)
    assert "+-" not in text and text.count("+") + text.count("-") == 1
    assert text.startswith("+") == (fen >= 0)
    assert text.replace("+", "").replace("-", "") == format_wan(abs(fen))


@hsettings(max_examples=30, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            k: st.integers(0, 10**10)
            for k in ("gmv_fen", "refund_fen", "net_gmv_fen", "orders", "buyers")
        }
        | {"as_of": st.sampled_from(["", "2024-05-20T10:00:00+08:00"])}  # fmt: skip
    )
)
def test_the_next_report_reads_back_what_was_stored(figs: dict[str, Any]) -> None:
    memo = memo_of(report_memo(snapshot(), figs))
    assert memo == {"at": figs["as_of"], "gmv_fen": figs["gmv_fen"], "orders": figs["orders"],
                    "buyers": figs["buyers"], "seller_ranks": {"s2": 1, "s1": 2}}  # fmt: skip


# --- sample -------------------------------------------------------------------------


def test_the_sample_snapshot_is_consistent_and_built_once() -> None:
    snap = sample_snapshot()
    assert sample_snapshot() is snap
    t = snap["totals"]
    assert t["net_gmv_fen"] == t["gmv_fen"] - t["refund_fen"] > 0
    assert snap["campaign"]["now"] == "2024-05-20T13:30:00+08:00"
    sellers = snap["leaderboards"]["sellers"]
    scores = [r["net_gmv_fen"] for r in sellers]
    assert scores == sorted(scores, reverse=True) and [r["rank"] for r in sellers] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    # the preview has a climber to show: 老王 moved up in the last minutes, and only he
    climbers = [r["name"] for r in sellers if r["prev_rank"] > r["rank"]]
    assert climbers == ["老王"]
    assert [r["minute"] for r in snap["per_minute"]][-1] == "2024-05-20T13:29:00+08:00"


def test_sample_extra() -> None:
    assert sample_extra("milestone") == {"milestone_fen": 30_000_000}
    assert sample_extra("no-such-kind") == {}
    merged = sample_extra(None)
    assert {"milestone_fen", "slot", "hour_index", "rule", "record_fen"} <= set(merged)
    sample_extra("top")["hour_index"] = 99  # a copy: the next caller sees the sample
    assert sample_extra("top") == {"hour_index": 3}


@pytest.mark.parametrize("kind", [*KIND_TITLES, None])
def test_every_kind_has_a_sample_context_templates_may_use(kind: str | None) -> None:
    ctx = sample_context(kind)
    assert set(ctx) <= CONTEXT_KEYS
    assert ctx["kind"] == (kind or "scheduled")
    # the change since the previous report (13:00: 27万, 1,440 orders, 900 buyers)
    t = sample_snapshot()["totals"]
    assert ctx["delta"]["gmv"] == signed_wan(t["gmv_fen"] - 27_000_000)
    assert ctx["delta"]["orders"] == signed(t["orders"] - 1_440)
    assert ctx["delta"]["since"] == "13:00"
    assert ctx["raw"] == report_memo(sample_snapshot())


def test_the_all_kinds_preview_carries_every_kinds_parts() -> None:
    ctx = sample_context(None)
    assert ctx["milestone"] == format_wan(30_000_000) and ctx["slot"] == 7
    assert sample_context("top")["milestone"] is None
