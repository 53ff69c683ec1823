"""What a report remembers for the next one of its kind: its `figures` and the seller
ranks it showed, so the next report can say the change since ("本时段 +¥11.31万") and
the rank moves, from stored values only. And the signs those changes print with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from warroom.core.ingest.money import format_wan
from warroom.core.live.shapes import FiguresView, Snapshot
from warroom.core.reports.shapes import PrevMemo, ReportMemo


def report_memo(snapshot: Snapshot, figures: FiguresView | None = None) -> ReportMemo:
    """What a later report compares with (JSON-ready: stored with the report): the
    report's `figures` and the seller ranks it showed."""
    t = snapshot["totals"]
    figs: FiguresView = (
        cast(FiguresView, dict(figures))
        if figures is not None
        else {
            "as_of": snapshot["campaign"]["now"],
            "gmv_fen": t["gmv_fen"],
            "refund_fen": t["refund_fen"],
            "net_gmv_fen": t["net_gmv_fen"],
            "orders": t["orders"],
            "buyers": t["buyers"],
        }
    )
    return {
        "figures": figs,
        # the same figures flat, as templates have known them (`raw.gmv_fen`)
        "at": figs["as_of"],
        "gmv_fen": figs["gmv_fen"],
        "orders": figs["orders"],
        "buyers": figs["buyers"],
        "seller_ranks": {e["id"]: e["rank"] for e in snapshot["leaderboards"]["sellers"]},
    }


def memo_of(previous: Mapping[str, Any] | None) -> PrevMemo | None:
    """The previous report as {at, gmv_fen, orders, buyers, seller_ranks}, from its
    memo (this shape, or the one before `figures` existed), its context or its snapshot.

    `previous` is open on purpose: stored JSON of several vintages (a `ReportMemo`, an
    older flat memo, a `ReportContext` or a `Snapshot`), told apart by its keys."""
    if previous is None:
        return None
    if "totals" in previous:
        previous = report_memo(cast(Snapshot, previous))
    elif "raw" in previous:
        previous = previous["raw"]
    figs = previous.get("figures")
    if figs is None:
        return cast(PrevMemo, previous)  # a memo written before reports carried figures
    return {
        "at": figs["as_of"],
        "gmv_fen": figs["gmv_fen"],
        "orders": figs["orders"],
        "buyers": figs["buyers"],
        "seller_ranks": previous.get("seller_ranks"),
    }


def signed_wan(fen: int) -> str:
    """+¥100 / -¥100 (never "+-¥100")."""
    return ("+" if fen >= 0 else "") + format_wan(fen)


def signed(n: int) -> str:
    """+1,234 / -56: a count's change, grouped like every count."""
    return f"+{n:,}" if n >= 0 else f"{n:,}"
