"""The pure rules behind input windows and conflicts (core/ingest/events.py)."""

from __future__ import annotations

import pytest

from warroom.core.ingest.events import (
    AHEAD_MS,
    DAY_MS,
    EventError,
    differing_fields,
    normalize,
    ts_window,
)

STARTS, ENDS = 1_794_362_400_000, 1_794_362_400_000 + 7 * 3_600_000


def order(**kw: object) -> dict[str, object]:
    base = {
        "type": "order",
        "order_id": "o1",
        "amount_fen": 100,
        "seller_id": "s",
        "group_id": "g",
        "buyer_id": "b",
        "product_id": "p",
    }
    return {**base, **kw}


@pytest.mark.parametrize(
    ("now", "ts", "ok"),
    [
        (STARTS, STARTS - DAY_MS, True),
        (STARTS, STARTS - DAY_MS - 1, False),
        (STARTS, STARTS + AHEAD_MS, True),
        (STARTS, STARTS + AHEAD_MS + 1, False),  # ahead of the clock
        (ENDS + 10 * DAY_MS, ENDS + DAY_MS, True),  # long over: ends_at + 1 day
        (ENDS + 10 * DAY_MS, ENDS + DAY_MS + 1, False),
        (STARTS - 3 * DAY_MS, STARTS - DAY_MS, False),  # not even open: nothing fits
        (STARTS, 0, False),
        (STARTS, 10**14 - 1, False),
    ],
)
def test_window(now: int, ts: int, ok: bool) -> None:
    window = ts_window(STARTS, ENDS, now, "Asia/Shanghai")
    if ok:
        assert normalize(order(ts=ts), now, window)["ts"] == ts
    else:
        with pytest.raises(EventError, match="^ts: "):
            normalize(order(ts=ts), now, window)


def test_stamped_ts_is_not_checked() -> None:
    window = ts_window(STARTS, ENDS, ENDS + 10 * DAY_MS)
    assert normalize(order(), ENDS + 10 * DAY_MS, window)["ts"] == ENDS + 10 * DAY_MS


@pytest.mark.parametrize(
    ("stored", "sent", "compare_ts", "diff"),
    [
        (order(ts=1), order(ts=1), True, []),
        (order(ts=1, quantity=1), order(ts=1), True, []),  # the default is the same
        (order(ts=1), order(ts=2), True, ["ts"]),
        (order(ts=1), order(ts=2), False, []),  # a stamp differs on every retry
        (order(ts=1), order(ts=1, amount_fen=5), True, ["amount_fen"]),
        (order(ts=1), order(ts=1, seller_name="A"), True, ["seller_name"]),
        (order(ts=1, seller_name="A"), order(ts=1), True, ["seller_name"]),
    ],
)
def test_differing_fields(stored: dict, sent: dict, compare_ts: bool, diff: list) -> None:
    a = normalize(stored, 1)
    b = normalize(sent, 2)
    a["lid"] = 7  # the ledger id is bookkeeping, never a difference
    assert differing_fields(a, b, compare_ts) == diff
