"""Spreadsheet imports: a column mapping, and one sheet row into one v1 wire event.

Pure: the reader (adapters/sheets.py) hands cells in, the events' own validation
(`core/ingest/events.normalize`) decides what is acceptable. A mapping says, per event
field, which column it comes from, or a constant:

    {"type": "order",
     "columns": {"order_id": "订单号",
                 "amount_fen": {"column": "金额(元)", "scale": 100},
                 "seller_id": {"const": "s1"}, ...}}

- Money with a `scale` (100: the cell is in 元) is read as a decimal and multiplied
  exactly, never through a float: `12.50` → 1250; `12.345` at scale 100 is a rejection.
- A time without an offset is in the campaign's time zone; with an offset, or as epoch
  milliseconds, it is that instant.
- The identity (`order_id`, `refund_id`, `message_id`, `event_id`) comes from its
  column when mapped, else from a hash of the row's normalized cells: the same row
  imported again is the same event (a duplicate), whatever else is in the file.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from warroom.core.ingest.clock import parse_instant, to_ms
from warroom.core.ingest.money import MAX_AMOUNT_FEN

# What a cell can be: the CSV reader gives text, the XLSX reader the cell's (cached)
# value: text, a number, a date or time, a boolean, or nothing.
Cell = str | int | float | Decimal | bool | datetime | date | time | None

IDENTITY = {
    "order": "order_id",
    "refund": "refund_id",
    "message": "message_id",
    "member": "event_id",
}
FIELDS: dict[str, tuple[str, ...]] = {
    "order": (
        "order_id",
        "amount_fen",
        "seller_id",
        "group_id",
        "buyer_id",
        "product_id",
        "ts",
        "quantity",
        "seller_name",
        "group_name",
        "product_name",
    ),
    "refund": ("refund_id", "order_id", "amount_fen", "ts"),
    "message": ("message_id", "group_id", "member_id", "ts", "kind"),
    "member": ("event_id", "group_id", "member_id", "action", "ts"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "order": ("amount_fen", "seller_id", "group_id", "buyer_id", "product_id"),
    "refund": ("order_id", "amount_fen"),
    "message": ("group_id", "member_id"),
    "member": ("group_id", "member_id", "action"),
}
INT_FIELDS = frozenset({"amount_fen", "quantity"})
MAX_SCALE = 10**8
MAX_COLUMNS = 256  # columns read per row; a sheet's header names at most this many


class MappingError(ValueError):
    """The mapping cannot be used with this sheet (422): the message names the field or
    column."""


@dataclass(frozen=True)
class Source:
    """Where one field's value comes from: a column (its index in the row), or a
    constant; `scale` multiplies a money column (元 → fen: 100)."""

    column: str | None = None
    index: int = -1
    const: Any = None
    scale: int | None = None


@dataclass(frozen=True)
class Mapping:
    type: str
    fields: dict[str, Source]
    tz: str = "UTC"

    @property
    def hashed_identity(self) -> bool:
        return IDENTITY[self.type] not in self.fields

    @property
    def stamps_arrival(self) -> bool:
        """No `ts` mapped: every event is stamped with its arrival (as the API does)."""
        return "ts" not in self.fields


def parse_mapping(raw: Any, header: list[str], tz: str) -> Mapping:
    """Check a mapping against a sheet's header; every error names what to fix."""
    if not isinstance(raw, dict):
        raise MappingError('mapping must be a JSON object: {"type": ..., "columns": {...}}')
    kind = raw.get("type")
    if kind not in FIELDS:
        raise MappingError("mapping.type: must be one of order, refund, message, member")
    columns = raw.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise MappingError("mapping.columns: must be an object of event field → column")
    unknown_keys = set(raw) - {"type", "columns"}
    if unknown_keys:
        raise MappingError(f"mapping: unknown key {sorted(unknown_keys)[0]!r}")
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        if name:
            positions.setdefault(name, []).append(i)
    fields: dict[str, Source] = {}
    for field, spec in columns.items():
        if field not in FIELDS[kind]:
            allowed = ", ".join(FIELDS[kind])
            raise MappingError(f"mapping.columns: {field!r} is not a field of {kind} ({allowed})")
        fields[field] = _source(kind, field, spec, positions, header)
    missing = [f for f in REQUIRED[kind] if f not in fields]
    if missing:
        raise MappingError(
            f"mapping.columns: {missing[0]} is required for {kind} events "
            '(map a column or a {"const": value})'
        )
    return Mapping(kind, fields, tz)


def _source(
    kind: str, field: str, spec: Any, positions: dict[str, list[int]], header: list[str]
) -> Source:
    where = f"mapping.columns.{field}"
    if isinstance(spec, str):
        spec = {"column": spec}
    if not isinstance(spec, dict):
        raise MappingError(f'{where}: a column name, {{"column", "scale"}} or {{"const"}}')
    if "const" in spec:
        if set(spec) != {"const"}:
            raise MappingError(f"{where}: a constant takes no other key")
        value = spec["const"]
        if value is None or isinstance(value, dict | list | float):
            raise MappingError(f"{where}.const: must be a string, an integer or true/false")
        return Source(const=value)
    if set(spec) - {"column", "scale"}:
        raise MappingError(f"{where}: unknown key {sorted(set(spec) - {'column', 'scale'})[0]!r}")
    column = spec.get("column")
    if not isinstance(column, str) or not column.strip():
        raise MappingError(f"{where}.column: must name a column of the header")
    column = column.strip()
    found = positions.get(column)
    if not found:
        shown = "、".join(h for h in header if h)[:300]
        raise MappingError(f"{where}: unknown column {column!r} (the header has: {shown})")
    if len(found) > 1:
        raise MappingError(f"{where}: column {column!r} appears {len(found)} times in the header")
    scale = spec.get("scale")
    if scale is not None:
        if field != "amount_fen":
            raise MappingError(f"{where}.scale: only amount_fen takes a scale")
        if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= MAX_SCALE:
            raise MappingError(f"{where}.scale: an integer from 1 to {MAX_SCALE} (元 → fen: 100)")
    return Source(column=column, index=found[0], scale=scale)


# -- one row ---------------------------------------------------------------------------


class RowError(ValueError):
    """One row is unacceptable; the message says which field and why."""


def is_empty(cells: list[Cell]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def header_names(cells: list[Cell]) -> list[str]:
    return [_text(c) for c in cells[:MAX_COLUMNS]]


def row_event(mapping: Mapping, cells: list[Cell]) -> dict[str, Any]:
    """The raw wire event of one row (validated afterwards by `events.normalize`)."""
    event: dict[str, Any] = {"type": mapping.type}
    for field, src in mapping.fields.items():
        if src.column is None:
            event[field] = src.const
            continue
        cell = cells[src.index] if src.index < len(cells) else None
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            continue  # absent: required fields are named by the validation
        try:
            event[field] = _value(mapping, field, src, cell)
        except (ValueError, ArithmeticError) as exc:
            raise RowError(f"{field} ({src.column}): {exc}") from None
    if mapping.hashed_identity:
        event[IDENTITY[mapping.type]] = row_identity(cells)
    return event


def locate(mapping: Mapping, error: str) -> str:
    """`buyer_id: is required` → `buyer_id (买家): is required`: the column to look at."""
    field, sep, rest = error.partition(":")
    src = mapping.fields.get(field)
    if sep and src is not None and src.column is not None:
        return f"{field} ({src.column}):{rest}"
    return error


def row_identity(cells: list[Cell]) -> str:
    """A stable id from the row's normalized cells (trailing empty cells ignored), so
    the same row read from CSV or XLSX, again or in another file, is the same event."""
    texts = [_text(c) for c in cells[:MAX_COLUMNS]]
    while texts and not texts[-1]:
        texts.pop()
    digest = hashlib.sha256("\x1f".join(texts).encode()).hexdigest()
    return f"row-{digest[:32]}"


def _value(mapping: Mapping, field: str, src: Source, cell: Cell) -> Any:
    if field == "amount_fen":
        return money_fen(cell, src.scale or 1)
    if field == "quantity":
        return whole_number(cell)
    if field == "ts":
        return instant_ms(cell, mapping.tz)
    return _text(cell)


def _text(cell: Cell) -> str:
    """A cell as text: numbers without a spurious `.0`, dates in ISO form, NFC."""
    if type(cell) is str:  # the common case first (every CSV cell)
        text = cell.strip()
        return text if text.isascii() else unicodedata.normalize("NFC", text)
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float):
        if cell.is_integer() and abs(cell) < 2**53:
            return str(int(cell))
        return repr(cell)
    if isinstance(cell, int | Decimal):
        return str(cell)
    if isinstance(cell, datetime | date | time):
        return cell.isoformat()
    return unicodedata.normalize("NFC", str(cell).strip())


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_MONEY_JUNK = str.maketrans("", "", " ,，¥￥元\u00a0")


def _decimal(cell: Cell) -> Decimal:
    if isinstance(cell, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(cell, int):
        return Decimal(cell)
    if isinstance(cell, float):
        # The shortest text that reads back as this float: what the sheet showed.
        return Decimal(repr(cell))
    if isinstance(cell, Decimal):
        return cell
    if isinstance(cell, str):
        text = unicodedata.normalize("NFKC", cell).translate(_MONEY_JUNK)
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"{cell.strip()[:40]!r} is not a number")
        return Decimal(text)
    raise ValueError(f"{_text(cell)[:40]!r} is not a number")


def money_fen(cell: Cell, scale: int) -> int:
    """The cell's amount times `scale`, exactly; a fraction left over is an error."""
    try:
        amount = _decimal(cell)
    except InvalidOperation:
        raise ValueError("is not a number") from None
    if not amount.is_finite():
        raise ValueError("is not a number")
    if amount <= 0:
        raise ValueError(f"{amount} must be more than 0")
    fen = amount * scale
    if fen != fen.to_integral_value():
        unit = "元" if scale == 100 else f"1/{scale}"
        raise ValueError(f"{amount} has more decimals than the scale {scale} allows ({unit})")
    if fen > MAX_AMOUNT_FEN:
        raise ValueError(f"{amount} is more than the largest amount ({MAX_AMOUNT_FEN} fen)")
    return int(fen)


def whole_number(cell: Cell) -> int:
    amount = _decimal(cell)
    if amount != amount.to_integral_value():
        raise ValueError(f"{amount} is not a whole number")
    return int(amount)


_LOCAL = re.compile(
    r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2})[:：](\d{1,2})(?:[:：](\d{1,2})(?:\.(\d{1,6}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_EXCEL_EPOCH = datetime(1899, 12, 30)


def instant_ms(cell: Cell, tz: str) -> int:
    """A time cell to epoch ms: without an offset it is wall time in `tz`."""
    if isinstance(cell, datetime):
        if cell.tzinfo is None:
            cell = cell.replace(tzinfo=ZoneInfo(tz))
        return to_ms(cell)
    if isinstance(cell, date):
        return to_ms(datetime.combine(cell, time(), ZoneInfo(tz)))
    if isinstance(cell, bool):
        raise ValueError("is not a time")
    if isinstance(cell, int | float | Decimal):
        number = Decimal(repr(cell)) if isinstance(cell, float) else Decimal(cell)
        if 10**11 <= number < 10**14 and number == number.to_integral_value():
            return parse_instant(int(number))  # epoch milliseconds
        if 1 <= number < 2_958_466:  # an Excel serial date (a number formatted as a date)
            wall = _EXCEL_EPOCH + timedelta(days=float(number))
            return to_ms(wall.replace(microsecond=0, tzinfo=ZoneInfo(tz)))
        raise ValueError(f"{cell} is neither epoch milliseconds nor a date")
    if isinstance(cell, time):
        raise ValueError("a time of day without a date")
    text = unicodedata.normalize("NFKC", str(cell)).strip()
    if text.isdigit():
        return instant_ms(int(text), tz)
    m = _LOCAL.fullmatch(text)
    if not m:
        raise ValueError(f"{text[:40]!r} is not a time (e.g. 2026-11-11 10:05:00)")
    y, mo, d, h, mi, s, frac, offset = m.groups()
    try:
        wall = datetime(
            int(y),
            int(mo),
            int(d),
            int(h or 0),
            int(mi or 0),
            int(s or 0),
            int((frac or "0").ljust(6, "0")),
        )
    except ValueError as exc:
        raise ValueError(f"{text[:40]!r}: {exc}") from None
    if offset:
        return parse_instant(wall.isoformat() + (offset if offset == "Z" else _colon(offset)))
    return to_ms(wall.replace(tzinfo=ZoneInfo(tz)))


def _colon(offset: str) -> str:
    return offset if ":" in offset else f"{offset[:3]}:{offset[3:]}"
