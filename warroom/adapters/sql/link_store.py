"""The scoped links of the campaigns (table `campaign_link`): created, listed, found by
the keyed hash of their token, revoked, and their last use recorded (throttled by the
caller, services/links.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import col

from warroom.adapters.sql.tables import LinkRow
from warroom.core.links import LinkRecord


def _record(row: Any) -> LinkRecord:
    return LinkRecord(
        id=row.id,
        campaign_id=row.campaign_id,
        kind=row.kind,
        masked=bool(row.masked),
        seller_id=row.seller_id,
        label=row.label,
        created_at_ms=row.created_at_ms,
        expires_at_ms=row.expires_at_ms,
        revoked_at_ms=row.revoked_at_ms,
        last_used_ms=row.last_used_ms,
    )


class LinkStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        campaign_id: int,
        *,
        kind: str,
        masked: bool,
        seller_id: str | None,
        label: str,
        token_hash: str,
        created_at_ms: int,
        expires_at_ms: int | None,
    ) -> LinkRecord:
        values = {
            "campaign_id": campaign_id,
            "kind": kind,
            "masked": masked,
            "seller_id": seller_id,
            "label": label,
            "token_hash": token_hash,
            "created_at_ms": created_at_ms,
            "expires_at_ms": expires_at_ms,
        }
        with self.engine.begin() as conn:
            result = conn.execute(LinkRow.__table__.insert().values(**values))
            (new_id,) = result.inserted_primary_key or (None,)
            row = conn.execute(select(LinkRow.__table__).where(col(LinkRow.id) == new_id)).one()
        return _record(row)

    def by_hash(self, token_hash: str) -> LinkRecord | None:
        """The link whose token hashes to `token_hash` (an index lookup: the hash is the
        key, no token is compared byte by byte)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(LinkRow.__table__).where(col(LinkRow.token_hash) == token_hash)
            ).first()
        return None if row is None else _record(row)

    def list(self, campaign_id: int) -> list[LinkRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LinkRow.__table__)
                .where(col(LinkRow.campaign_id) == campaign_id)
                .order_by(col(LinkRow.id))
            ).all()
        return [_record(r) for r in rows]

    def revoke(self, campaign_id: int, link_id: int, at_ms: int) -> LinkRecord | None:
        """Revoke a link of this campaign (once: a second revoke keeps the first time).
        None when the campaign has no such link."""
        with self.engine.begin() as conn:
            conn.execute(
                update(LinkRow)
                .where(
                    col(LinkRow.id) == link_id,
                    col(LinkRow.campaign_id) == campaign_id,
                    col(LinkRow.revoked_at_ms).is_(None),
                )
                .values(revoked_at_ms=at_ms)
            )
            row = conn.execute(
                select(LinkRow.__table__).where(
                    col(LinkRow.id) == link_id, col(LinkRow.campaign_id) == campaign_id
                )
            ).first()
        return None if row is None else _record(row)

    def touch(self, used: dict[int, int]) -> None:
        """Record last uses, link id -> epoch ms (one statement per link, one commit)."""
        if not used:
            return
        with self.engine.begin() as conn:
            for link_id, at_ms in used.items():
                conn.execute(
                    update(LinkRow).where(col(LinkRow.id) == link_id).values(last_used_ms=at_ms)
                )
