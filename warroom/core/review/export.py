"""CSV exports of the retrospective (contract v2): UTF-8 with a BOM so Excel reads
Chinese, a header row, money as integer fen in `*_fen` columns. Pure: rows in, text out.

Names are chat-app text. A cell that begins with `=`, `+`, `-`, `@`, tab or CR would
be run as a formula by a spreadsheet, so text cells starting with one get a leading
apostrophe (the OWASP advice); numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from warroom.core.ingest.clock import rfc3339
from warroom.core.review.shapes import Review, StimulusRow

BOM = "\ufeff"
TABLES = ("minutes", "sellers", "groups", "products", "stimuli", "reports", "events")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")

COLUMNS: dict[str, tuple[str, ...]] = {
    "minutes": ("minute", "gmv_fen", "orders", "refund_fen", "messages", "joins", "leaves",
                "cumulative_gmv_fen"),
    "sellers": ("rank", "id", "name", "net_gmv_fen", "gmv_fen", "refund_fen", "orders"),
    "stimuli": ("id", "at", "rule", "kind", "amount_fen", "window_minutes",
                "before_gmv_per_min_fen", "after_gmv_per_min_fen", "uplift",
                "incremental_gmv_fen", "gmv_per_yuan", "overlaps", "text",
                # the effect (docs/stimulus.md); empty until its window is settled
                "effect_minutes", "effect_method", "effect_incremental_gmv_fen",
                "effect_ci90_lo_fen", "effect_ci90_hi_fen", "effect_roi", "effect_roi_ci90_lo",
                "effect_roi_ci90_hi", "effect_treated_groups", "effect_holdout_groups",
                "effect_overlaps", "effect_text"),
    "reports": ("id", "kind", "at", "text"),
    "events": ("ledger_id", "type", "key", "ts", "received_at", "late", "order_id",
               "refund_id", "amount_fen", "quantity", "seller_id", "seller_name", "group_id",
               "group_name", "buyer_id", "product_id", "product_name", "message_id",
               "member_id", "event_id", "action", "kind"),
}  # fmt: skip
COLUMNS["groups"] = COLUMNS["products"] = COLUMNS["sellers"]


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


class _Lines:
    """A csv.writer target that hands back what was written since the last take."""

    def __init__(self) -> None:
        self.buf = io.StringIO()
        self.writer = csv.writer(self.buf, lineterminator="\r\n")

    def write(self, row: Iterable[Any]) -> None:
        self.writer.writerow([cell(v) for v in row])

    def take(self) -> str:
        text = self.buf.getvalue()
        self.buf.seek(0)
        self.buf.truncate()
        return text


def _columns(rows: Sequence[Mapping[str, object]], table: str) -> list[list[Any]]:
    return [[r[c] for c in COLUMNS[table]] for r in rows]


def _effect_cells(r: StimulusRow) -> list[Any]:
    e = r["effect"] or {}
    ci = e.get("ci90_fen") or [None, None]
    roi_ci = e.get("roi_ci90") or [None, None]
    return [r["effect_minutes"], e.get("method"), e.get("incremental_gmv_fen"), ci[0], ci[1],
            e.get("roi"), roi_ci[0], roi_ci[1], e.get("treated_groups"), e.get("holdout_groups"),
            " ".join(str(i) for i in r["effect_overlaps"]), r["effect_text"]]  # fmt: skip


def table_rows(review: Review, table: str, tz: str) -> list[list[Any]]:
    """Rows (without header) of a table computed from the review model."""
    if table == "minutes":
        return _columns(review["minutes"], "minutes")
    if table in ("sellers", "groups", "products"):
        return _columns(review["boards"][table], table)
    if table == "stimuli":
        return [
            [r["id"], rfc3339(r["at_ms"], tz), r["rule"], r["kind"], r["amount_fen"],
             r["window_minutes"], r["before_gmv_per_min_fen"], r["after_gmv_per_min_fen"],
             r["uplift"], r["incremental_gmv_fen"], r["gmv_per_yuan"],
             " ".join(str(i) for i in r["overlaps"]), r["text"], *_effect_cells(r)]
            for r in review["stimuli"]
        ]  # fmt: skip
    if table == "reports":
        return [[r["id"], r["kind"], rfc3339(r["at_ms"], tz), r["text"]] for r in review["reports"]]
    raise ValueError(f"unknown table {table!r}")


def render_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = _Lines()
    out.write(header)
    for r in rows:
        out.write(r)
    return BOM + out.take()


def event_row(
    lid: int, kind: str, ts: int, received_ms: int, e: Mapping[str, Any], late: bool, tz: str
) -> list[Any]:
    fields = COLUMNS["events"][6:]
    return [lid, kind, e.get("key", ""), rfc3339(ts, tz), rfc3339(received_ms, tz),
            late, *(e.get(c) for c in fields)]  # fmt: skip


def event_chunks(
    chunks: Iterable[Sequence[Any]], late_after_real_ms: int | None, tz: str
) -> Iterator[str]:
    """The `events` table as text pieces, one per ledger chunk (rows carry lid, type,
    ts, received_ms, event): the caller streams them, nothing accumulates."""
    out = _Lines()
    yield BOM
    out.write(COLUMNS["events"])
    yield out.take()
    for chunk in chunks:
        for r in chunk:
            late = late_after_real_ms is not None and r.received_ms > late_after_real_ms
            out.write(event_row(r.lid, r.type, r.ts, r.received_ms, r.event, late, tz))
        yield out.take()
