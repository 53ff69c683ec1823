"""Fold a batch of normalized events into one set of deltas.

The deltas are applied to hot state in a single atomic step (see
`adapters/redis/hotstate.py`); doing the arithmetic here, in memory, is what lets one
aggregator keep up with a flash sale: one round trip per batch, not per event.
Per-order work that depends on earlier state (refund caps, refunds that arrive before
their order) and membership (latest join/leave wins) is passed through in order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orjson import dumps

from warroom.core.live.group_health import GroupDeltas

BOARDS = {"sellers": "seller", "groups": "group", "products": "product"}
# prev_rank compares with the ranking before this many most recent campaign minutes.
RANK_CHANGE_MINUTES = 5


def _counter() -> defaultdict[str, int]:
    return defaultdict(int)


@dataclass
class BatchPlan:
    lids: list[int] = field(default_factory=list)
    totals: defaultdict[str, int] = field(default_factory=_counter)
    minutes: dict[str, defaultdict[str, int]] = field(
        default_factory=lambda: {"gmv": _counter(), "orders": _counter(), "messages": _counter()}
    )
    buyers_by_minute: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    active: set[str] = field(default_factory=set)
    board_gmv: dict[str, defaultdict[str, int]] = field(
        default_factory=lambda: {b: _counter() for b in BOARDS}
    )
    board_orders: dict[str, defaultdict[str, int]] = field(
        default_factory=lambda: {b: _counter() for b in BOARDS}
    )
    board_minute_gmv: dict[str, defaultdict[str, defaultdict[str, int]]] = field(
        default_factory=lambda: {b: defaultdict(_counter) for b in BOARDS}
    )
    names: dict[str, dict[str, str]] = field(default_factory=lambda: {b: {} for b in BOARDS})
    orders: list[list[Any]] = field(default_factory=list)
    refunds: list[list[Any]] = field(default_factory=list)
    members: list[list[Any]] = field(default_factory=list)
    max_ts: int = 0
    gh: GroupDeltas = field(default_factory=GroupDeltas)  # per-group health deltas

    def as_payload(self, applied_at_ms: int) -> dict[str, Any]:
        """The JSON document the apply script reads (Lua has no sets or defaultdicts)."""
        return {
            "lids": self.lids,
            "tot": dict(self.totals),
            "min": {k: _flat(v) for k, v in self.minutes.items() if v},
            "buyers": [[m, sorted(b)] for m, b in self.buyers_by_minute.items()],
            "active": sorted(self.active),
            "boards": {
                b: {
                    "gmv": _flat(self.board_gmv[b]),
                    "orders": _flat(self.board_orders[b]),
                    "minute": [[m, _flat(v)] for m, v in self.board_minute_gmv[b].items()],
                    "names": _flat(self.names[b]),
                }
                for b in BOARDS
            },
            "orders": self.orders,
            "refunds": self.refunds,
            "members": self.members,
            "max_ts": self.max_ts,
            "now": applied_at_ms,
            "gh": self.gh.payload(self.members),
        }


def _flat(mapping: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for k, v in mapping.items():
        out.append(k)
        out.append(v)
    return out


def plan_batch(events: Iterable[dict[str, Any]]) -> BatchPlan:
    """Events must carry `lid` (ledger id) and be distinct by `lid`.

    This loop is the aggregator's hot path (a few µs per event), hence the locals."""
    plan = BatchPlan()
    lids, orders, refunds, members, active = (
        plan.lids, plan.orders, plan.refunds, plan.members, plan.active
    )  # fmt: skip
    m_gmv, m_orders, m_msgs = (plan.minutes[k] for k in ("gmv", "orders", "messages"))
    buyers = plan.buyers_by_minute
    # The group-health deltas (GroupDeltas) updated inline: a method call per event
    # was a tenth of this loop.
    gh = plan.gh
    gh_buyers, gh_last_order = gh.buyers.add, gh.last_order
    gh_messages, gh_writers, gh_minute, gh_last_msg = (
        gh.messages, gh.writers.add, gh.minute_messages, gh.last_message
    )  # fmt: skip
    boards = [
        (
            plan.board_gmv[b],
            plan.board_orders[b],
            plan.board_minute_gmv[b],
            plan.names[b],
            f"{prefix}_id",
            f"{prefix}_name",
        )
        for b, prefix in BOARDS.items()
    ]
    gmv = n_orders = items = n_msgs = 0
    max_ts = 0
    minute_text: dict[int, str] = {}
    for e in events:
        lids.append(e["lid"])
        ts = e["ts"]
        if ts > max_ts:
            max_ts = ts
        floor = ts - ts % 60_000
        minute = minute_text.get(floor)
        if minute is None:
            minute = minute_text[floor] = str(floor)
        kind = e["type"]
        if kind == "order":
            amount = e["amount_fen"]
            gmv += amount
            n_orders += 1
            items += e.get("quantity", 1)
            m_gmv[minute] += amount
            m_orders[minute] += 1
            buyers[minute].add(e["buyer_id"])
            row = [e["order_id"], amount]
            for b_gmv, b_orders, b_minute, b_names, id_field, name_field in boards:
                ident = e[id_field]
                row.append(ident)
                b_gmv[ident] += amount
                b_orders[ident] += 1
                b_minute[minute][ident] += amount
                name = e.get(name_field)
                if name is not None:
                    b_names[ident] = name
            # The order's record as Redis keeps it, encoded here rather than in Lua.
            row.append(dumps(row[1:5]).decode())
            row.append(minute)  # where a refund that waited for this order is counted
            orders.append(row)
            group = e["group_id"]
            gh_buyers((group, e["buyer_id"]))
            if ts > gh_last_order.get(group, -1):
                gh_last_order[group] = ts
        elif kind == "refund":
            refunds.append([e["order_id"], e["amount_fen"], minute])
        elif kind == "message":
            n_msgs += 1
            m_msgs[minute] += 1
            member, group = e["member_id"], e["group_id"]
            active.add(member)
            gh_messages[group] += 1
            gh_writers((group, member))
            gh_minute[minute][group] += 1
            if ts > gh_last_msg.get(group, -1):
                gh_last_msg[group] = ts
        elif kind == "member":
            members.append([e["member_id"], e["group_id"], ts, e["key"], e["action"]])
    for name, value in (("gmv", gmv), ("orders", n_orders), ("items", items), ("messages", n_msgs)):
        if value:
            plan.totals[name] += value
    plan.max_ts = max_ts
    return plan
