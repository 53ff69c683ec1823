"""A generated sale day for the retrospective and group-health tests, and a plain,
obviously-correct recomputation of what the review and the groups API must show."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

MIN = 60_000


def generate_day(starts_ms: int, ends_ms: int, seed: int = 11) -> list[dict[str, Any]]:
    """Orders, refunds (partial, over-refunds, before their order, for an order that
    never comes), messages, joins, leaves and re-joins, with Chinese names; in the
    order they are sent."""
    rnd = random.Random(seed)
    span = ends_ms - starts_ms
    groups = [(f"g{i}", f"{i}号群·宝妈团") for i in range(6)]
    sellers = [(f"s{i}", f"团长{'甲乙丙丁戊己庚'[i]}") for i in range(7)]
    products = [(f"p{i}", f"商品{i}号🍑") for i in range(5)]
    out: list[dict[str, Any]] = []
    for m in range(40):
        g = groups[m % len(groups)][0]
        out.append({"type": "member", "event_id": f"j{m}", "group_id": g, "member_id": f"m{m}",
                    "action": "join", "ts": starts_ms - 10 * MIN + m * 1000})  # fmt: skip
    orders = []
    for i in range(400):
        ts = starts_ms + rnd.randrange(span)
        g, gname = rnd.choice(groups[:5])  # g5 never sells: it goes cold
        s, sname = rnd.choice(sellers)
        p, pname = rnd.choice(products)
        o = {"type": "order", "order_id": f"o{i}", "amount_fen": rnd.randrange(990, 60_000),
             "seller_id": s, "seller_name": sname, "group_id": g, "group_name": gname,
             "buyer_id": f"b{rnd.randrange(150)}", "product_id": p, "product_name": pname,
             "quantity": rnd.randrange(1, 4), "ts": ts}  # fmt: skip
        orders.append(o)
    for i in range(300):
        g = rnd.choice(groups)[0]
        out.append({"type": "message", "message_id": f"msg{i}", "group_id": g,
                    "member_id": f"m{rnd.randrange(40)}", "ts": starts_ms + rnd.randrange(span)})  # fmt: skip
    # a refund that arrives before its order, and one for an order that never comes
    early = orders[7]
    out.append({"type": "refund", "refund_id": "r-early", "order_id": early["order_id"],
                "amount_fen": 500, "ts": early["ts"] + 5 * MIN})  # fmt: skip
    out.append({"type": "refund", "refund_id": "r-ghost", "order_id": "o-none",
                "amount_fen": 800, "ts": starts_ms + 30 * MIN})  # fmt: skip
    out.extend(orders)
    for i, o in enumerate(orders[::9]):
        amount = o["amount_fen"] // 2 if i % 3 else o["amount_fen"] + 1000  # some over-refund
        out.append({"type": "refund", "refund_id": f"r{i}", "order_id": o["order_id"],
                    "amount_fen": amount, "ts": min(o["ts"] + 20 * MIN, ends_ms - 1)})  # fmt: skip
    out.append({"type": "refund", "refund_id": "r-again", "order_id": orders[9]["order_id"],
                "amount_fen": 300, "ts": orders[9]["ts"] + 30 * MIN})  # fmt: skip
    for m in range(0, 40, 4):  # leaves, and some re-join (later, or at the same ts)
        g = groups[m % len(groups)][0]
        t = starts_ms + rnd.randrange(span // 2)
        out.append({"type": "member", "event_id": f"l{m}", "group_id": g, "member_id": f"m{m}",
                    "action": "leave", "ts": t})  # fmt: skip
        if m % 8 == 0:
            out.append({"type": "member", "event_id": f"rj{m}", "group_id": g,
                        "member_id": f"m{m}", "action": "join", "ts": t + 15 * MIN})  # fmt: skip
    out.append(
        {
            "type": "member",
            "event_id": "x1",
            "group_id": "g1",
            "member_id": "m1",
            "action": "join",
            "ts": starts_ms + 5 * MIN,
        }
    )  # fmt: skip  (a second group)
    rnd.shuffle(out)
    return out


def ident(e: dict[str, Any]) -> str:
    field = {"order": "order_id", "refund": "refund_id", "message": "message_id",
             "member": "event_id"}[e["type"]]  # fmt: skip
    return f"{e['type']}:{e[field]}"


def recompute(events: list[dict[str, Any]]) -> dict[str, Any]:
    """`events` in ledger order (as sent, duplicates already dropped)."""
    orders = {e["order_id"]: e for e in events if e["type"] == "order"}
    taken: dict[str, int] = defaultdict(int)
    refund_by_minute: dict[int, int] = defaultdict(int)
    refunded: dict[str, int] = defaultdict(int)
    for e in events:
        if e["type"] != "refund" or e["order_id"] not in orders:
            continue
        o = orders[e["order_id"]]
        x = min(e["amount_fen"], o["amount_fen"] - taken[e["order_id"]])
        if x > 0:
            taken[e["order_id"]] += x
            refunded[e["order_id"]] += x
            refund_by_minute[e["ts"] - e["ts"] % MIN] += x
    minutes: dict[int, dict[str, int]] = defaultdict(
        lambda: {"gmv_fen": 0, "orders": 0, "refund_fen": 0, "messages": 0, "joins": 0, "leaves": 0}
    )
    for o in orders.values():
        minutes[o["ts"] - o["ts"] % MIN]["gmv_fen"] += o["amount_fen"]
        minutes[o["ts"] - o["ts"] % MIN]["orders"] += 1
    for m, x in refund_by_minute.items():
        minutes[m]["refund_fen"] += x
    for e in events:
        m = e["ts"] - e["ts"] % MIN
        if e["type"] == "message":
            minutes[m]["messages"] += 1
        elif e["type"] == "member":
            minutes[m]["joins" if e["action"] == "join" else "leaves"] += 1
    boards = {}
    for board, f in (("sellers", "seller"), ("groups", "group"), ("products", "product")):
        gross: dict[str, int] = defaultdict(int)
        ref: dict[str, int] = defaultdict(int)
        cnt: dict[str, int] = defaultdict(int)
        names: dict[str, str] = {}
        for oid, o in orders.items():
            gross[o[f + "_id"]] += o["amount_fen"]
            ref[o[f + "_id"]] += refunded[oid]
            cnt[o[f + "_id"]] += 1
            names[o[f + "_id"]] = o.get(f + "_name", names.get(o[f + "_id"], o[f + "_id"]))
        ranked = sorted(gross, key=lambda k: (-(gross[k] - ref[k]), k))
        boards[board] = [
            {"rank": i + 1, "id": k, "name": names[k], "net_gmv_fen": gross[k] - ref[k],
             "gmv_fen": gross[k], "refund_fen": ref[k], "orders": cnt[k]}
            for i, k in enumerate(ranked)
        ]  # fmt: skip
    latest: dict[tuple[str, str], tuple[int, str, str]] = {}
    for e in events:
        if e["type"] == "member":
            k = (e["member_id"], e["group_id"])
            cand = (e["ts"], ident(e), e["action"])
            if k not in latest or cand[:2] > latest[k][:2]:
                latest[k] = cand
    members = {m for (m, _g), v in latest.items() if v[2] == "join"}
    gmv = sum(o["amount_fen"] for o in orders.values())
    refund = sum(refunded.values())
    return {
        "totals": {
            "gmv_fen": gmv,
            "refund_fen": refund,
            "net_gmv_fen": gmv - refund,
            "orders": len(orders),
            "items": sum(o["quantity"] for o in orders.values()),
            "buyers": len({o["buyer_id"] for o in orders.values()}),
            "messages": sum(1 for e in events if e["type"] == "message"),
            "active_members": len({e["member_id"] for e in events if e["type"] == "message"}),
            "members": len(members),
            "events": len(events),
        },  # fmt: skip
        "minutes": {k: v for k, v in sorted(minutes.items())},
        "boards": boards,
        "latest": latest,
        "refunded": refunded,
        "orders": orders,
    }


def group_rows(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-group counters as the groups API reports them (health left to the caller)."""
    ref = recompute(events)
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"members": 0, "joined": 0, "left": 0, "messages": 0, "writers": set(),
                 "buyers": set(), "orders": 0, "gmv_fen": 0, "net_gmv_fen": 0,
                 "last_message_ms": None, "last_order_ms": None, "name": None}
    )  # fmt: skip
    for e in events:
        if e["type"] == "member":
            rows[e["group_id"]]["joined" if e["action"] == "join" else "left"] += 1
        elif e["type"] == "message":
            r = rows[e["group_id"]]
            r["messages"] += 1
            r["writers"].add(e["member_id"])
            r["last_message_ms"] = max(r["last_message_ms"] or 0, e["ts"])
    for oid, o in ref["orders"].items():
        r = rows[o["group_id"]]
        r["orders"] += 1
        r["gmv_fen"] += o["amount_fen"]
        r["net_gmv_fen"] += o["amount_fen"] - ref["refunded"][oid]
        r["buyers"].add(o["buyer_id"])
        r["last_order_ms"] = max(r["last_order_ms"] or 0, o["ts"])
        r["name"] = o.get("group_name", r["name"])
    for (_m, g), v in ref["latest"].items():
        if v[2] == "join":
            rows[g]["members"] += 1
    return dict(rows)
