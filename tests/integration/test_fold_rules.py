"""The Lua fold (adapters/redis/lua/apply.lua, through HotState.apply) against the plain
reference (tests/reference.py), rule by rule: the refund cap, distinct buyers, and
exactly-once application of redelivered stream entries.

test_property.py drives the whole HTTP path, where the ledger drops re-sent events
before they reach the stream; here batches go straight to the real script, so a
redelivery (the same ledger id again, alone or mixed with new ones, as after a worker
crash) really reaches it, and the per-minute refund and first-buyer series the settled
figures are read from are checked too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from redis.asyncio import Redis

from tests.reference import IDENT, reference
from tests.strategies import event_sets
from warroom.adapters.redis import keys
from warroom.adapters.redis.hotstate import HotState, RawState
from warroom.core.ingest.clock import minute_floor, parse_instant, rfc3339

TZ = "Asia/Shanghai"
NOW = 1_800_000_000_000
M0 = "2026-11-11T10:00:{s:02d}+08:00"
M1 = "2026-11-11T10:01:{s:02d}+08:00"


def normalized(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the stream carries: the ledger gives each identity one id, so a re-sent
    event (same identity) travels with the id of its first sending."""
    lids: dict[str, int] = {}
    out = []
    for e in events:
        key = f"{e['type']}:{e[IDENT[e['type']]]}"
        lid = lids.setdefault(key, len(lids) + 1)
        out.append({**e, "key": key, "ts": parse_instant(e["ts"]), "lid": lid})
    return out


def run(redis_url: str, scenario: Callable[[HotState, str], Awaitable[Any]]) -> Any:
    """Run `scenario(hot, slug)` on a fresh campaign's hot state, then drop its keys."""

    async def main() -> Any:
        r = Redis.from_url(redis_url)
        slug = f"fold-{uuid.uuid4().hex[:10]}"
        try:
            hot = HotState(r)
            await hot.init_generation(slug)
            return await scenario(hot, slug)
        finally:
            pattern = keys.prefix(slug).replace("{", "\\{").replace("}", "\\}") + "*"
            doomed = [k async for k in r.scan_iter(match=pattern, count=1000)]
            if doomed:
                await r.delete(*doomed)
            await r.aclose()

    return asyncio.run(main())


def deliver(redis_url: str, batches: list[list[dict[str, Any]]]) -> tuple[RawState, list[int]]:
    """Apply the batches in order; the raw figures and how many each batch applied."""

    async def scenario(hot: HotState, slug: str) -> tuple[RawState, list[int]]:
        applied = [await hot.apply(slug, batch, NOW) for batch in batches]
        return await hot.read(slug, recent_from_ms=2**62), applied

    return run(redis_url, scenario)


def figures(raw: RawState) -> dict[str, Any]:
    """The raw state in the reference's terms."""
    t = raw.totals
    return {
        "totals": {
            "gmv_fen": t.get("gmv", 0),
            "refund_fen": t.get("refund", 0),
            "orders": t.get("orders", 0),
            "items": t.get("items", 0),
            "buyers": t.get("buyers", 0),
            "members": t.get("members", 0),
            "messages": t.get("messages", 0),
            "active_members": t.get("active_members", 0),
        },
        "per_minute": {
            metric: {rfc3339(m, TZ): v for m, v in raw.minutes[metric].items() if v}
            for metric in ("gmv", "orders", "buyers", "messages")
        },
        "boards": {b: dict(raw.boards[b]) for b in raw.boards},
        "board_orders": {b: dict(raw.board_orders[b]) for b in raw.board_orders},
    }


def expected(events: list[dict[str, Any]]) -> dict[str, Any]:
    ref = reference(events, TZ)
    rows = {r["minute"]: r for r in ref["per_minute"]}
    return {
        "totals": {
            k: ref["totals"][k]
            for k in (
                "gmv_fen",
                "refund_fen",
                "orders",
                "items",
                "buyers",
                "members",
                "messages",
                "active_members",
            )
        },  # fmt: skip
        "per_minute": {
            metric: {m: r[field] for m, r in rows.items() if r[field]}
            for metric, field in (
                ("gmv", "gmv_fen"),
                ("orders", "orders"),
                ("buyers", "buyers"),
                ("messages", "messages"),
            )
        },  # fmt: skip
        "boards": {
            b: {r["id"]: r["net_gmv_fen"] for r in rows_}
            for b, rows_ in ref["leaderboards"].items()
        },
        "board_orders": {
            b: {r["id"]: r["orders"] for r in rows_} for b, rows_ in ref["leaderboards"].items()
        },
    }


def first_buyer_minutes(events: list[dict[str, Any]]) -> dict[int, int]:
    """Per minute, the buyers whose earliest order falls in it."""
    first: dict[str, int] = {}
    for e in normalized(events):
        if e["type"] == "order":
            m = minute_floor(e["ts"])
            first[e["buyer_id"]] = min(first.get(e["buyer_id"], m), m)
    out: defaultdict[int, int] = defaultdict(int)
    for m in first.values():
        out[m] += 1
    return dict(out)


def order(oid: str, amount: int, ts: str, buyer: str = "b1", seller: str = "s1") -> dict[str, Any]:
    return {"type": "order", "order_id": oid, "amount_fen": amount, "ts": ts, "buyer_id": buyer,
            "seller_id": seller, "group_id": "g1", "product_id": "p1"}  # fmt: skip


def refund(rid: str, oid: str, amount: int, ts: str) -> dict[str, Any]:
    return {"type": "refund", "refund_id": rid, "order_id": oid, "amount_fen": amount, "ts": ts}


# --- the three rules, one case each -------------------------------------------------


def test_refunds_are_capped_at_the_order_whenever_they_arrive(redis_url: str) -> None:
    events = [
        refund("r1", "o1", 600, M1.format(s=30)),  # before its order: waits for it
        order("o1", 1_000, M0.format(s=10)),
        refund("r2", "o1", 600, M1.format(s=40)),  # 600 + 600 > 1000: only 400 more
        order("o2", 500, M0.format(s=20), seller="s2"),
        refund("r3", "o2", 300, M0.format(s=50)),
        refund("r4", "o2", 300, M1.format(s=5)),  # 200 left of o2
        refund("r5", "o404", 9_999, M1.format(s=6)),  # no such order (yet): no effect
        refund("r6", "o2", 50, M1.format(s=7)),  # o2 fully refunded already
    ]
    norm = normalized(events)
    raw, _ = deliver(redis_url, [norm[:1], norm[1:5], norm[5:]])
    assert figures(raw) == expected(events)
    assert raw.totals["refund"] == 1_500 and raw.boards["sellers"] == {"s1": 0, "s2": 0}
    # the refund series: the waiting refund counts in the later of its and its order's
    # minute; each refund where it was applied, capped
    m0, m1 = (minute_floor(parse_instant(t.format(s=0))) for t in (M0, M1))
    assert raw.minutes["refund"] == {m0: 300, m1: 1_200}


def test_a_buyer_counts_once_and_from_their_earliest_order(redis_url: str) -> None:
    events = [
        order("o1", 100, M1.format(s=1), buyer="b1"),
        order("o2", 100, M1.format(s=2), buyer="b2"),
        order("o3", 100, M1.format(s=3), buyer="b1"),  # repeat, same minute
        order("o4", 100, M0.format(s=4), buyer="b2"),  # b2's earliest order, sent late
        order("o5", 100, M0.format(s=5), buyer="b2"),
    ]
    norm = normalized(events)
    raw, _ = deliver(redis_url, [norm[:2], norm[2:3], norm[3:4], norm[4:]])
    assert figures(raw) == expected(events)
    assert raw.totals["buyers"] == 2
    m0, m1 = (minute_floor(parse_instant(t.format(s=0))) for t in (M0, M1))
    assert raw.minutes["buyers"] == {m0: 1, m1: 2}  # distinct within each minute
    # b2 moved to minute 0 when its earlier order came: cumulative sums stay exact
    assert {m: v for m, v in raw.minutes["newbuyers"].items() if v} == {m0: 1, m1: 1}
    assert first_buyer_minutes(events) == {m0: 1, m1: 1}


def test_a_redelivered_entry_is_applied_once(redis_url: str) -> None:
    events = [
        order("o1", 1_000, M0.format(s=1)),
        refund("r1", "o1", 400, M0.format(s=2)),
        {
            "type": "message",
            "message_id": "x1",
            "group_id": "g1",
            "member_id": "u1",
            "kind": "text",
            "ts": M0.format(s=3),
        },  # fmt: skip
        {
            "type": "member",
            "event_id": "j1",
            "group_id": "g1",
            "member_id": "u1",
            "action": "join",
            "ts": M0.format(s=4),
        },  # fmt: skip
        order("o2", 300, M1.format(s=1), buyer="b2"),
    ]
    norm = normalized(events)
    first, again = norm[:4], norm[:4]
    mixed = [norm[1], norm[4], norm[3]]  # two seen, one new: only the new one counts
    raw, applied = deliver(redis_url, [first, [dict(e) for e in again], mixed, norm])
    assert applied == [4, 0, 1, 0]
    assert figures(raw) == expected(events)
    assert raw.totals["refund"] == 400 and raw.totals["members"] == 1


# --- any event sequence, any cut, any redelivery ------------------------------------


@st.composite
def deliveries(draw: st.DrawFn, events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive batches of the stream, then some earlier batches delivered again,
    whole or merged into a later batch (a crash after applying, before acknowledging)."""
    batches: list[list[dict[str, Any]]] = []
    i = 0
    while i < len(events):
        size = draw(st.integers(1, max(1, min(8, len(events) - i))))
        batches.append(events[i : i + size])
        i += size
    for _ in range(draw(st.integers(0, 3)) if batches else 0):
        src = draw(st.integers(0, len(batches) - 1))
        at = draw(st.integers(src + 1, len(batches)))
        copy = [dict(e) for e in batches[src]]
        if at < len(batches) and draw(st.booleans()):
            batches[at] = copy + batches[at]
        else:
            batches.insert(at, copy)
    return batches


@hsettings(max_examples=25, deadline=None)
@given(data=st.data(), events=event_sets())
def test_any_delivery_of_any_sequence_matches_the_reference(
    redis_url: str, data: st.DataObject, events: list[dict[str, Any]]
) -> None:
    """Duplicates (re-sent events share a ledger id), refunds before and after their
    order and beyond it, repeat buyers, redelivered batches: the reference's figures,
    and settled per-minute series that sum to the totals."""
    batches = data.draw(deliveries(normalized(events)))
    raw, applied = deliver(redis_url, batches)
    want = expected(events)
    assert figures(raw) == want
    assert sum(applied) == len({e["lid"] for b in batches for e in b})
    assert sum(raw.minutes["refund"].values()) == want["totals"]["refund_fen"]
    newbuyers = {m: v for m, v in raw.minutes["newbuyers"].items() if v}
    assert newbuyers == first_buyer_minutes(events)
