"""Read the ledger for the retrospective and the exports: in id order, in chunks, so
neither the page nor a CSV ever holds the whole ledger in memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from warroom.adapters.sql.tables import LedgerEvent

CHUNK = 5000


class LedgerRow(NamedTuple):  # a tuple: a million of them are made per scan
    lid: int
    type: str
    ts: int
    received_ms: int
    event: dict[str, Any]


class ReviewStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def rows(
        self, campaign_id: int, types: tuple[str, ...] | None = None, chunk: int = CHUNK
    ) -> Iterator[list[LedgerRow]]:
        """The ledger of a campaign, oldest id first, `chunk` rows at a time (keyset
        pagination: each chunk is its own short query, no cursor held open across a
        slow client)."""
        t = LedgerEvent.__table__
        after = 0
        cond = [t.c.campaign_id == campaign_id]
        if types:
            cond.append(t.c.type.in_(types))
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(t.c.id, t.c.type, t.c.ts_ms, t.c.received_ms, t.c.body)
                    .where(*cond, t.c.id > after)
                    .order_by(t.c.id)
                    .limit(chunk)
                ).all()
            if not rows:
                return
            after = rows[-1][0]
            yield [LedgerRow(r[0], r[1], r[2], r[3], orjson.loads(r[4])) for r in rows]

    def high_water(self, campaign_id: int) -> int:
        """The highest ledger id: the ledger only grows, so this changes whenever it does."""
        t = LedgerEvent.__table__
        with self.engine.connect() as conn:
            top = conn.execute(
                select(func.max(t.c.id)).where(t.c.campaign_id == campaign_id)
            ).scalar_one()
        return int(top or 0)
