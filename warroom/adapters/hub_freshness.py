"""How far the screens are behind ingest: the "数据延迟" figure.

Stream entry ids are the Redis time (ms) of the XADD, i.e. when a batch of events was
recorded. If the aggregator's consumer group has entries pending or unread, the screens
are behind by the age of the oldest of them; if it is caught up, by how long the newest
batch took to be applied. A dead worker therefore shows as a figure that keeps growing.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from warroom.adapters import keys
from warroom.core.clock import parse_instant


def _id_ms(entry_id: bytes | str) -> int:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(raw.split("-", 1)[0])


def _id_tuple(entry_id: bytes | str) -> tuple[int, int]:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)


def _name(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def pipeline_lag_ms(
    redis: Redis, slug: str, real_now_ms: int, applied_ms: int | None
) -> tuple[int | None, int]:
    """(lag, behind): how many milliseconds the hot state is behind the event stream
    (None: not known), and the part of it that is a backlog still waiting (0 when the
    workers are caught up; then the lag is how long the newest batch took to land)."""
    name = keys.stream(slug)
    pipe = redis.pipeline(transaction=False)
    pipe.xrevrange(name, count=1)
    pipe.xinfo_groups(name)
    pipe.xpending(name, keys.AGG_GROUP)
    newest_res, groups_res, pending_res = await pipe.execute(raise_on_error=False)
    if not isinstance(newest_res, list) or not newest_res:
        return 0, 0  # nothing ever recorded: nothing to be behind
    newest_id = newest_res[0][0]
    groups = groups_res if isinstance(groups_res, list) else []
    group = next((g for g in groups if _name(g.get("name")) == keys.AGG_GROUP), None)
    if group is None:
        return None, 0  # no consumer group yet: no worker has ever run
    oldest: int | None = None
    if isinstance(pending_res, dict) and pending_res.get("pending"):
        oldest = _id_ms(pending_res["min"])
    last = group["last-delivered-id"]
    if _id_tuple(newest_id) > _id_tuple(last):
        unread = await redis.xrange(name, min=b"(" + _id_bytes(last), count=1)
        if unread:
            first_unread = _id_ms(unread[0][0])
            oldest = first_unread if oldest is None else min(oldest, first_unread)
    if oldest is not None:
        behind = max(0, real_now_ms - oldest)
        return behind, behind
    if applied_ms is None:
        return None, 0
    return max(0, applied_ms - _id_ms(newest_id)), 0


def _id_bytes(entry_id: bytes | str) -> bytes:
    return entry_id if isinstance(entry_id, bytes) else entry_id.encode()


async def last_ingest_ms(redis: Redis, slug: str) -> int | None:
    """When the newest batch of events was recorded (Redis time), or None if never.
    Screens compare it with the clock to tell an ingest outage from a slump."""
    newest = await redis.xrevrange(keys.stream(slug), count=1)
    return _id_ms(newest[0][0]) if newest else None


def ingest_idle_ms(snapshot: dict[str, Any], real_now: int, ingest_ms: int | None) -> int | None:
    """How long no event at all has arrived while the campaign runs (None outside the
    sale, or before its first event)."""
    c = snapshot["campaign"]
    running = parse_instant(c["starts_at"]) <= parse_instant(c["now"]) < parse_instant(c["ends_at"])
    if not running or ingest_ms is None:
        return None
    return max(0, real_now - ingest_ms)
