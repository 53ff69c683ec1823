"""Sources and their recent deliveries (the newest KEEP per source)."""

from __future__ import annotations

import builtins
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from warroom.adapters.sql.tables import SourceDeliveryRow, SourceRow

KEEP = 50


@dataclass(frozen=True)
class Source:
    id: str
    campaign_id: int
    slug: str
    kind: str
    name: str
    config: dict[str, Any]
    created_at_ms: int


@dataclass(frozen=True)
class Delivery:
    at_ms: int
    status: int
    outcome: str
    accepted: int = 0
    duplicates: int = 0
    rejected: tuple[dict[str, Any], ...] = ()
    note: str = ""


def _source(row: Any) -> Source:
    m = row._mapping
    return Source(
        m["id"],
        m["campaign_id"],
        m["slug"],
        m["kind"],
        m["name"],
        orjson.loads(m["config_json"]),
        m["created_at_ms"],
    )


class SourceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self, campaign_id: int, slug: str, kind: str, name: str, config: dict[str, Any], now_ms: int
    ) -> str:
        new_id = "src_" + secrets.token_urlsafe(18)  # the URL's path: not guessable
        with self.engine.begin() as conn:
            conn.execute(
                SourceRow.__table__.insert().values(
                    id=new_id,
                    campaign_id=campaign_id,
                    slug=slug,
                    kind=kind,
                    name=name,
                    config_json=orjson.dumps(config).decode(),
                    created_at_ms=now_ms,
                )
            )
        return new_id

    def get(self, source_id: str) -> Source | None:
        t = SourceRow.__table__
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == source_id)).first()
        return None if row is None else _source(row)

    def list(self, campaign_id: int) -> list[Source]:
        t = SourceRow.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t).where(t.c.campaign_id == campaign_id).order_by(t.c.created_at_ms, t.c.id)
            )
            return [_source(r) for r in rows]

    def delete(self, campaign_id: int, source_id: str) -> bool:
        t, d = SourceRow.__table__, SourceDeliveryRow.__table__
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(t).where(t.c.id == source_id, t.c.campaign_id == campaign_id)
            ).rowcount
            if gone:
                conn.execute(delete(d).where(d.c.source_id == source_id))
        return bool(gone)

    def record(self, source_id: str, delivery: Delivery) -> None:
        """One delivery, and the source's log cut to its newest KEEP."""
        d = SourceDeliveryRow.__table__
        with self.engine.begin() as conn:
            conn.execute(
                d.insert().values(
                    source_id=source_id,
                    at_ms=delivery.at_ms,
                    status=delivery.status,
                    outcome=delivery.outcome,
                    accepted=delivery.accepted,
                    duplicates=delivery.duplicates,
                    rejected_json=orjson.dumps(list(delivery.rejected[:100])).decode(),
                    note=delivery.note[:500],
                )
            )
            oldest = select(d.c.id).where(d.c.source_id == source_id).order_by(d.c.id.desc())
            cut = conn.execute(oldest.offset(KEEP).limit(1)).scalar()
            if cut is not None:
                conn.execute(delete(d).where(d.c.source_id == source_id, d.c.id <= cut))

    def deliveries(self, source_id: str, limit: int = KEEP) -> builtins.list[Delivery]:
        d = SourceDeliveryRow.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(d).where(d.c.source_id == source_id).order_by(d.c.id.desc()).limit(limit)
            )
            return [
                Delivery(
                    r.at_ms,
                    r.status,
                    r.outcome,
                    r.accepted,
                    r.duplicates,
                    tuple(orjson.loads(r.rejected_json)),
                    r.note,
                )
                for r in rows
            ]
