"""Import runs (their progress and results) and the ledger look-up a dry run needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select, update

from warroom.adapters.sql.tables import ImportRunRow, LedgerEvent

_COLUMNS = (
    "id",
    "campaign_id",
    "filename",
    "dry_run",
    "state",
    "started_ms",
    "finished_ms",
    "scanned",
    "rows",
    "accepted",
    "duplicates",
    "rejected_count",
    "rejected_json",
    "stopped_json",
    "error",
)


class ImportStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(self, campaign_id: int, filename: str, dry_run: bool, at_ms: int) -> int:
        table = ImportRunRow.__table__
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(table).values(
                    campaign_id=campaign_id,
                    filename=filename[:200],
                    dry_run=dry_run,
                    state="running",
                    started_ms=at_ms,
                    scanned=0,
                    rows=0,
                    accepted=0,
                    duplicates=0,
                    rejected_count=0,
                    rejected_json="[]",
                    stopped_json="null",
                    error="",
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def progress(self, run_id: int, **figures: Any) -> None:
        """Update a run: counts while it runs; `state`, `finished_ms`, the rejections and
        the stop when it ends (lists and dicts are stored as JSON)."""
        values = {
            (k + "_json" if k in ("rejected", "stopped") else k): (
                orjson.dumps(v).decode() if k in ("rejected", "stopped") else v
            )
            for k, v in figures.items()
        }
        if "error" in values:
            values["error"] = str(values["error"])[:500]
        table = ImportRunRow.__table__
        with self.engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == run_id).values(**values))

    def get(self, campaign_id: int, run_id: int) -> dict[str, Any] | None:
        table = ImportRunRow.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*(table.c[c] for c in _COLUMNS)).where(
                    table.c.id == run_id, table.c.campaign_id == campaign_id
                )
            ).first()
        return None if row is None else _run(row)

    def recent(self, campaign_id: int, limit: int = 10) -> list[dict[str, Any]]:
        table = ImportRunRow.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*(table.c[c] for c in _COLUMNS))
                .where(table.c.campaign_id == campaign_id)
                .order_by(table.c.id.desc())
                .limit(limit)
            ).all()
        return [_run(r) for r in rows]

    def recorded(self, campaign_id: int, keys: Sequence[str]) -> dict[str, str]:
        """The stored body of each of `keys` already in the campaign's ledger (read
        only: what a dry run compares with)."""
        table = LedgerEvent.__table__
        out: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        with self.engine.connect() as conn:
            for i in range(0, len(unique), 500):
                found = conn.execute(
                    select(table.c.key, table.c.body).where(
                        table.c.campaign_id == campaign_id, table.c.key.in_(unique[i : i + 500])
                    )
                )
                for key, body in found:
                    out[key] = body
        return out


def _run(row: Any) -> dict[str, Any]:
    run = dict(zip(_COLUMNS, row, strict=True))
    run["rejected"] = orjson.loads(run.pop("rejected_json"))
    run["stopped"] = orjson.loads(run.pop("stopped_json"))
    return run
