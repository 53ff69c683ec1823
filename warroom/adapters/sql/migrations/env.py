"""Alembic's environment for Warroom: always run with a connection handed over by
warroom.adapters.sql.migrations.migrate (under its lock), never from an ini file's URL."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlmodel.sql.sqltypes import AutoString

from warroom.adapters.sql.migrations import target_metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through `warroom migrate` (warroom.adapters.sql.migrations.migrate)"
    )


def render_item(kind: str, obj: Any, _ctx: Any) -> str | Literal[False]:
    """New revisions say sa.String, not SQLModel's AutoString (revisions import only
    sqlalchemy and alembic, so they never depend on the models' library)."""
    if kind == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


context.configure(
    connection=connection,
    target_metadata=target_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",  # ALTER on SQLite: copy-and-move
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
