"""Campaign rows: created, listed, their settings and token hashes (a part of Store)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from warroom.adapters.sql.tables import CampaignRow
from warroom.core.campaign import CampaignSettings
from warroom.core.records import CampaignRecord


class SlugTaken(Exception):
    pass


def record_of(row: Any) -> CampaignRecord:
    return CampaignRecord(
        id=row.id,
        settings=CampaignSettings.model_validate_json(row.settings_json, strict=False),
        ingest_token_hash=row.ingest_token_hash,
        viewer_token_hash=row.viewer_token_hash,
        created_at_ms=row.created_at_ms,
    )


class CampaignQueries:
    """Store's campaign methods (adapters/sql/store.py mixes them in)."""

    engine: Engine

    def create_campaign(
        self, settings: CampaignSettings, ingest_hash: str, viewer_hash: str, created_at_ms: int
    ) -> CampaignRecord:
        row = {
            "slug": settings.slug,
            "settings_json": settings.model_dump_json(),
            "ingest_token_hash": ingest_hash,
            "viewer_token_hash": viewer_hash,
            "created_at_ms": created_at_ms,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(CampaignRow.__table__.insert().values(**row))
        except IntegrityError:
            raise SlugTaken(settings.slug) from None
        found = self.get_campaign(settings.slug)
        assert found is not None
        return found

    def update_settings(self, slug: str, settings: CampaignSettings) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(CampaignRow)
                .where(col(CampaignRow.slug) == slug)
                .values(settings_json=settings.model_dump_json())
            )

    def update_tokens(
        self, slug: str, *, ingest_hash: str | None = None, viewer_hash: str | None = None
    ) -> None:
        values = {}
        if ingest_hash is not None:
            values["ingest_token_hash"] = ingest_hash
        if viewer_hash is not None:
            values["viewer_token_hash"] = viewer_hash
        if values:
            with self.engine.begin() as conn:
                conn.execute(
                    update(CampaignRow).where(col(CampaignRow.slug) == slug).values(**values)
                )

    def get_campaign(self, slug: str) -> CampaignRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(CampaignRow).where(col(CampaignRow.slug) == slug)).first()
        return record_of(row) if row else None

    def settings_of(self, campaign_id: int) -> CampaignSettings | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(CampaignRow).where(col(CampaignRow.id) == campaign_id)
            ).first()
        return record_of(row).settings if row is not None else None

    def list_campaigns(
        self, cache: dict[int, tuple[tuple[str, str, str], CampaignRecord]] | None = None
    ) -> list[CampaignRecord]:
        """Every campaign. With a `cache` (kept by the caller between calls), a row whose
        settings and tokens are unchanged reuses its record instead of parsing again."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(CampaignRow).order_by(col(CampaignRow.id))).all()
        if cache is None:
            return [record_of(r) for r in rows]
        out: list[CampaignRecord] = []
        for r in rows:
            text = (r.settings_json, r.ingest_token_hash, r.viewer_token_hash)
            known = cache.get(r.id)
            if known is None or known[0] != text:
                known = cache[r.id] = (text, record_of(r))
            out.append(known[1])
        for gone in cache.keys() - {r.id for r in rows}:
            del cache[gone]
        return out

    def campaign_census(self) -> tuple[int, int]:
        """(how many campaigns, the newest id): a cheap look for campaigns created or
        removed since the last listing."""
        with self.engine.connect() as conn:
            n, newest = conn.execute(
                select(func.count(col(CampaignRow.id)), func.max(col(CampaignRow.id)))
            ).one()
        return int(n), int(newest or 0)
