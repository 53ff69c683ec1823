"""The watermark: the campaign time up to which every accepted event has been applied.

A report for slot T waits until the watermark passes T (DESIGN.md, "Settled figures").
Three things must hold for an instant to be settled:

1. The stream is applied up to it. Stream entry ids are the Redis time of the XADD, and
   the consumer group delivers in id order, so every entry older than the oldest entry
   still pending (delivered, not acknowledged) or not yet delivered has been applied
   and acknowledged. The embedded Redis is 6.2 (no XINFO `lag`): compare the group's
   `last-delivered-id` with the newest entry and ask XPENDING for the oldest pending.
2. The relay is caught up: a ledger row not yet marked relayed may not have reached
   the stream (the append failed); nothing at or after its `ts` is settled.
3. The campaign's figures are not being restored (`HotState.restoring`).

From "applied up to real time R" to campaign time: an event is stamped (or carries
its `ts`) before it is recorded and appended, so events with `ts` up to the campaign
clock at R minus a small allowance (`SETTLE_MS` of real time, for the trip from the
client through the ledger writer) are in. An event that arrives later than that with
an older `ts` is a late event: it still counts, but a report already written stays.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from warroom.adapters.redis import keys
from warroom.adapters.redis.hotstate import HotState
from warroom.adapters.redis.streams import group_name, id_tuple
from warroom.adapters.sql.store import CampaignRecord, LedgerEvent
from warroom.services.campaigns import clock_of, real_now_ms

SETTLE_MS = 1500  # real ms an accepted event may take from its `ts` to the stream


async def applied_before_real_ms(redis: Redis, slug: str, now_real_ms: int) -> int | None:
    """Real time (Redis clock) before which every stream entry of the campaign has been
    applied; None when that cannot be known (no stream or no consumer group: the hot
    state was lost and is being restored)."""
    name = keys.stream(slug)
    pipe = redis.pipeline(transaction=False)
    pipe.xrevrange(name, count=1)
    pipe.xinfo_groups(name)
    pipe.xpending(name, keys.AGG_GROUP)
    newest_res, groups_res, pending_res = await pipe.execute(raise_on_error=False)
    if not isinstance(groups_res, list):
        return None
    group = next((g for g in groups_res if group_name(g.get("name")) == keys.AGG_GROUP), None)
    if group is None:
        return None
    frontier = now_real_ms
    if isinstance(pending_res, dict) and pending_res.get("pending"):
        frontier = min(frontier, id_tuple(pending_res["min"])[0])
    if isinstance(newest_res, list) and newest_res:
        last = group["last-delivered-id"]
        if id_tuple(newest_res[0][0]) > id_tuple(last):
            raw_last = last if isinstance(last, bytes) else str(last).encode()
            unread = await redis.xrange(name, min=b"(" + raw_last, count=1)
            if unread:
                frontier = min(frontier, id_tuple(unread[0][0])[0])
    return frontier


class Watermark:
    def __init__(self, hot: HotState, engine: Engine, settle_ms: int = SETTLE_MS) -> None:
        self.hot = hot
        self.redis = hot.redis
        self.engine = engine
        self.settle_ms = settle_ms

    def _oldest_unrelayed_ts(self, campaign_id: int) -> int | None:
        t = LedgerEvent.__table__
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.min(t.c.ts_ms)).where(
                    t.c.relayed == False,  # noqa: E712  (the partial index)
                    t.c.campaign_id == campaign_id,
                )
            ).scalar_one()

    async def settled_ms(
        self, record: CampaignRecord, now_real_ms: int | None = None
    ) -> int | None:
        """The campaign time up to which figures are final, or None (restoring, or the
        stream's state unknown). Never later than the campaign clock."""
        slug = record.settings.slug
        now_real = real_now_ms() if now_real_ms is None else now_real_ms
        if await self.hot.restoring(slug):
            return None
        applied = await applied_before_real_ms(self.redis, slug, now_real)
        if applied is None:
            return None
        clock = clock_of(record)
        settled = min(clock.now_ms(applied - self.settle_ms), clock.now_ms(now_real))
        unrelayed = await asyncio.to_thread(self._oldest_unrelayed_ts, record.id)
        if unrelayed is not None:
            settled = min(settled, unrelayed)
        if await self.hot.restoring(slug):  # lost while we looked
            return None
        return settled
