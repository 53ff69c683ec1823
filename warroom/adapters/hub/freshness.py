"""How far the screens are behind ingest: the "数据延迟" figure.

Stream entry ids are the Redis time (ms) of the XADD, i.e. when a batch of events was
recorded. If the aggregator's consumer group has entries pending or unread, the screens
are behind by the age of the oldest of them; if it is caught up, by how long the newest
batch took to be applied. A dead worker therefore shows as a figure that keeps growing.

A Redis that is full (`maxmemory` with `noeviction`) takes no new stream entries and no
aggregation, yet still answers reads: the lag looks fine while nothing moves. The same
round trip therefore sends a probe write (`SET NX` of a key that exists after the first
time: no change, nothing in the AOF); when Redis refuses it, `delayed` is set and the
screens say that their figures are delayed.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

from redis.asyncio import Redis

from warroom.adapters.health import is_oom
from warroom.adapters.redis import keys
from warroom.adapters.redis.streams import group_name, id_tuple


def _id_ms(entry_id: bytes | str) -> int:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(raw.split("-", 1)[0])


class Lag(NamedTuple):
    lag_ms: int | None  # how far the hot state is behind the stream (None: not known)
    behind_ms: int  # the part of it that is a backlog still waiting (0: caught up)
    newest_ms: int | None  # when the newest batch was recorded (None: never)


async def pipeline_lag_ms(redis: Redis, slug: str, real_now_ms: int, applied_ms: int | None) -> Lag:
    """How many milliseconds the hot state is behind the event stream. When the
    workers are caught up the lag is how long the newest batch took to land."""
    return (await pipeline_state(redis, slug, real_now_ms, applied_ms))[0]


async def pipeline_state(
    redis: Redis, slug: str, real_now_ms: int, applied_ms: int | None
) -> tuple[Lag, str | None]:
    """The lag, and why the figures cannot move at all now (`"redis_oom"`) or None."""
    name = keys.stream(slug)
    pipe = redis.pipeline(transaction=False)
    pipe.xrevrange(name, count=1)
    pipe.xinfo_groups(name)
    pipe.xpending(name, keys.AGG_GROUP)
    pipe.set(keys.probe(slug), b"1", nx=True)
    newest_res, groups_res, pending_res, probe_res = await pipe.execute(raise_on_error=False)
    lag = await _lag(redis, name, newest_res, groups_res, pending_res, real_now_ms, applied_ms)
    return lag, "redis_oom" if is_oom(probe_res) else None


async def _lag(
    redis: Redis,
    name: str,
    newest_res: Any,
    groups_res: Any,
    pending_res: Any,
    real_now_ms: int,
    applied_ms: int | None,
) -> Lag:
    if not isinstance(newest_res, list) or not newest_res:
        return Lag(0, 0, None)  # nothing ever recorded: nothing to be behind
    newest_id = newest_res[0][0]
    newest_ms = _id_ms(newest_id)
    groups = groups_res if isinstance(groups_res, list) else []
    group = next((g for g in groups if group_name(g.get("name")) == keys.AGG_GROUP), None)
    if group is None:
        return Lag(None, 0, newest_ms)  # no consumer group yet: no worker has ever run
    oldest: int | None = None
    if isinstance(pending_res, dict) and pending_res.get("pending"):
        oldest = _id_ms(pending_res["min"])
    last = group["last-delivered-id"]
    if id_tuple(newest_id) > id_tuple(last):
        unread = await redis.xrange(name, min=b"(" + _id_bytes(last), count=1)
        if unread:
            first_unread = _id_ms(cast(bytes, unread[0][0]))  # XRANGE gives every id
            oldest = first_unread if oldest is None else min(oldest, first_unread)
    if oldest is not None:
        behind = max(0, real_now_ms - oldest)
        return Lag(behind, behind, newest_ms)
    if applied_ms is None:
        return Lag(None, 0, newest_ms)
    return Lag(max(0, applied_ms - newest_ms), 0, newest_ms)


def _id_bytes(entry_id: bytes | str) -> bytes:
    return entry_id if isinstance(entry_id, bytes) else entry_id.encode()


def ingest_idle_ms(
    starts_at: int, ends_at: int, campaign_now: int, real_now: int, newest_ms: int | None
) -> int | None:
    """How long no event at all has arrived while the campaign runs (None outside the
    sale, or before its first event). Screens use it to tell an ingest outage from a
    slump."""
    if newest_ms is None or not starts_at <= campaign_now < ends_at:
        return None
    return max(0, real_now - newest_ms)
