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
from collections.abc import Callable, Mapping, Sequence

from warroom.adapters.clock import SYSTEM_CLOCK, Clock
from warroom.adapters.redis.frontier import (
    applied_before_many,
    applied_before_real_ms,
    restoring_many,
)
from warroom.core.records import CampaignRecord
from warroom.services.campaigns import clock_of
from warroom.services.ports import LiveState

SETTLE_MS = 1500  # real ms an accepted event may take from its `ts` to the stream


class Watermark:
    def __init__(
        self,
        hot: LiveState,
        oldest_unrelayed_ts: Callable[[int], int | None],
        oldest_unrelayed_many: Callable[[Sequence[int]], dict[int, int]],
        settle_ms: int = SETTLE_MS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        self.hot = hot
        self.redis = hot.redis
        self.oldest_unrelayed_ts = oldest_unrelayed_ts
        self.oldest_unrelayed_many = oldest_unrelayed_many
        self.settle_ms = settle_ms

    async def settled_ms(
        self, record: CampaignRecord, now_real_ms: int | None = None
    ) -> int | None:
        """The campaign time up to which figures are final, or None (restoring, or the
        stream's state unknown). Never later than the campaign clock."""
        slug = record.settings.slug
        now_real = self.clock.now_ms() if now_real_ms is None else now_real_ms
        if await self.hot.restoring(slug):
            return None
        applied = await applied_before_real_ms(self.redis, slug, now_real)
        if applied is None:
            return None
        clock = clock_of(record)
        settled = min(clock.now_ms(applied - self.settle_ms), clock.now_ms(now_real))
        unrelayed = await asyncio.to_thread(self.oldest_unrelayed_ts, record.id)
        if unrelayed is not None:
            settled = min(settled, unrelayed)
        if await self.hot.restoring(slug):  # lost while we looked
            return None
        return settled

    async def settled_many(
        self,
        records: Sequence[CampaignRecord],
        now_real_ms: int,
        pending: Mapping[str, int] | None = None,
    ) -> list[tuple[int | None, bool]]:
        """(`settled_ms`, restoring) of each campaign, by the same three rules, in a few
        replies and one ledger query for all of them (what a scrape of /metrics asks
        of every live campaign). With `pending` (EventStream.pending_events), a
        campaign with no event appended and not yet acknowledged is applied up to now
        and its stream is not read: with thousands of idle campaigns, that is most."""
        slugs = [r.settings.slug for r in records]
        before = await restoring_many(self.redis, slugs)
        busy = [n for n, s in enumerate(slugs) if pending is None or pending.get(s, 1) > 0]
        applied: list[int | None] = [now_real_ms] * len(slugs)
        found = await applied_before_many(self.redis, [slugs[n] for n in busy], now_real_ms)
        for n, frontier in zip(busy, found, strict=True):
            applied[n] = frontier
        unrelayed = await asyncio.to_thread(self.oldest_unrelayed_many, [r.id for r in records])
        after = await restoring_many(self.redis, slugs)  # lost while we looked
        out: list[tuple[int | None, bool]] = []
        for n, record in enumerate(records):
            if before[n] or after[n]:
                out.append((None, True))
                continue
            done = applied[n]
            if done is None:
                out.append((None, False))
                continue
            clock = clock_of(record)
            settled = min(clock.now_ms(done - self.settle_ms), clock.now_ms(now_real_ms))
            if record.id in unrelayed:
                settled = min(settled, unrelayed[record.id])
            out.append((settled, False))
        return out
