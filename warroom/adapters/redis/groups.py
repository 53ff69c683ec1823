"""Read the per-group health counters the apply script keeps (`gh:*`, see apply.lua).

Every function takes the campaign's hot-state prefix rather than the slug, so the
caller decides which generation it reads. One pipelined round trip; the cost follows
the number of groups (and of minutes in the cold window), never the number of orders.
"""

from __future__ import annotations

from collections import defaultdict

from redis.asyncio import Redis

from warroom.core.campaign import CampaignSettings
from warroom.core.live.group_health import GroupCounters, Judged, Thresholds, judge, recent_minutes


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
    recent_msgs: defaultdict[str, int] = defaultdict(int)
    for bucket in res[len(hashes) + 2 :]:
        for k, v in bucket.items():
            recent_msgs[k.decode()] += int(v)
    ids = set(members) | set(joined) | set(left) | set(msgs) | set(net) | set(orders)
    # Subscripting defaultdicts (C) instead of 13 .get() calls per group: at 10,000
    # groups these lookups were most of the read's CPU.
    counts = [defaultdict(int, d) for d in (members, joined, left, msgs, writers, buyers,
                                            orders, gmv, net, recent_msgs)]  # fmt: skip
    c_mem, c_join, c_left, c_msg, c_wr, c_buy, c_ord, c_gmv, c_net, c_rec = counts
    return {
        g: GroupCounters(
            names.get(g),
            c_mem[g],
            c_join[g],
            c_left[g],
            c_msg[g],
            c_wr[g],
            c_buy[g],
            c_ord[g],
            c_gmv[g],
            c_net[g],
            lmsg.get(g),
            lord.get(g),
            c_rec[g],
        )  # fmt: skip
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
