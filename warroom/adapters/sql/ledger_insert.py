"""The ledger insert: one multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING` per
chunk of a batch, in the driver's own SQL.

SQLAlchemy's `insertmanyvalues` builds the same kind of statement, but spends Python
time per row on it (parameter dicts, bind processors, a compiled parameter set per
row): profiled under batched ingest, about as much CPU as SQLite's own work. Here a
row is a tuple, the statement for a given chunk size is built once, and only the
identities actually inserted come back (a present one is skipped by the database,
as before: the caller then reads its stored body to tell a duplicate from a conflict).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

# Bound parameters per statement stay under SQLite's old default limit of 999 (6 a row;
# `relayed` is a literal). PostgreSQL takes the rows as six arrays (`_PG_UNNEST`): six
# parameters whatever the number of rows. A statement with thousands of `%s` was
# parsed again in Python by psycopg at every call (it caches only statements of at
# most 50 parameters): 64% of the web process's CPU under batched ingest, profiled;
# measured alone, 17–29 µs of client CPU a row, against 2.4–3.5 µs this way.
ROWS_PER_STATEMENT = {"sqlite": 160, "postgresql": 5000}
_COLUMNS = ("campaign_id", "key", "type", "ts_ms", "received_ms", "body")
# `%b`: the arrays go in binary; in text format psycopg escapes every element of every
# array in Python (the bodies' quotes), which cost as much as the long statement did.
_PG_UNNEST = (
    'INSERT INTO ledger_event ("campaign_id", "key", "type", "ts_ms", "received_ms", "body", '
    '"relayed") SELECT c, k, t, ts, r, b, false FROM unnest(%b::integer[], %b::text[], '
    "%b::text[], %b::bigint[], %b::bigint[], %b::text[]) AS u(c, k, t, ts, r, b) "
    'ON CONFLICT ("campaign_id", "key") DO NOTHING RETURNING "id", "campaign_id", "key"'
)


@cache
def insert_sql(dialect: str, rows: int) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    false = "0" if dialect == "sqlite" else "false"
    one = "(" + ", ".join([mark] * len(_COLUMNS)) + f", {false})"
    names = ", ".join(f'"{c}"' for c in _COLUMNS)
    return (
        f'INSERT INTO ledger_event ({names}, "relayed") VALUES {", ".join([one] * rows)} '
        'ON CONFLICT ("campaign_id", "key") DO NOTHING RETURNING "id", "campaign_id", "key"'
    )


def insert_rows(
    conn: Any, dialect: str, rows: Sequence[dict[str, Any]]
) -> dict[tuple[int, str], int]:
    """Insert ledger rows (dicts with `_COLUMNS`) on `conn`, inside the caller's
    transaction; the ledger id of each row inserted, by (campaign_id, key). Rows must
    be distinct by identity (the writer keeps the first of an identity sent twice)."""
    inserted: dict[tuple[int, str], int] = {}
    step = ROWS_PER_STATEMENT.get(dialect, 160)
    for i in range(0, len(rows), step):
        chunk = rows[i : i + step]
        if dialect == "postgresql":
            columns = tuple([r[c] for r in chunk] for c in _COLUMNS)
            result = conn.exec_driver_sql(_PG_UNNEST, columns)
        else:
            params: list[Any] = []
            for r in chunk:
                params += (r["campaign_id"], r["key"], r["type"], r["ts_ms"], r["received_ms"], r["body"])  # fmt: skip
            result = conn.exec_driver_sql(insert_sql(dialect, len(chunk)), tuple(params))
        for lid, cid, key in result:
            inserted[(cid, key)] = lid
    return inserted
