"""Read the per-group health counters the apply script keeps (`gh:*`, see apply.lua).

Every function takes the campaign's hot-state prefix rather than the slug, so the
caller decides which generation it reads. One pipelined round trip; the cost follows
the number of groups (and of minutes in the cold window), never the number of orders.
"""

from __future__ import annotations

from redis.asyncio import Redis

from warroom.core.campaign import CampaignSettings
from warroom.core.health import GroupCounters, Judged, Thresholds, judge, recent_minutes


def _text_ints(mapping: dict[bytes, bytes]) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in mapping.items()}


async def read_groups(redis: Redis, prefix: str, recent: list[int]) -> dict[str, GroupCounters]:
    """Every group seen in any event, with its counters; `recent` are the minute
    buckets (epoch ms) whose messages count toward the cold rule."""
    p = prefix
    hashes = (
        "gh:members", "gh:joined", "gh:left", "gh:msg", "gh:nw", "gh:nb",
        "gh:gmv", "gh:lmsg", "gh:lord", "lb:groups:o",
    )  # fmt: skip
    pipe = redis.pipeline(transaction=False)
    for h in hashes:
        pipe.hgetall(p + h)
    # Scores as floats (C), then int: score_cast_func=int formats each one in Python.
    pipe.zrange(p + "lb:groups", 0, -1, withscores=True)
    pipe.hgetall(p + "lb:groups:n")
    for m in recent:
        pipe.hgetall(f"{p}gh:mm:{m}")
    res = await pipe.execute()
    (members, joined, left, msgs, writers, buyers, gmv, lmsg, lord, orders) = (
        _text_ints(r) for r in res[: len(hashes)]
    )
    net = {k.decode(): int(v) for k, v in res[len(hashes)]}  # integer fen, exact < 2^53
    names = {k.decode(): v.decode() for k, v in res[len(hashes) + 1].items()}
    recent_msgs: dict[str, int] = {}
    for bucket in res[len(hashes) + 2 :]:
        for k, v in bucket.items():
            g = k.decode()
            recent_msgs[g] = recent_msgs.get(g, 0) + int(v)
    ids = set(members) | set(joined) | set(left) | set(msgs) | set(net) | set(orders)
    return {
        g: GroupCounters(
            name=names.get(g),
            members=members.get(g, 0),
            joined=joined.get(g, 0),
            left=left.get(g, 0),
            messages=msgs.get(g, 0),
            active_members=writers.get(g, 0),
            buyers=buyers.get(g, 0),
            orders=orders.get(g, 0),
            gmv_fen=gmv.get(g, 0),
            net_gmv_fen=net.get(g, 0),
            last_message_ms=lmsg.get(g),
            last_order_ms=lord.get(g),
            recent_messages=recent_msgs.get(g, 0),
        )
        for g in ids
    }


async def read_membership_series(redis: Redis, prefix: str) -> dict[str, dict[int, int]]:
    """Joins and leaves per campaign minute (epoch ms), beside the sales series."""
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(prefix + "gh:m:joins")
    pipe.hgetall(prefix + "gh:m:leaves")
    joins, leaves = await pipe.execute()
    return {
        "joins": {int(k): int(v) for k, v in joins.items()},
        "leaves": {int(k): int(v) for k, v in leaves.items()},
    }


async def load_judged(
    redis: Redis, prefix: str, settings: CampaignSettings, now_ms: int
) -> list[Judged]:
    """Every group judged at campaign time `now_ms` (at most at the end), coldest first;
    format the ones to show with `health.row_view`."""
    s = settings
    t = Thresholds(s.health_quiet_minutes, s.health_cold_minutes, s.health_cold_max_messages)
    at = min(now_ms, s.ends_at)
    groups = await read_groups(redis, prefix, recent_minutes(at, t.cold_minutes))
    return judge(groups, s.starts_at, s.ends_at, now_ms, t)
