"""A plain, obviously-correct reference computation of the snapshot figures, for
comparing against what the Redis path produces."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from warroom.core.ingest.clock import minute_floor, parse_instant, rfc3339

IDENT = {"order": "order_id", "refund": "refund_id", "message": "message_id", "member": "event_id"}


def reference(events: list[dict[str, Any]], tz: str = "Asia/Shanghai") -> dict[str, Any]:
    seen: set[str] = set()
    unique = []
    for e in events:
        key = f"{e['type']}:{e[IDENT[e['type']]]}"
        if key not in seen:
            seen.add(key)
            unique.append({**e, "key": key, "ts": parse_instant(e["ts"])})
    orders = {e["order_id"]: e for e in unique if e["type"] == "order"}
    refund_sum: dict[str, int] = defaultdict(int)
    for e in unique:
        if e["type"] == "refund":
            refund_sum[e["order_id"]] += e["amount_fen"]
    refunded = {oid: min(refund_sum.get(oid, 0), o["amount_fen"]) for oid, o in orders.items()}
    gmv = sum(o["amount_fen"] for o in orders.values())
    refund = sum(refunded.values())
    buyers = {o["buyer_id"] for o in orders.values()}
    messages = [e for e in unique if e["type"] == "message"]
    active = {m["member_id"] for m in messages}
    latest: dict[tuple[str, str], tuple[int, str, str]] = {}
    for e in unique:
        if e["type"] == "member":
            k = (e["member_id"], e["group_id"])
            cand = (e["ts"], e["key"], e["action"])
            if k not in latest or cand[:2] > latest[k][:2]:
                latest[k] = cand
    members = {m for (m, _g), v in latest.items() if v[2] == "join"}
    minutes: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"gmv_fen": 0, "orders": 0, "buyers": set(), "messages": 0}
    )
    for o in orders.values():
        row = minutes[minute_floor(o["ts"])]
        row["gmv_fen"] += o["amount_fen"]
        row["orders"] += 1
        row["buyers"].add(o["buyer_id"])
    for m in messages:
        minutes[minute_floor(m["ts"])]["messages"] += 1
    per_minute = [
        {
            "minute": rfc3339(k, tz),
            "gmv_fen": v["gmv_fen"],
            "orders": v["orders"],
            "buyers": len(v["buyers"]),
            "messages": v["messages"],
        }
        for k, v in sorted(minutes.items())
    ]
    boards = {}
    for board, field in (("sellers", "seller"), ("groups", "group"), ("products", "product")):
        net: dict[str, int] = defaultdict(int)
        count: dict[str, int] = defaultdict(int)
        for oid, o in orders.items():
            net[o[f"{field}_id"]] += o["amount_fen"] - refunded[oid]
            count[o[f"{field}_id"]] += 1
        ordered = sorted(net, key=lambda k: (-net[k], k))
        positive = [k for k in ordered if net[k] > 0]
        boards[board] = [
            {
                "id": k,
                "net_gmv_fen": net[k],
                "orders": count[k],
                "rank": i + 1,
                "prev_rank": positive.index(k) + 1 if k in positive else None,
            }
            for i, k in enumerate(ordered[:10])
        ]
    net_gmv = gmv - refund
    return {
        "totals": {
            "gmv_fen": gmv,
            "refund_fen": refund,
            "net_gmv_fen": net_gmv,
            "orders": len(orders),
            "items": sum(o.get("quantity", 1) for o in orders.values()),
            "buyers": len(buyers),
            "aov_fen": int(net_gmv / len(buyers) + 0.5) if buyers else 0,
            "members": len(members),
            "messages": len(messages),
            "active_members": len(active),
            "conversion_rate": round(len(buyers) / len(members), 6) if members else 0.0,
            "interaction_rate": round(len(active) / len(members), 6) if members else 0.0,
        },
        "per_minute": per_minute,
        "leaderboards": boards,
    }


def comparable(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The parts of a snapshot the reference computes (names left out)."""
    return {
        "totals": snapshot["totals"],
        "per_minute": snapshot["per_minute"],
        "leaderboards": {
            b: [{k: v for k, v in row.items() if k != "name"} for row in rows]
            for b, rows in snapshot["leaderboards"].items()
        },
    }
