"""Per-group health (群健康): the per-batch deltas the aggregator folds, and the pure
rule that turns a group's raw counters into a row of the groups API. Pure: no I/O,
`now` is an argument.

Kept beside `aggregate.py` rather than inside it so the hot loop only gains a method
call per order or message; membership deltas come from the plan's `members` list,
which the apply script already receives in order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Literal

from orjson import dumps

from warroom.core.ingest.clock import MINUTE_MS, from_ms, minute_floor

Health = Literal["active", "quiet", "cold"]
HEALTH_ORDER = {"cold": 0, "quiet": 1, "active": 2}


def _counter() -> defaultdict[str, int]:
    return defaultdict(int)


def pair(group: str, who: str) -> str:
    """The member of the distinct-pair sets: JSON, since ids are arbitrary text."""
    return dumps([group, who]).decode()


@dataclass
class GroupDeltas:
    """What one batch changes in the per-group counters."""

    messages: defaultdict[str, int] = field(default_factory=_counter)
    last_message: dict[str, int] = field(default_factory=dict)
    last_order: dict[str, int] = field(default_factory=dict)
    writers: set[tuple[str, str]] = field(default_factory=set)
    buyers: set[tuple[str, str]] = field(default_factory=set)
    minute_messages: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(_counter)
    )

    def order(self, group: str, buyer: str, ts: int) -> None:
        self.buyers.add((group, buyer))
        if ts > self.last_order.get(group, -1):
            self.last_order[group] = ts

    def message(self, group: str, member: str, ts: int, minute: str) -> None:
        self.messages[group] += 1
        self.writers.add((group, member))
        self.minute_messages[minute][group] += 1
        if ts > self.last_message.get(group, -1):
            self.last_message[group] = ts

    def payload(self, members: list[list[Any]]) -> dict[str, Any]:
        """`members` rows are the plan's [member, group, ts, key, action]."""
        joined: defaultdict[str, int] = defaultdict(int)
        left: defaultdict[str, int] = defaultdict(int)
        joins: defaultdict[str, int] = defaultdict(int)
        leaves: defaultdict[str, int] = defaultdict(int)
        for _member, group, ts, _key, action in members:
            minute = str(minute_floor(ts))
            if action == "join":
                joined[group] += 1
                joins[minute] += 1
            else:
                left[group] += 1
                leaves[minute] += 1
        return {
            "msg": _flat(self.messages),
            "last_msg": _flat(self.last_message),
            "last_ord": _flat(self.last_order),
            # flat [pair, group, ...]: the script counts new pairs per group
            "writers": [x for g, m in self.writers for x in (pair(g, m), g)],
            "buyers": [x for g, b in self.buyers for x in (pair(g, b), g)],
            "mm": [[m, _flat(v)] for m, v in self.minute_messages.items()],
            "joined": _flat(joined),
            "left": _flat(left),
            "joins": _flat(joins),
            "leaves": _flat(leaves),
        }


GH_FIXED = (
    "gh:members", "gh:joined", "gh:left", "gh:msg", "gh:lmsg", "gh:lord", "gh:w", "gh:nw",
    "gh:b", "gh:nb", "gh:gmv", "gh:m:joins", "gh:m:leaves",
)  # fmt: skip


def group_health_keys(p: str, deltas: GroupDeltas) -> list[str]:
    """Every key under prefix `p` the apply script's group-health block may touch for a
    batch (Redis Cluster: a script must declare its keys; add these to the declared
    list). The block also reads `lb:groups*`, already declared for the leaderboards."""
    return [p + k for k in GH_FIXED] + [f"{p}gh:mm:{m}" for m in deltas.minute_messages]


def _flat(mapping: Mapping[str, Any]) -> list[Any]:
    out: list[Any] = []
    for k, v in mapping.items():
        out.append(k)
        out.append(v)
    return out


_QUARTER_MS = 15 * MINUTE_MS


@lru_cache(maxsize=4096)
def _zone_at(tz: str, quarter: int) -> timezone:
    """The zone's fixed offset during one quarter hour (every offset change in use falls
    on a quarter hour), so 10,000 rows need a few zone lookups, not 20,000."""
    offset = from_ms(quarter * _QUARTER_MS, tz).utcoffset() or timedelta(0)
    return timezone(offset)


def instant(ts_ms: int, tz: str) -> str:
    """`clock.rfc3339`, about ten times faster (the groups API formats two per group)."""
    dt = datetime.fromtimestamp(ts_ms / 1000, _zone_at(tz, ts_ms // _QUARTER_MS))
    return dt.isoformat(timespec="milliseconds" if ts_ms % 1000 else "seconds")


@dataclass(frozen=True)
class Thresholds:
    quiet_minutes: int = 10
    cold_minutes: int = 30
    cold_max_messages: int = 5


def health_of(
    last_message_ms: int | None,
    last_order_ms: int | None,
    recent_messages: int,
    since_ms: int,
    now_ms: int,
    t: Thresholds,
) -> tuple[Health, int | None]:
    """A group's health at `now_ms`, and since when (campaign ms) it has been so.

    - cold: no order for `cold_minutes` and at most `cold_max_messages` messages in
      that window (a group that chats but never buys is not cold; one that buys is
      never cold);
    - quiet: not cold, but no message for `quiet_minutes`;
    - active: otherwise.
    Silence is counted from `since_ms` (the campaign start) when a group never had a
    message or an order, so a group is not cold in the first minutes of the sale.
    The 'since' of cold is when the later of its last order and `since_ms` became
    `cold_minutes` old; of quiet, when its last message became `quiet_minutes` old.
    """
    last_ord = max(last_order_ms or since_ms, since_ms)
    last_msg = max(last_message_ms or since_ms, since_ms)
    cold_for = now_ms - last_ord
    if cold_for >= t.cold_minutes * MINUTE_MS and recent_messages <= t.cold_max_messages:
        return "cold", last_ord + t.cold_minutes * MINUTE_MS
    if now_ms - last_msg >= t.quiet_minutes * MINUTE_MS:
        return "quiet", last_msg + t.quiet_minutes * MINUTE_MS
    return "active", None


@dataclass(slots=True)
class GroupCounters:
    """One group's raw counters as hot state keeps them."""

    name: str | None = None
    members: int = 0
    joined: int = 0
    left: int = 0
    messages: int = 0
    active_members: int = 0
    buyers: int = 0
    orders: int = 0
    gmv_fen: int = 0
    net_gmv_fen: int = 0
    last_message_ms: int | None = None
    last_order_ms: int | None = None
    recent_messages: int = 0


@dataclass(frozen=True)
class Judged:
    id: str
    counters: GroupCounters
    health: Health
    since_ms: int | None
    minutes: int  # how long in that state (0 when active)


def judge(
    groups: Mapping[str, GroupCounters],
    starts_at_ms: int,
    ends_at_ms: int,
    now_ms: int,
    t: Thresholds,
) -> list[Judged]:
    """Every group's health, coldest first (cold, then quiet, then active; within a
    state the longest in it first), then by id. After the close health is judged at
    `ends_at`: the silence after a sale is not a group going cold."""
    at = min(now_ms, ends_at_ms)
    out = []
    for gid, g in groups.items():
        state, since = health_of(
            g.last_message_ms, g.last_order_ms, g.recent_messages, starts_at_ms, at, t
        )
        out.append(Judged(gid, g, state, since, (at - since) // MINUTE_MS if since else 0))
    out.sort(key=lambda j: (HEALTH_ORDER[j.health], -j.minutes, j.id))
    return out


def row_view(j: Judged, tz: str) -> dict[str, Any]:
    """One row of the groups API (formatting is most of the cost: only for rows shown)."""
    g = j.counters
    lm, lo = g.last_message_ms, g.last_order_ms
    return {
        "id": j.id,
        "name": g.name if g.name is not None else j.id,
        "members": g.members,
        "joined": g.joined,
        "left": g.left,
        "messages": g.messages,
        "active_members": g.active_members,
        "buyers": g.buyers,
        "orders": g.orders,
        "gmv_fen": g.gmv_fen,
        "net_gmv_fen": g.net_gmv_fen,
        "last_message_at": instant(lm, tz) if lm is not None else None,
        "last_order_at": instant(lo, tz) if lo is not None else None,
        "health": j.health,
        "health_since": instant(j.since_ms, tz) if j.since_ms is not None else None,
        "health_minutes": j.minutes,
    }


def group_rows(
    groups: Mapping[str, GroupCounters],
    starts_at_ms: int,
    ends_at_ms: int,
    now_ms: int,
    tz: str,
    t: Thresholds,
) -> list[dict[str, Any]]:
    """Every row of the groups API, coldest first."""
    return [row_view(j, tz) for j in judge(groups, starts_at_ms, ends_at_ms, now_ms, t)]


def health_counts(judged: list[Judged]) -> dict[str, int]:
    out = {"active": 0, "quiet": 0, "cold": 0}
    for j in judged:
        out[j.health] += 1
    return out


def recent_minutes(now_ms: int, window_minutes: int) -> list[int]:
    """The minute buckets of the cold window ending at `now_ms` (the running one too)."""
    last = minute_floor(now_ms)
    return [last - i * MINUTE_MS for i in range(window_minutes)]
