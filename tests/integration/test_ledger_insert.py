"""The ledger's multi-row insert (adapters/sql/ledger_insert.py) on the real database
and, through the one writer, on real Redis: every row of a batch longer than one
statement is inserted once; an identity already present is skipped and its stored
body read back; and the answers stay exact: an identity twice in one batch, a re-send
of an earlier batch, and a conflicting re-send."""

from __future__ import annotations

from typing import Any

import orjson

from warroom.adapters.redis import keys
from warroom.adapters.redis.client import redis_client
from warroom.adapters.redis.streams import EventStream
from warroom.adapters.sql.engine import make_engine
from warroom.adapters.sql.ledger_insert import ROWS_PER_STATEMENT
from warroom.adapters.sql.store import Store
from warroom.services.ledger import DUPLICATE, NEW, LedgerWriter
from warroom.settings import Settings

T0 = 1_794_362_400_000


def row(cid: int, key: str, amount: int = 100) -> dict[str, Any]:
    body = {"type": "order", "key": key, "ts": T0, "amount_fen": amount}
    return {"campaign_id": cid, "key": key, "type": "order", "ts_ms": T0, "received_ms": T0,
            "body": orjson.dumps(body).decode()}  # fmt: skip


def test_a_batch_longer_than_a_statement_is_inserted_once(settings: Settings) -> None:
    store = Store(make_engine(settings.effective_database_url))
    try:
        n = max(ROWS_PER_STATEMENT.values()) * 2 + 7  # several statements, a short last one
        rows = [row(1, f"order:a{i}") for i in range(n)] + [row(2, "order:a0")]
        inserted, existing = store.append_checked(rows)
        assert set(inserted) == {(r["campaign_id"], r["key"]) for r in rows}
        assert len(set(inserted.values())) == n + 1  # a ledger id each
        assert existing == {}
        # A later batch: three present (one of another campaign's key), two new.
        again = [row(1, "order:a5", 999), row(1, "order:b1"), row(2, "order:a0"),
                 row(1, f"order:a{n - 1}"), row(2, "order:b1")]  # fmt: skip
        inserted2, existing2 = store.append_checked(again)
        assert set(inserted2) == {(1, "order:b1"), (2, "order:b1")}
        assert min(inserted2.values()) > max(inserted.values())
        assert set(existing2) == {(1, "order:a5"), (2, "order:a0"), (1, f"order:a{n - 1}")}
        assert orjson.loads(existing2[(1, "order:a5")])["amount_fen"] == 100  # the stored one
        # Nothing was written twice, and the new rows wait for the relay.
        assert len(store.unrelayed(received_before_ms=T0 + 1, limit=100_000)) == n + 3
    finally:
        store.engine.dispose()


def order(n: str, amount: int = 100, ts: int | None = T0) -> dict[str, Any]:
    return {"type": "order", "key": f"order:{n}", "ts": ts, "amount_fen": amount}


async def test_the_writer_answers_exactly_over_the_multi_row_insert(settings: Settings) -> None:
    store = Store(make_engine(settings.effective_database_url))
    r = redis_client(str(settings.redis_url))
    stream = EventStream(r)
    writer = LedgerWriter(store, stream)
    await writer.start()
    try:
        await stream.register("ins")
        first = [order("o1"), order("o2"), order("o1"), order("o3"), order("o3", amount=7)]
        got = await writer.submit(1, "ins", first, received_ms=T0)
        assert got[:4] == [NEW, NEW, DUPLICATE, NEW]
        assert got[4].startswith(
            "conflict: order 'o3' was already recorded with a different amount_fen"
        )  # noqa: E501
        later = [order("o2"), order("o1", amount=5), order("o4")]
        got = await writer.submit(1, "ins", later, received_ms=T0 + 10)
        assert got[0] == DUPLICATE and got[2] == NEW
        assert got[1].startswith(
            "conflict: order 'o1' was already recorded with a different amount_fen"
        )  # noqa: E501
        # A re-send stamped on arrival (no `ts` of its own) is the same event.
        got = await writer.submit(1, "ins", [order("o4", ts=T0 + 99)], T0 + 99, stamped={0})
        assert got == [DUPLICATE]
        # The stream holds each new event once, with its ledger id, in two entries.
        entries = await r.xrange(keys.stream("ins"))
        sent = [e for _, fields in entries for e in orjson.loads(fields[b"e"])]
        assert [e["key"] for e in sent] == ["order:o1", "order:o2", "order:o3", "order:o4"]
        assert len({e["lid"] for e in sent}) == 4
        assert int(await r.get(keys.pending_events("ins")) or 0) == 4
    finally:
        await writer.stop()
        await r.aclose()
        store.engine.dispose()
