"""The per-campaign Redis Stream: one entry per ingest batch, read by a consumer group."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT, KeyT, StreamIdT

from warroom.adapters.redis import keys
from warroom.adapters.redis.bulk import mget

log = logging.getLogger(__name__)

# An entry and its events in the pending count, in one step: a crash cannot leave one
# without the other (the count is what `warroom_stream_pending_events` shows).
# The announcement on `keys.APPENDED_CHANNEL` goes out in the same step, after the
# entry exists: an aggregator that hears it finds the entry (adapters/redis/appended.py).
_APPEND_LUA = """
redis.call('XADD', KEYS[1], '*', 'e', ARGV[1], 'n', ARGV[2])
local pending = redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return pending
"""
# Only a first acknowledgement lowers the count: a redelivered entry acknowledged
# again (XACK answers 0) is not taken off twice.
_ACK_LUA = """
local left = 0
for i = 2, #ARGV, 2 do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    left = redis.call('DECRBY', KEYS[2], ARGV[i + 1])
  end
end
return left
"""

# XREADGROUP's reply as this client gets it (RESP2, bytes): [(stream, [(id, fields)])],
# fields None for an entry deleted while pending. redis-py types it for every protocol.
_GroupRead = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes] | None]]]]


@dataclass
class Entry:
    slug: str
    entry_id: bytes
    fields: dict[bytes, bytes]

    @property
    def count(self) -> int:
        """Events the entry added to the pending count (`n`); an entry appended
        without one (before the count existed) added nothing."""
        n = self.fields.get(b"n")
        return int(n) if n is not None else 0

    def events(self) -> list[dict[str, Any]]:
        data = orjson.loads(self.fields[b"e"])
        if not isinstance(data, list):
            raise ValueError("stream entry does not hold a list of events")
        return data


class EventStream:
    def __init__(self, redis: Redis, group: str = keys.AGG_GROUP) -> None:
        from redis.asyncio.cluster import RedisCluster

        self.redis = redis
        self.group = group
        # On a Redis Cluster one XREADGROUP cannot span campaigns (slots): read each.
        self.cluster = isinstance(redis, RedisCluster)

    async def ensure_group(self, slug: str) -> None:
        try:
            await self.redis.xgroup_create(keys.stream(slug), self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def register(self, slug: str) -> None:
        await self.ensure_group(slug)
        await self.redis.sadd(keys.CAMPAIGNS, slug)

    async def publish(self, batches: dict[str, list[dict[str, Any]]]) -> None:
        """One stream entry per campaign batch; all campaigns in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for slug, events in batches.items():
            # EVAL, not a registered script: a cluster pipeline routes it by its keys.
            pipe.eval(
                _APPEND_LUA,
                2,
                keys.stream(slug),
                keys.pending_events(slug),
                orjson.dumps(events),
                len(events),
                keys.APPENDED_CHANNEL,
                slug,
            )
        await pipe.execute()

    async def campaigns(self) -> list[str]:
        return sorted(cast(bytes, s).decode() for s in await self.redis.smembers(keys.CAMPAIGNS))

    async def read(
        self, slugs: list[str], consumer: str, count: int, block_ms: int | None
    ) -> list[Entry]:
        if not slugs:
            return []
        if self.cluster and len(slugs) > 1:
            return await self._read_each(slugs, consumer, count, block_ms)
        streams: dict[KeyT, StreamIdT] = {keys.stream(s): ">" for s in slugs}
        try:
            res = await self.redis.xreadgroup(
                self.group, consumer, streams, count=count, block=block_ms
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The group vanished (FLUSHALL, a new server): recreate it and carry on.
            log.warning("consumer group missing; recreating: %s", exc)
            for s in slugs:
                await self.ensure_group(s)
            return []
        return [
            Entry(_slug_of(name), eid, fields)
            for name, entries in cast(_GroupRead, res) or []
            for eid, fields in entries
            if fields is not None
        ]

    async def _read_each(
        self, slugs: list[str], consumer: str, count: int, block_ms: int | None
    ) -> list[Entry]:
        """Cluster: poll each campaign's stream without blocking (a blocking read per
        campaign would hold the batch until the slowest one times out); when all are
        empty, wait a short while before the caller's next round."""
        found = await asyncio.gather(*(self.read([s], consumer, count, None) for s in slugs))
        entries = [e for part in found for e in part]
        if not entries and block_ms:
            await asyncio.sleep(min(block_ms, 50) / 1000)
        return entries

    async def reclaim(self, slug: str, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """Take over entries a dead or stalled consumer left pending."""
        try:
            res = await self.redis.xautoclaim(
                keys.stream(slug), self.group, consumer, min_idle_ms, "0-0", count=count
            )
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                await self.ensure_group(slug)
                return []
            raise
        claimed = res[1]
        return [Entry(slug, eid, fields) for eid, fields in claimed if fields]

    async def reclaim_many(
        self, slugs: list[str], consumer: str, min_idle_ms: int, count: int, chunk: int = 500
    ) -> list[Entry]:
        """`reclaim` over many campaigns, one pipelined round trip per `chunk` of them:
        with ten thousand idle campaigns, one command each would be the worker's load."""
        out: list[Entry] = []
        for i in range(0, len(slugs), chunk):
            part = slugs[i : i + chunk]
            pipe = self.redis.pipeline(transaction=False)
            for slug in part:
                pipe.xautoclaim(
                    keys.stream(slug), self.group, consumer, min_idle_ms, "0-0", count=count
                )
            results = await pipe.execute(raise_on_error=False)
            for slug, res in zip(part, results, strict=True):
                if isinstance(res, ResponseError) and "NOGROUP" in str(res):
                    await self.ensure_group(slug)
                    continue
                if isinstance(res, Exception):
                    raise res
                out += [Entry(slug, eid, fields) for eid, fields in res[1] if fields]
        return out

    async def ack(self, entries: list[Entry]) -> None:
        by_slug: dict[str, list[Entry]] = {}
        for e in entries:
            by_slug.setdefault(e.slug, []).append(e)
        pipe = self.redis.pipeline(transaction=False)
        for slug, mine in by_slug.items():
            args: list[EncodableT] = [self.group]
            for e in mine:
                args += [e.entry_id, e.count]
            pipe.eval(_ACK_LUA, 2, keys.stream(slug), keys.pending_events(slug), *args)
        await pipe.execute()

    async def pending_events(self, slugs: list[str]) -> dict[str, int]:
        """Accepted events not yet applied, per campaign (never below 0: a count lost
        with a wiped Redis starts again from the next append)."""
        if not slugs:
            return {}
        got = await mget(self.redis, [keys.pending_events(s) for s in slugs])
        return {s: max(0, int(v or 0)) for s, v in zip(slugs, got, strict=True)}

    async def dead_letter(self, entry: Entry, error: str) -> None:
        fields = dict(entry.fields)
        fields[b"error"] = error.encode()[:2000]
        fields[b"source_id"] = entry.entry_id
        # redis-py's `Dict[FieldT, EncodableT]` is invariant: bytes to bytes fits at run time
        await self.redis.xadd(keys.dead_letters(entry.slug), cast(dict[FieldT, EncodableT], fields))
        await self.ack([entry])

    async def trim(self, slug: str) -> None:
        """Trim only behind the group: below the oldest pending and the last delivered."""
        name = keys.stream(slug)
        groups = await self.redis.xinfo_groups(name)
        if not groups:
            return
        floor = min(id_tuple(g["last-delivered-id"]) for g in groups)
        for g in groups:
            summary = await self.redis.xpending(name, g["name"])
            if summary["pending"]:
                floor = min(floor, id_tuple(summary["min"]))
        if floor > (0, 0):
            await self.redis.execute_command(  # type: ignore[no-untyped-call]  # unannotated in redis-py
                "XTRIM", name, "MINID", f"{floor[0]}-{floor[1]}"
            )


def _slug_of(stream_name: bytes) -> str:
    text = stream_name.decode()
    return text[text.index("{") + 1 : text.rindex("}")]


def group_name(value: Any) -> str:
    """A consumer group's name as XINFO GROUPS gives it (bytes or text)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def id_tuple(entry_id: bytes | str) -> tuple[int, int]:
    """A stream entry id as (ms, seq), for comparing ids in order."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)
