"""SQL for what the trigger worker produces: battle reports, stimulus fires, template
overrides, webhooks and their delivery log. A unique (campaign, key) row is the
exactly-once claim: whoever inserts it first acts; everyone else sees a conflict.

A report's claim is also its outbox: the same transaction writes one delivery row per
enabled webhook target, so the deliveries exist if and only if the report does. The
screens' feeds are driven from the rows too (`written_since`, services/feeds.py)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    func,
    literal,
    literal_column,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from warroom.adapters.sql.proposal_store import (
    FIRED,
    ProposalStore,
    fire_lock,
    spent_of,
    within,
)
from warroom.adapters.sql.tables import (
    DeliveryRow,
    ReportRow,
    StimulusRow,
    TemplateRow,
    WebhookRow,
)
from warroom.core.live.shapes import ReportItem
from warroom.core.records import FireRecord, ReportRecord

# The advisory lock (two-key form: class, campaign id) a report claim takes on PostgreSQL
# to number the campaign's reports one at a time (`claim_report`). The two-key space
# does not overlap the migrations' one-key lock.
REPORT_NUMBER_LOCK = 0x5752_4E31  # "WRN1"


@dataclass(frozen=True)
class Claim:
    id: int
    won: bool


@dataclass(frozen=True)
class Written:
    """A report or fire row, as the feeds' catch-up sees it: the feed it belongs on
    (`reports` or `stimuli`), its id and its campaign."""

    feed: str
    id: int
    campaign_id: int


def queue_deliveries(
    conn: Any, campaign_id: int, report_id: int, skip_groups: Collection[str] = ()
) -> int:
    """One pending delivery of the report per enabled target of the campaign, inside
    the caller's transaction (the report is new: no (target, report) pair exists yet),
    but none for a target whose robot lives in one of `skip_groups` (a stimulus's
    held-out groups)."""
    w, d = WebhookRow.__table__, DeliveryRow.__table__
    where = [w.c.campaign_id == campaign_id, w.c.enabled == true()]
    skip = set(skip_groups)
    if skip:
        # A campaign has a handful of targets and a holdout may hold thousands of
        # groups: the targets bound to a group are read and matched here, and only
        # their ids (few) go into the statement.
        bound = conn.execute(select(w.c.id, w.c.group_id).where(*where, w.c.group_id.is_not(None)))
        skipped = [hook_id for hook_id, group in bound if group in skip]
        if skipped:
            where.append(w.c.id.not_in(skipped))
    targets = select(
        w.c.id,
        literal(report_id, BigInteger),
        literal("pending"),
        literal(0),
        literal(0, BigInteger),
        literal(""),
    ).where(*where)
    cols = ["webhook_id", "report_id", "status", "attempts", "next_at_ms", "last_error"]
    return int(conn.execute(d.insert().from_select(cols, targets)).rowcount or 0)


def report_view(row: Any, tz_render: Any) -> ReportItem:
    """A report as the API, the feeds and the frames show it: `figures` are the totals
    its text was written from (contract v2), `n` its number within the campaign (so a
    screen can say how many exist while the live feed keeps only the newest)."""
    memo = orjson.loads(row.memo_json or "{}")
    return {
        "id": row.id,
        "kind": row.kind,
        "at": tz_render(row.at_ms),
        "text": row.text,
        "figures": memo.get("figures"),
        "n": memo.get("n"),
    }


class ReportStore(ProposalStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def _claim(self, table: Any, values: dict[str, Any]) -> Claim:
        stmt = (
            self._insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["campaign_id", "key"])
            .returning(table.c.id)
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).first()
            if row:
                return Claim(row[0], True)
            existing = conn.execute(
                select(table.c.id).where(
                    table.c.campaign_id == values["campaign_id"], table.c.key == values["key"]
                )
            ).scalar_one()
        return Claim(existing, False)

    # reports

    def claim_report(
        self,
        campaign_id: int,
        key: str,
        kind: str,
        at_ms: int,
        text: str,
        memo_json: str,
        *,
        skip_groups: Collection[str] = (),
    ) -> Claim:
        """Insert the report unless its key exists. The winner also numbers it (`n` in
        its memo: how many reports the campaign has up to this one) and queues one
        delivery per enabled webhook target, in the same transaction; a target bound
        to one of `skip_groups` (the held-out groups of a stimulus's fire) gets none,
        and the delivery log never shows it for this report."""
        t = ReportRow.__table__
        stmt = (
            self._insert(t)
            .values(
                campaign_id=campaign_id,
                key=key,
                kind=kind,
                at_ms=at_ms,
                text=text,
                memo_json=memo_json,
            )
            .on_conflict_do_nothing(index_elements=["campaign_id", "key"])
            .returning(t.c.id)
        )
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Number claims one at a time per campaign. Under READ COMMITTED two
                # claims in flight at once (a worker's milestone, another's stimulus
                # report) each count the reports committed before them and miss the
                # other's uncommitted row: both got the same `n`, and the screens'
                # count (the newest `n`) could fall one short (the chaos storm on
                # PostgreSQL numbered 1..6, 6, 8). Held until commit, taken before the
                # insert, so the ids follow the same order. SQLite serializes writers.
                conn.execute(select(func.pg_advisory_xact_lock(REPORT_NUMBER_LOCK, campaign_id)))
            row = conn.execute(stmt).first()
            if row:
                n = conn.execute(
                    select(func.count())
                    .select_from(t)
                    .where(t.c.campaign_id == campaign_id, t.c.id <= row[0])
                ).scalar_one()
                memo = orjson.loads(memo_json or "{}")
                memo["n"] = int(n)
                conn.execute(
                    update(t).where(t.c.id == row[0]).values(memo_json=orjson.dumps(memo).decode())
                )
                queue_deliveries(conn, campaign_id, row[0], skip_groups)
                return Claim(row[0], True)
            existing = conn.execute(
                select(t.c.id).where(t.c.campaign_id == campaign_id, t.c.key == key)
            ).scalar_one()
        return Claim(existing, False)

    def report(self, report_id: int) -> ReportRecord | None:
        t = ReportRow.__table__
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == report_id)).first()
        return ReportRecord(**row._mapping) if row is not None else None

    def report_ids(self, campaign_id: int, keys: list[str]) -> list[int]:
        """The ids of the campaign's reports with these keys (those written)."""
        if not keys:
            return []
        t = ReportRow.__table__
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(t.c.id).where(t.c.campaign_id == campaign_id, t.c.key.in_(keys))
                ).scalars()
            )

    def count_reports(self, campaign_id: int) -> int:
        t = ReportRow.__table__
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(t).where(t.c.campaign_id == campaign_id)
                ).scalar_one()
            )

    def report_keys(self, campaign_id: int) -> set[str]:
        t = ReportRow.__table__
        with self.engine.connect() as conn:
            return set(
                conn.execute(select(t.c.key).where(t.c.campaign_id == campaign_id)).scalars()
            )

    def reports(self, campaign_id: int) -> list[ReportRecord]:
        t = ReportRow.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.campaign_id == campaign_id).order_by(t.c.id))
            return [ReportRecord(**r._mapping) for r in rows]

    def last_report(self, campaign_id: int, kinds: tuple[str, ...]) -> ReportRecord | None:
        t = ReportRow.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t)
                .where(t.c.campaign_id == campaign_id, t.c.kind.in_(kinds))
                .order_by(t.c.id.desc())
                .limit(1)
            ).first()
        return ReportRecord(**row._mapping) if row is not None else None

    def written_since(self, report_after: int, fire_after: int) -> list[Written]:
        """Reports with an id above `report_after` and fires above `fire_after`, in one
        round trip: two range reads of the primary keys (the feeds' catch-up asks for
        the rows of the last seconds, a handful)."""
        r, f = ReportRow.__table__, StimulusRow.__table__
        q = union_all(
            select(literal_column("'reports'"), r.c.id, r.c.campaign_id).where(
                r.c.id > report_after
            ),
            select(literal_column("'stimuli'"), f.c.id, f.c.campaign_id).where(
                f.c.id > fire_after, f.c.status == FIRED
            ),
        )
        with self.engine.connect() as conn:
            return [Written(str(feed), int(i), int(c)) for feed, i, c in conn.execute(q)]

    # stimuli

    def claim_fire(
        self, *, budget_fen: int | None = None, max_fires: int | None = None, **values: Any
    ) -> Claim:
        """Claim a fire (or, `status` "proposed", a proposal) by its key. With a cap
        (`budget_fen`: the campaign's budget; `max_fires`: the rule's), a fired claim
        counts the fired stimuli first, in its own statement, under the campaign's fire
        lock: over a cap nothing is written and the answer is `Claim(0, False)`."""
        t = StimulusRow.__table__
        if values.get("status", FIRED) != FIRED or (budget_fen is None and max_fires is None):
            return self._claim(t, values)
        cols = list(values)
        source = select(*(literal(values[c], t.c[c].type) for c in cols)).where(
            within(
                values["campaign_id"], values["rule"], values["amount_fen"], budget_fen, max_fires
            )
        )
        stmt = (
            self._insert(t)
            .from_select(cols, source)
            .on_conflict_do_nothing(index_elements=["campaign_id", "key"])
            .returning(t.c.id)
        )
        with self.engine.begin() as conn:
            fire_lock(conn, values["campaign_id"])
            row = conn.execute(stmt).first()
            if row:
                return Claim(row[0], True)
            existing = conn.execute(
                select(t.c.id).where(
                    t.c.campaign_id == values["campaign_id"], t.c.key == values["key"]
                )
            ).scalar()
        return Claim(int(existing or 0), False)

    def fires(self, campaign_id: int) -> list[FireRecord]:
        """The campaign's fired stimuli (a proposal is not a fire until approved)."""
        return self._fires(campaign_id, (FIRED,))

    def entries(self, campaign_id: int) -> list[FireRecord]:
        """Every stimulus row, whatever its status: proposals, dismissed and expired
        ones included (the API's `stimuli`)."""
        return self._fires(campaign_id, None)

    def proposals(self, campaign_id: int) -> list[FireRecord]:
        """The proposals not (or not yet) fired: waiting for an operator (overdue ones
        included until the trigger tick expires them), dismissed and expired."""
        return self._fires(campaign_id, ("proposed", "dismissed", "expired"))

    def _fires(self, campaign_id: int, statuses: tuple[str, ...] | None) -> list[FireRecord]:
        t = StimulusRow.__table__
        q = select(t).where(t.c.campaign_id == campaign_id)
        if statuses is not None:
            q = q.where(t.c.status.in_(statuses))
        with self.engine.connect() as conn:
            return [FireRecord(**r._mapping) for r in conn.execute(q.order_by(t.c.id))]

    def fire(self, campaign_id: int, fire_id: int) -> FireRecord | None:
        t = StimulusRow.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t).where(t.c.id == fire_id, t.c.campaign_id == campaign_id)
            ).first()
        return FireRecord(**row._mapping) if row is not None else None

    def spent_fen(self, campaign_id: int) -> int:
        """What fired stimuli have spent (proposals spend nothing until approved)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(spent_of(campaign_id))).scalar_one())

    def set_uplift(self, fire_id: int, value: float) -> None:
        t = StimulusRow.__table__
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id == fire_id).values(uplift=value))

    def set_effect(self, fire_id: int, effect_json: str) -> bool:
        """Write a fire's effect once (services/effects.py): True if this call wrote
        it, False (and nothing changed) when the fire already has one."""
        t = StimulusRow.__table__
        with self.engine.begin() as conn:
            done = conn.execute(
                update(t).where(t.c.id == fire_id, t.c.effect.is_(None)).values(effect=effect_json)
            )
            return bool(done.rowcount)

    # templates

    def set_template(self, campaign_id: int, kind: str, source: str | None) -> None:
        t = TemplateRow.__table__
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.campaign_id == campaign_id, t.c.kind == kind))
            if source is not None:
                conn.execute(t.insert().values(campaign_id=campaign_id, kind=kind, source=source))

    def templates(self, campaign_id: int) -> dict[str, str]:
        t = TemplateRow.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.kind, t.c.source).where(t.c.campaign_id == campaign_id))
            return {k: s for k, s in rows}
