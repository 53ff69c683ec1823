"""Fold a batch of normalized events into one set of deltas.

The deltas are applied to hot state in a single atomic step (see
`adapters/hotstate.py`); doing the arithmetic here, in memory, is what lets one
aggregator keep up with a flash sale: one round trip per batch, not per event.
Per-order work that depends on earlier state (refund caps, refunds that arrive before
their order) and membership (latest join/leave wins) is passed through in order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from warroom.core.clock import minute_floor

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
        }


def _flat(mapping: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for k, v in mapping.items():
        out.append(k)
        out.append(v)
    return out


def plan_batch(events: Iterable[dict[str, Any]]) -> BatchPlan:
    """Events must carry `lid` (ledger id) and be distinct by `lid`."""
    plan = BatchPlan()
    for e in events:
        plan.lids.append(e["lid"])
        ts = e["ts"]
        plan.max_ts = max(plan.max_ts, ts)
        minute = str(minute_floor(ts))
        kind = e["type"]
        if kind == "order":
            amount = e["amount_fen"]
            plan.totals["gmv"] += amount
            plan.totals["orders"] += 1
            plan.totals["items"] += e.get("quantity", 1)
            plan.minutes["gmv"][minute] += amount
            plan.minutes["orders"][minute] += 1
            plan.buyers_by_minute[minute].add(e["buyer_id"])
            ids = {}
            for board, prefix in BOARDS.items():
                ident = e[f"{prefix}_id"]
                ids[board] = ident
                plan.board_gmv[board][ident] += amount
                plan.board_orders[board][ident] += 1
                plan.board_minute_gmv[board][minute][ident] += amount
                name = e.get(f"{prefix}_name")
                if name is not None:
                    plan.names[board][ident] = name
            plan.orders.append(
                [e["order_id"], amount, ids["sellers"], ids["groups"], ids["products"]]
            )
        elif kind == "refund":
            plan.refunds.append([e["order_id"], e["amount_fen"]])
        elif kind == "message":
            plan.totals["messages"] += 1
            plan.minutes["messages"][minute] += 1
            plan.active.add(e["member_id"])
        elif kind == "member":
            plan.members.append([e["member_id"], e["group_id"], ts, e["key"], e["action"]])
    return plan
