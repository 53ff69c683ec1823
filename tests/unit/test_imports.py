"""The pure part of spreadsheet imports: mappings, money by scale, times in the
campaign's zone, identities from a column or from the row."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from warroom.core.imports import (
    MappingError,
    RowError,
    instant_ms,
    locate,
    money_fen,
    parse_mapping,
    row_event,
    row_identity,
)

HEADER = ["订单号", "金额(元)", "团长", "群", "买家", "商品", "时间"]
BASE = {
    "amount_fen": {"column": "金额(元)", "scale": 100},
    "seller_id": "团长",
    "group_id": "群",
    "buyer_id": "买家",
    "product_id": {"const": "rice"},
}
SH = "Asia/Shanghai"


def mapping(**columns: object):
    return parse_mapping({"type": "order", "columns": {**BASE, **columns}}, HEADER, SH)


@pytest.mark.parametrize(
    ("cell", "scale", "fen"),
    [
        ("12.50", 100, 1250),
        ("12.5", 100, 1250),
        (12.5, 100, 1250),
        (0.1, 100, 10),
        ("1,288.00", 100, 128_800),
        ("¥88", 100, 8800),
        ("８８元", 100, 8800),  # full-width digits
        (Decimal("3.3"), 10, 33),
        ("1250", 1, 1250),
        (7, 100, 700),
    ],
)
def test_money_is_scaled_exactly(cell: object, scale: int, fen: int) -> None:
    assert money_fen(cell, scale) == fen  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cell", "scale", "error"),
    [
        ("12.345", 100, "more decimals than the scale 100 allows"),
        (0.30000000000000004, 100, "more decimals"),
        ("-5", 100, "must be more than 0"),
        ("0", 100, "must be more than 0"),
        ("1e3", 100, "not a number"),
        ("NaN", 100, "not a number"),
        (True, 100, "not true/false"),
        ("12.5", 1, "more decimals"),
        ("2000000000", 100, "largest amount"),
    ],
)
def test_bad_money_is_refused_with_a_reason(cell: object, scale: int, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        money_fen(cell, scale)  # type: ignore[arg-type]


def test_times_without_an_offset_are_in_the_campaign_zone() -> None:
    ten = 1_794_362_400_000  # 2026-11-11 10:00 in Shanghai
    assert instant_ms("2026-11-11 10:00:00", SH) == ten
    assert instant_ms("2026/11/11 10:00", SH) == ten
    assert instant_ms("2026年11月11日 10:00", SH) == ten
    assert instant_ms("2026-11-11T02:00:00Z", SH) == ten
    assert instant_ms("2026-11-11 03:00:00+0100", SH) == ten
    assert instant_ms(datetime(2026, 11, 11, 10), SH) == ten
    assert instant_ms(ten, SH) == ten  # epoch ms
    assert instant_ms(str(ten), SH) == ten
    assert instant_ms("2026-11-11 10:00", "UTC") == ten + 8 * 3_600_000
    for bad in ("昨天", "2026-13-01", "10:00"):
        with pytest.raises(ValueError):
            instant_ms(bad, SH)


def test_a_row_becomes_a_wire_event() -> None:
    m = mapping(order_id="订单号", ts="时间")
    cells = ["A1", "12.50", "张姐", "g1", " b1 ", "", "2026-11-11 10:00"]
    assert row_event(m, cells) == {
        "type": "order",
        "order_id": "A1",
        "amount_fen": 1250,
        "seller_id": "张姐",
        "group_id": "g1",
        "buyer_id": "b1",
        "product_id": "rice",
        "ts": 1_794_362_400_000,
    }
    # numbers from a workbook are ids without ".0"
    assert row_event(m, [20261111001.0, 5, "s", "g", "b", "", None])["order_id"] == "20261111001"
    with pytest.raises(RowError, match=r"amount_fen \(金额\(元\)\): .*more decimals"):
        row_event(m, ["A1", "1.234", "s", "g", "b"])
    assert locate(m, "buyer_id: is required") == "buyer_id (买家): is required"
    assert locate(m, "product_id: is required") == "product_id: is required"  # a constant


def test_without_an_id_column_the_row_is_its_identity() -> None:
    m = mapping()
    a = row_event(m, ["x", "12.5", "s", "g", "b"])
    # the same cells as text or as workbook values, trailing empties or not: the same id
    b = row_event(m, ["x", 12.5, "s", "g", "b", None, ""])
    c = row_event(m, ["x", "12.5", "s", "g", "b2"])
    assert a["order_id"] == b["order_id"] != c["order_id"]
    assert a["order_id"] == row_identity(["x", "12.5", "s", "g", "b"])
    assert a["order_id"].startswith("row-")


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (
            {"type": "order", "columns": {**BASE, "buyer_id": "买家昵称"}},
            "unknown column '买家昵称'",
        ),
        (
            {"type": "order", "columns": {**BASE, "colour": "群"}},
            "'colour' is not a field of order",
        ),
        ({"type": "order", "columns": {"order_id": "订单号"}}, "amount_fen is required"),
        ({"type": "gift", "columns": BASE}, "mapping.type"),
        (
            {"type": "order", "columns": {**BASE, "seller_id": {"column": "团长", "scale": 100}}},
            "only amount_fen",
        ),
        (
            {
                "type": "order",
                "columns": {**BASE, "amount_fen": {"column": "金额(元)", "scale": 0}},
            },
            "scale",
        ),
        ({"type": "order", "columns": {**BASE, "group_id": {"const": None}}}, "const"),
        ([], "JSON object"),
    ],
)
def test_a_wrong_mapping_names_what_to_fix(raw: object, error: str) -> None:
    with pytest.raises(MappingError, match=error.replace("(", r"\(").replace(")", r"\)")):
        parse_mapping(raw, HEADER, SH)


def test_a_column_named_twice_is_ambiguous() -> None:
    with pytest.raises(MappingError, match="appears 2 times"):
        parse_mapping({"type": "order", "columns": BASE}, [*HEADER, "团长"], SH)
