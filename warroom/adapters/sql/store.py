"""SQL via SQLModel: campaigns and the durable event ledger (the source of truth).

Synchronous on purpose: the web process calls it from one writer thread, so SQLite
sees one writer path; PostgreSQL takes the same statements.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine

from warroom.adapters.sql.campaign_store import CampaignQueries, SlugTaken
from warroom.adapters.sql.ledger_insert import insert_rows
from warroom.adapters.sql.tables import AuditRow, DeliveryRow, LedgerEvent, WebhookRow

__all__ = ["SlugTaken", "Store", "id_ranges", "oldest_unrelayed_ts"]
from warroom.core.people import current_actor


def id_ranges(ids: Sequence[int]) -> list[tuple[int, int]]:
    """[3, 1, 2, 7, 8] -> [(1, 3), (7, 8)]. Ledger ids written together are nearly
    contiguous: a few BETWEENs cost far less to build and run than an IN of thousands."""
    out: list[tuple[int, int]] = []
    for i in sorted(set(ids)):
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


class Store(CampaignQueries):
    def __init__(self, engine: Engine, write_timeout_s: float | None = None) -> None:
        self.engine = engine
        dialect = engine.dialect.name
        # PostgreSQL: a ledger write that waits longer (a lock, a stalled disk or
        # replica) is cancelled, which frees the one writer thread. SQLite's busy
        # timeout, set per connection in make_engine, does the same there.
        self._pg_write_timeout_ms = (
            max(1, int(write_timeout_s * 1000))
            if write_timeout_s and dialect == "postgresql"
            else None
        )

    def create_schema(self) -> None:
        """Bring the schema to the newest migration, once, under a lock (any number of
        processes may call this together; see warroom/migrations)."""
        from warroom.adapters.sql.migrations import migrate

        migrate(self.engine)

    def drop_schema(self) -> None:
        """Every table and the migration history (tests start from nothing)."""
        from warroom.adapters.sql.migrations import drop_everything

        drop_everything(self.engine)

    def audit(self, campaign_id: int, at_ms: int, action: str, detail: dict[str, Any]) -> None:
        """One audit row, stamped with the actor of the request (or command) running
        now (core/people.py `current_actor`)."""
        actor = current_actor()
        row = {
            "campaign_id": campaign_id,
            "at_ms": at_ms,
            "action": action,
            "detail_json": orjson.dumps(detail).decode(),
            "actor": actor.label[:300],
            "actor_kind": actor.kind,
        }
        with self.engine.begin() as conn:
            conn.execute(AuditRow.__table__.insert().values(**row))

    def audit_log(self, campaign_id: int, limit: int = 100) -> list[dict[str, Any]]:
        return self.audit_query(campaign_id=campaign_id, limit=limit)

    def audit_query(
        self,
        *,
        campaign_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        since_ms: int | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """Audit rows, newest first, filtered by campaign, actor, kind and time."""
        t = AuditRow.__table__
        q = select(t)
        if campaign_id is not None:
            q = q.where(t.c.campaign_id == campaign_id)
        if actor:
            q = q.where(t.c.actor == actor)
        if action:
            q = q.where(t.c.action == action)
        if since_ms is not None:
            q = q.where(t.c.at_ms >= since_ms)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(t.c.id.desc()).limit(limit)).all()
        return [
            {
                "id": r.id,
                "campaign_id": r.campaign_id,
                "at_ms": r.at_ms,
                "action": r.action,
                "detail": orjson.loads(r.detail_json),
                "actor": r.actor,
                "actor_kind": r.actor_kind,
            }
            for r in rows
        ]

    def audit_actors(self) -> list[str]:
        """Every actor named in the audit (the console's filter)."""
        t = AuditRow.__table__
        with self.engine.connect() as conn:
            return list(conn.execute(select(t.c.actor).distinct().order_by(t.c.actor)).scalars())

    def delete_webhook(self, campaign_id: int, webhook_id: int) -> bool:
        """Remove a webhook target of this campaign and its queued deliveries."""

        w, d = WebhookRow.__table__, DeliveryRow.__table__
        with self.engine.begin() as conn:
            gone = conn.execute(
                w.delete().where(w.c.id == webhook_id, w.c.campaign_id == campaign_id)
            ).rowcount
            if gone:
                conn.execute(d.delete().where(d.c.webhook_id == webhook_id))
        return bool(gone)

    # ledger

    def append(
        self, rows: Sequence[dict[str, Any]], mark_relayed: Sequence[int] = ()
    ) -> dict[tuple[int, str], int]:
        """Insert ledger rows (`campaign_id`, `key`, `type`, `ts_ms`, `received_ms`,
        `body`); identities already present are skipped. Returns the ledger id of each
        row actually inserted, by (campaign_id, key). One transaction, which also marks
        earlier rows as relayed so that bookkeeping costs no commit of its own."""
        return self.append_checked(rows, mark_relayed)[0]

    def append_checked(
        self, rows: Sequence[dict[str, Any]], mark_relayed: Sequence[int] = ()
    ) -> tuple[dict[tuple[int, str], int], dict[tuple[int, str], str]]:
        """`append`, plus the stored body of every identity that was already present,
        read in the same transaction, so the caller can tell a plain re-send (same
        fields: a duplicate) from a conflicting one."""
        table = LedgerEvent.__table__
        inserted: dict[tuple[int, str], int] = {}
        existing: dict[tuple[int, str], str] = {}
        with self.engine.begin() as conn:
            if self._pg_write_timeout_ms:
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {self._pg_write_timeout_ms}")
            if rows:
                inserted = insert_rows(conn, self.engine.dialect.name, rows)
                if len(inserted) < len(rows):
                    existing = self._bodies(
                        conn, [(r["campaign_id"], r["key"]) for r in rows], inserted
                    )
            if mark_relayed:
                ranges = id_ranges(mark_relayed)
                for i in range(0, len(ranges), 200):
                    cond = or_(*(table.c.id.between(a, b) for a, b in ranges[i : i + 200]))
                    conn.execute(update(table).where(cond).values(relayed=True))
        return inserted, existing

    @staticmethod
    def _bodies(
        conn: Any, idents: list[tuple[int, str]], skip: dict[tuple[int, str], int]
    ) -> dict[tuple[int, str], str]:
        table = LedgerEvent.__table__
        wanted: dict[int, list[str]] = {}
        for cid, key in dict.fromkeys(idents):
            if (cid, key) not in skip:
                wanted.setdefault(cid, []).append(key)
        out: dict[tuple[int, str], str] = {}
        for cid, keys in wanted.items():
            for i in range(0, len(keys), 500):
                found = conn.execute(
                    select(table.c.key, table.c.body).where(
                        table.c.campaign_id == cid, table.c.key.in_(keys[i : i + 500])
                    )
                )
                for key, body in found:
                    out[(cid, key)] = body
        return out

    def mark_relayed(self, ids: Sequence[int]) -> None:
        if ids:
            self.append([], ids)

    def unrelayed(self, received_before_ms: int, limit: int = 5000) -> list[tuple[int, int, str]]:
        """(id, campaign_id, body) of rows that may not have reached their stream."""
        table = LedgerEvent.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(table.c.id, table.c.campaign_id, table.c.body)
                .where(table.c.relayed == False, table.c.received_ms < received_before_ms)  # noqa: E712
                .order_by(table.c.id)
                .limit(limit)
            ).all()
        return [tuple(r) for r in rows]

    def iter_ledger(self, campaign_id: int, chunk: int = 5000) -> Iterator[list[dict[str, Any]]]:
        """The whole ledger of a campaign in id order, as normalized events with `lid`."""
        table = LedgerEvent.__table__
        after = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(table.c.id, table.c.body)
                    .where(table.c.campaign_id == campaign_id, table.c.id > after)
                    .order_by(table.c.id)
                    .limit(chunk)
                ).all()
            if not rows:
                return
            batch = []
            for lid, body in rows:
                e = orjson.loads(body)
                e["lid"] = lid
                batch.append(e)
            after = rows[-1][0]
            yield batch

    def sales_between(
        self, campaign_id: int, from_ms: int, to_ms: int, chunk: int = 5000
    ) -> Iterator[list[dict[str, Any]]]:
        """Orders and refunds with `from_ms <= ts < to_ms`, as normalized events, in
        chunks: what a stimulus's hosts and effect are read from (a window of the
        ledger, never the whole of it in memory)."""
        table = LedgerEvent.__table__
        after = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(table.c.id, table.c.body)
                    .where(
                        table.c.campaign_id == campaign_id,
                        table.c.id > after,
                        table.c.type.in_(("order", "refund")),
                        table.c.ts_ms >= from_ms,
                        table.c.ts_ms < to_ms,
                    )
                    .order_by(table.c.id)
                    .limit(chunk)
                ).all()
            if not rows:
                return
            yield [orjson.loads(body) for _, body in rows]
            after = rows[-1][0]

    def events_by_key(self, campaign_id: int, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The normalized events of these identities ("order:<id>", …) that exist, by
        key: a refund's order, to know its group (a handful per call)."""
        with self.engine.connect() as conn:
            found = self._bodies(conn, [(campaign_id, k) for k in keys], {})
        return {key: orjson.loads(body) for (_, key), body in found.items()}

    def count_events(self, campaign_id: int) -> int:
        from sqlalchemy import func

        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(LedgerEvent.__table__)
                .where(LedgerEvent.__table__.c.campaign_id == campaign_id)
            ).scalar_one()

    # health

    def ping(self) -> None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def probe_write(self) -> None:
        """Raises unless a ledger write could start now: SQLite takes (and releases) its
        write lock, so a locked database fails here while a read still passes;
        PostgreSQL opens a read-write transaction (a standby or read-only server refuses
        it) and asks, without waiting, for the lock an insert into the ledger takes (an
        exclusive lock held by another writer refuses it)."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                conn.exec_driver_sql("ROLLBACK")
            else:
                conn.exec_driver_sql("SET TRANSACTION READ WRITE")
                table = LedgerEvent.__tablename__
                conn.exec_driver_sql(f"LOCK TABLE {table} IN ROW EXCLUSIVE MODE NOWAIT")
                conn.rollback()

    def oldest_unrelayed_ms(self) -> int | None:
        """When the oldest ledger row that has not reached its stream was received."""
        from sqlalchemy import func

        table = LedgerEvent.__table__
        with self.engine.connect() as conn:
            oldest: int | None = conn.execute(  # MIN() of a BIGINT column, NULL when none
                select(func.min(table.c.received_ms)).where(table.c.relayed == False)  # noqa: E712
            ).scalar_one()
            return oldest


def oldest_unrelayed_ts(engine: Engine, campaign_id: int) -> int | None:
    """The campaign time of the oldest ledger event not yet on the stream (the
    watermark stops before it), or None."""
    t = LedgerEvent.__table__
    with engine.connect() as conn:
        oldest: int | None = conn.execute(  # MIN() of a BIGINT column, NULL when none
            select(func.min(t.c.ts_ms)).where(
                t.c.relayed == False,  # noqa: E712  (the partial index)
                t.c.campaign_id == campaign_id,
            )
        ).scalar_one()
        return oldest


def oldest_unrelayed_many(engine: Engine, campaign_ids: Sequence[int]) -> dict[int, int]:
    """`oldest_unrelayed_ts` of many campaigns in one query (the partial index holds only
    the rows not yet relayed, so this reads those, not the ledger): campaigns with none
    are absent."""
    if not campaign_ids:
        return {}
    t = LedgerEvent.__table__
    wanted = set(campaign_ids)
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.campaign_id, func.min(t.c.ts_ms))
            .where(t.c.relayed == False)  # noqa: E712  (the partial index)
            .group_by(t.c.campaign_id)
        ).all()
    return {cid: ts for cid, ts in rows if cid in wanted}
