"""Relayed marks on the ledger (real database): the relay must resend exactly the rows
that never reached their stream, no more (wasted work) and no fewer (lost events)."""

from __future__ import annotations

from warroom.adapters.sql.engine import make_engine
from warroom.adapters.sql.store import Store, id_ranges
from warroom.settings import Settings


def test_id_ranges_cover_exactly_the_ids() -> None:
    assert id_ranges([]) == []
    assert id_ranges([3, 1, 2, 7, 8, 8, 10]) == [(1, 3), (7, 8), (10, 10)]
    ids = [i for i in range(1, 5000) if i % 97 != 0]
    assert [i for a, b in id_ranges(ids) for i in range(a, b + 1)] == ids


def test_marked_rows_are_not_resent_and_the_rest_are(settings: Settings) -> None:
    store = Store(make_engine(settings.effective_database_url))
    cid = 1
    rows = [
        {"campaign_id": cid, "key": f"o{i}", "type": "order", "ts_ms": 0, "received_ms": 0,
         "body": "{}"}
        for i in range(1200)
    ]  # fmt: skip
    ids = sorted(store.append(rows).values())
    assert len(ids) == 1200
    assert len(id_ranges([i for i in ids if i not in set(ids[::5])])) > 200
    skipped = set(ids[::5]) | set(ids[500:520])  # holes: many ranges, more than one chunk
    store.mark_relayed([i for i in ids if i not in skipped])
    left = [r[0] for r in store.unrelayed(received_before_ms=1)]
    assert left == sorted(skipped)
    store.engine.dispose()
