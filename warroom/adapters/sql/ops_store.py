"""What an engineer's figures need from SQL, one query each for every campaign at once
(read at scrape time: /metrics and the console's engineers' page)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from warroom.adapters.sql.tables import DeliveryRow, WebhookRow


def queued_deliveries(engine: Engine) -> dict[int, int]:
    """Webhook deliveries not yet done (pending or being sent), by campaign id."""
    d, w = DeliveryRow.__table__, WebhookRow.__table__
    query = (
        select(w.c.campaign_id, func.count())
        .select_from(d.join(w, d.c.webhook_id == w.c.id))
        .where(d.c.status.in_(("pending", "sending")))
        .group_by(w.c.campaign_id)
    )
    with engine.connect() as conn:
        return {int(cid): int(n) for cid, n in conn.execute(query).all()}
