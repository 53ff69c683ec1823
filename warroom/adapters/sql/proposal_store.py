"""SQL for a stimulus between its proposal and its fire: an operator's decision on a
proposal (contract v3, mode "propose") and the hosts' tasks of an approved stimulus.

Every step is one atomic transition (`UPDATE ... WHERE status='proposed'`): two
operators approving at once, or an approval racing the expiry, decide it once. An
approval counts the budget and the rule's max fires (fired stimuli only) in the very
statement that makes the row `fired`, under the campaign's fire lock on PostgreSQL.
`ReportStore` (report_store.py) inherits these methods: one store of stimuli."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import and_, func, select, true, update
from sqlalchemy.engine import Engine

from warroom.adapters.sql.tables import StimulusRow, StimulusTaskRow

# The advisory lock a fire takes on PostgreSQL (class, campaign id) while it counts the
# campaign's budget and max fires and becomes `fired` in the same transaction
# (`claim_fire` with a cap, `approve`): two fires in flight under READ COMMITTED would
# each miss the other's uncommitted row and together overspend. SQLite serializes
# writers, and the count is in the writing statement itself.
FIRE_LOCK = 0x5752_4631  # "WRF1"
FIRED = "fired"


class ProposalStore:
    engine: Engine

    def expire_proposals(self, campaign_id: int, now_ms: int) -> int:
        """Proposals past their expiry become `expired`; how many did."""
        t = StimulusRow.__table__
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    update(t)
                    .where(
                        t.c.campaign_id == campaign_id,
                        t.c.status == "proposed",
                        t.c.expires_at_ms < now_ms,
                    )
                    .values(status="expired")
                ).rowcount
                or 0
            )

    def decide(
        self,
        campaign_id: int,
        fire_id: int,
        now_ms: int,
        actor: str,
        *,
        approve: bool,
        budget_fen: int | None = None,
        max_fires: int | None = None,
        assignment: dict[str, Any] | None = None,
        tasks: dict[str, list[str]] | None = None,
    ) -> tuple[bool, str]:
        """Approve or dismiss a proposal, atomically (`WHERE status='proposed'` and not
        overdue). Approval counts the budget and the rule's max fires in the same
        statement, under the campaign's fire lock, makes the row `fired` at `now_ms`
        with its holdout draw, and writes one task per host in the same transaction.
        Answers (True, "fired" or "dismissed") when this call decided it, else
        (False, why not): "missing", "expired" (it is marked so), "budget",
        "max_fires", or the status an earlier decision gave it."""
        t, k = StimulusRow.__table__, StimulusTaskRow.__table__
        open_ = and_(
            t.c.id == fire_id,
            t.c.campaign_id == campaign_id,
            t.c.status == "proposed",
            t.c.expires_at_ms >= now_ms,
        )
        decided = {"decided_at_ms": now_ms, "decided_by": actor[:200]}
        with self.engine.begin() as conn:
            fire_lock(conn, campaign_id)
            if approve:
                row = conn.execute(
                    select(t.c.rule, t.c.amount_fen).where(t.c.id == fire_id)
                ).first()
                cap = (
                    within(campaign_id, row.rule, row.amount_fen, budget_fen, max_fires)
                    if row is not None
                    else true()
                )
                values: dict[str, Any] = {"status": FIRED, "at_ms": now_ms, **decided}
                if assignment is not None:
                    values.update(
                        seed=assignment["seed"], assignment=orjson.dumps(assignment).decode()
                    )
                won = conn.execute(update(t).where(open_, cap).values(**values)).rowcount
                if won:
                    for seller, groups in (tasks or {}).items():
                        conn.execute(
                            k.insert().values(
                                fire_id=fire_id,
                                campaign_id=campaign_id,
                                seller_id=seller,
                                groups=orjson.dumps(groups).decode(),
                            )
                        )
                    return True, FIRED
            elif conn.execute(
                update(t).where(open_).values(status="dismissed", **decided)
            ).rowcount:
                return True, "dismissed"
            row = conn.execute(
                select(t.c.status, t.c.expires_at_ms).where(
                    t.c.id == fire_id, t.c.campaign_id == campaign_id
                )
            ).first()
            if row is None:
                return False, "missing"
            if row.status != "proposed":
                return False, str(row.status)
            if row.expires_at_ms is not None and row.expires_at_ms < now_ms:
                conn.execute(
                    update(t)
                    .where(t.c.id == fire_id, t.c.status == "proposed")
                    .values(status="expired")
                )
                return False, "expired"
            spent = int(conn.execute(select(spent_of(campaign_id))).scalar_one())
            amount = conn.execute(select(t.c.amount_fen).where(t.c.id == fire_id)).scalar_one()
            if budget_fen is not None and spent + int(amount) > budget_fen:
                return False, "budget"
            return False, "max_fires"

    # hosts' tasks

    def tasks(
        self, campaign_id: int, seller_id: str | None = None, *, open_only: bool = True
    ) -> list[dict[str, Any]]:
        """Hosts' tasks with their stimulus (kind, text, amount, times), oldest first:
        one seller's (`seller_id`) or every host's."""
        t, k = StimulusRow.__table__, StimulusTaskRow.__table__
        q = (
            select(
                k.c.id,
                k.c.fire_id,
                k.c.seller_id,
                k.c.groups,
                k.c.done_at_ms,
                t.c.rule,
                t.c.kind,
                t.c.text,
                t.c.amount_fen,
                t.c.decided_at_ms,
            )
            .join(t, t.c.id == k.c.fire_id)
            .where(k.c.campaign_id == campaign_id, t.c.status == FIRED)
        )
        if seller_id is not None:
            q = q.where(k.c.seller_id == seller_id)
        if open_only:
            q = q.where(k.c.done_at_ms.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(k.c.id)).all()
        return [{**r._mapping, "groups": orjson.loads(r.groups)} for r in rows]

    def task_sellers(self, fire_id: int) -> set[str] | None:
        """The hosts with a task for this fire; None when it has no task at all."""
        k = StimulusTaskRow.__table__
        with self.engine.connect() as conn:
            found = set(conn.execute(select(k.c.seller_id).where(k.c.fire_id == fire_id)).scalars())
        return found or None

    def task_done(
        self, campaign_id: int, task_id: int, now_ms: int, seller_id: str | None = None
    ) -> tuple[int, bool] | None:
        """Mark a host's task done (idempotent: a done task stays as it was). None when
        there is no such task (of this seller, when given); else (its fire's id,
        whether this call moved the fire's time: the first done of a fire does)."""
        t, k = StimulusRow.__table__, StimulusTaskRow.__table__
        mine = and_(k.c.id == task_id, k.c.campaign_id == campaign_id)
        if seller_id is not None:
            mine = and_(mine, k.c.seller_id == seller_id)
        with self.engine.begin() as conn:
            found = conn.execute(select(k.c.fire_id).where(mine)).first()
            if found is None:
                return None
            fire_id = int(found[0])
            # The fire's row first, locked until commit: two first dones at once take
            # turns, and the second sees the first's done below.
            conn.execute(select(t.c.id).where(t.c.id == fire_id).with_for_update())
            marked = conn.execute(
                update(k).where(mine, k.c.done_at_ms.is_(None)).values(done_at_ms=now_ms)
            ).rowcount
            if not marked:
                return fire_id, False
            earlier = conn.execute(
                select(func.count())
                .select_from(k)
                .where(k.c.fire_id == fire_id, k.c.id != task_id, k.c.done_at_ms.is_not(None))
            ).scalar_one()
            if earlier:
                return fire_id, False
            conn.execute(update(t).where(t.c.id == fire_id).values(at_ms=now_ms))
            return fire_id, True


def spent_of(campaign_id: int) -> Any:
    """What the campaign's fired stimuli cost, as a scalar subquery."""
    f = StimulusRow.__table__.alias("spent")
    return (
        select(func.coalesce(func.sum(f.c.amount_fen), 0))
        .where(f.c.campaign_id == campaign_id, f.c.status == FIRED)
        .scalar_subquery()
    )


def within(
    campaign_id: int, rule: str, amount_fen: int, budget_fen: int | None, max_fires: int | None
) -> Any:
    """The condition under which one more fire of `rule` costing `amount_fen` fits the
    budget and the rule's max fires (fired stimuli only)."""
    conds = []
    if budget_fen is not None:
        conds.append(spent_of(campaign_id) + amount_fen <= budget_fen)
    if max_fires is not None:
        f = StimulusRow.__table__.alias("ruled")
        fired = (
            select(func.count())
            .select_from(f)
            .where(f.c.campaign_id == campaign_id, f.c.rule == rule, f.c.status == FIRED)
            .scalar_subquery()
        )
        conds.append(fired < max_fires)
    return and_(true(), *conds)


def fire_lock(conn: Any, campaign_id: int) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(FIRE_LOCK, campaign_id)))
