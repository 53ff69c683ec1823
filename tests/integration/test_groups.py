"""Group health (群健康) against a plain recomputation from the same events: counters
kept incrementally by the apply script, health by the campaign's thresholds, and a
group that goes cold and recovers."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import Harness
from tests.review_day import MIN, generate_day, group_rows
from warroom.core.ingest.clock import rfc3339

TZ = "Asia/Shanghai"
QUIET, COLD, COLD_MSGS = 10, 30, 5


def health(r: dict[str, Any], msgs: list[int], starts: int, at: int) -> str:
    """The rule, written out plainly (see core/live/group_health.py)."""
    last_ord = max(r["last_order_ms"] or starts, starts)
    last_msg = max(r["last_message_ms"] or starts, starts)
    floor = at - at % MIN
    recent = sum(1 for ts in msgs if floor - (COLD - 1) * MIN <= ts - ts % MIN <= floor)
    if at - last_ord >= COLD * MIN and recent <= COLD_MSGS:
        return "cold"
    if at - last_msg >= QUIET * MIN:
        return "quiet"
    return "active"


def order(oid: str, group: str, ts: int, amount: int = 10_000) -> dict[str, Any]:
    return {"type": "order", "order_id": oid, "amount_fen": amount, "seller_id": "s1",
            "group_id": group, "group_name": f"{group}群", "quantity": 1, "buyer_id": f"b-{oid}",
            "product_id": "p1", "ts": ts}  # fmt: skip


async def test_groups_equal_a_recomputation_and_a_cold_group_recovers(harness: Harness) -> None:
    h = harness
    h.app.state.groups_ttl_s = 0  # no sharing window: every read is fresh
    now = int(time.time() * 1000)
    starts, ends = now - 3 * 60 * MIN, now + 3 * 60 * MIN
    c = await h.create_campaign(starts_at=starts, ends_at=ends, milestones_fen=[],
                                health_quiet_minutes=QUIET, health_cold_minutes=COLD,
                                health_cold_max_messages=COLD_MSGS)  # fmt: skip
    events = generate_day(starts, now - 2 * MIN)
    events += [
        order("cold-1", "gc", now - 2 * 60 * MIN),  # sold once, long ago: cold
        {"type": "message", "message_id": "gc-m", "group_id": "gc", "member_id": "m1",
         "ts": now - 90 * MIN},
        order("quiet-1", "gq", now - 5 * MIN),  # buys but nobody talks: quiet
        {"type": "message", "message_id": "gq-m", "group_id": "gq", "member_id": "m2",
         "ts": now - 25 * MIN},
    ]  # fmt: skip
    for i in range(0, len(events), 150):
        res = await h.post_events("sale", c["ingest_token"], events[i : i + 150])
        assert res.status_code == 202 and not res.json()["rejected"], res.text
    await h.drain()
    auth = {"Authorization": f"Bearer {c['viewer_token']}"}

    before = int(time.time() * 1000)
    res = await h.client.get("/api/v1/campaigns/sale/groups", headers=auth)
    after = int(time.time() * 1000)
    assert res.status_code == 200
    rows = {r["id"]: r for r in res.json()}
    ref = group_rows(events)
    assert set(rows) == set(ref)
    for gid, r in ref.items():
        got = rows[gid]
        assert got["name"] == (r["name"] or gid)
        for k in ("members", "joined", "left", "messages", "orders", "gmv_fen", "net_gmv_fen"):
            assert got[k] == r[k], (gid, k)
        assert got["active_members"] == len(r["writers"])
        assert got["buyers"] == len(r["buyers"])
        for k in ("last_message", "last_order"):
            want = r[k + "_ms"]
            assert got[k + "_at"] == (rfc3339(want, TZ) if want is not None else None)
        msgs = [e["ts"] for e in events if e["type"] == "message" and e["group_id"] == gid]
        states = {health(r, msgs, starts, before), health(r, msgs, starts, after)}
        if len(states) == 1:  # not on a threshold between the two clock readings
            assert got["health"] == states.pop(), gid
    assert rows["gc"]["health"] == "cold" and rows["gc"]["health_minutes"] >= 89
    assert rows["gq"]["health"] == "quiet"
    assert rows["g0"]["members"] > 0 and rows["g0"]["left"] > 0
    # coldest first
    order_of = {"cold": 0, "quiet": 1, "active": 2}
    listed = [order_of[r["health"]] for r in res.json()]
    assert listed == sorted(listed)

    # the cold group gets an order and two messages: it recovers
    res = await h.post_events(
        "sale",
        c["ingest_token"],
        [
            order("cold-2", "gc", now + 1000, 5_000),
            {
                "type": "message",
                "message_id": "gc-m2",
                "group_id": "gc",
                "member_id": "m1",
                "ts": now + 2000,
            },
            {
                "type": "refund",
                "refund_id": "gc-r",
                "order_id": "cold-2",
                "amount_fen": 9_000,
                "ts": now + 3000,
            },
        ],  # fmt: skip
    )
    assert res.json()["accepted"] == 3
    await h.drain()
    res = await h.client.get("/api/v1/campaigns/sale/groups?health=active", headers=auth)
    gc = next(r for r in res.json() if r["id"] == "gc")
    assert gc["health"] == "active" and gc["health_since"] is None
    assert (gc["orders"], gc["gmv_fen"], gc["net_gmv_fen"]) == (2, 15_000, 10_000)
    assert gc["messages"] == 2 and gc["active_members"] == 1 and gc["buyers"] == 2

    res = await h.client.get("/api/v1/campaigns/sale/groups?id=gc", headers=auth)
    assert [r["id"] for r in res.json()] == ["gc"]
    res = await h.client.get("/api/v1/campaigns/sale/groups?names=1", headers=auth)
    assert {"id": "gc", "name": "gc群"} in res.json()
    res = await h.client.get("/api/v1/campaigns/sale/groups/summary", headers=auth)
    summary = res.json()
    assert sum(summary["counts"].values()) == len(rows)
    assert all(r["health"] == "cold" for r in summary["cold"])
    res = await h.client.get("/api/v1/campaigns/sale/groups")
    assert res.status_code == 401


async def test_membership_series_and_groups_survive_a_rebuild(harness: Harness) -> None:
    h = harness
    h.app.state.groups_ttl_s = 0
    now = int(time.time() * 1000)
    c = await h.create_campaign(starts_at=now - 60 * MIN, ends_at=now + 60 * MIN, milestones_fen=[])
    events = generate_day(now - 60 * MIN, now - MIN, seed=3)
    res = await h.post_events("sale", c["ingest_token"], events)
    assert res.status_code == 202
    await h.drain()
    auth = {"Authorization": f"Bearer {c['viewer_token']}"}
    res = await h.client.get("/api/v1/campaigns/sale/membership", headers=auth)
    series = res.json()
    joins = sum(1 for e in events if e["type"] == "member" and e["action"] == "join")
    leaves = sum(1 for e in events if e["type"] == "member" and e["action"] == "leave")
    assert sum(r["joins"] for r in series) == joins
    assert sum(r["leaves"] for r in series) == leaves
    first = (await h.client.get("/api/v1/campaigns/sale/groups", headers=auth)).json()

    from warroom.workers.rebuild import rebuild

    rt = h.runtime
    await rebuild(rt.store, rt.hot, rt.stream, "sale")
    again = (await h.client.get("/api/v1/campaigns/sale/groups", headers=auth)).json()
    strip = [{k: v for k, v in r.items() if not k.startswith("health")} for r in first]
    assert [{k: v for k, v in r.items() if not k.startswith("health")} for r in again] == strip


async def test_viewers_share_one_read_within_the_ttl(harness: Harness) -> None:
    h = harness
    now = int(time.time() * 1000)
    c = await h.create_campaign(starts_at=now - 60 * MIN, ends_at=now + 60 * MIN, milestones_fen=[])
    auth = {"Authorization": f"Bearer {c['viewer_token']}"}
    await h.post_events("sale", c["ingest_token"], [order("a", "g1", now - MIN)])
    await h.drain()
    h.app.state.groups_ttl_s = 3600
    first = (await h.client.get("/api/v1/campaigns/sale/groups", headers=auth)).json()
    await h.post_events("sale", c["ingest_token"], [order("b", "g2", now - MIN)])
    await h.drain()
    assert (await h.client.get("/api/v1/campaigns/sale/groups", headers=auth)).json() == first
    h.app.state.groups_ttl_s = 0
    later = (await h.client.get("/api/v1/campaigns/sale/groups", headers=auth)).json()
    assert {r["id"] for r in later} == {"g1", "g2"}


async def test_the_block_touches_only_the_keys_it_declares(harness: Harness) -> None:
    """On a Redis Cluster the apply script must declare every key: the group-health
    block's keys are `core.health.group_health_keys`."""
    from warroom.adapters.redis import keys
    from warroom.core.live.aggregate import plan_batch
    from warroom.core.live.group_health import group_health_keys

    h = harness
    now = int(time.time() * 1000)
    await h.create_campaign(starts_at=now - 60 * MIN, ends_at=now + 60 * MIN, milestones_fen=[])
    events = generate_day(now - 60 * MIN, now - MIN, seed=9)
    for i, e in enumerate(events):
        e["lid"], e["key"] = i + 1, f"{e['type']}:{i}"
    plans = []
    for i in range(0, len(events), 100):
        batch = events[i : i + 100]
        plans.append(plan_batch(batch).gh)
        await h.runtime.hot.apply("sale", batch, now)
    # whatever the layout (a generation prefix or none), the keys end in `gh:...`
    pattern = keys.prefix("sale").replace("{", "\\{").replace("}", "\\}") + "*gh:*"
    touched = {k.decode() async for k in h.runtime.redis.scan_iter(match=pattern)}
    p = next(iter(touched)).split("gh:")[0] if touched else keys.prefix("sale")
    declared = {k for gh in plans for k in group_health_keys(p, gh)}
    assert touched and touched <= declared
