"""The replay's frames against a plain recomputation from the events: per-minute series,
totals and leaderboards at several virtual instants, with refunds (capped, before
their order, dated before their order, for an order that never comes), late events,
membership changes and hostile names."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest

from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import MINUTE_MS, rfc3339
from warroom.core.review.replay import BadSpeed, Replay, ReplayBuilder, parse_speed, update_of
from warroom.core.review.retrospective import Refund

TZ = "Asia/Shanghai"
S = 1_794_362_400_000  # 2026-11-11T10:00:00+08:00
E = S + 60 * MINUTE_MS
HOSTILE = ["<script>alert(1)</script>", "团长🍑\u202eabc", "مرحبا بالعالم", "a&b\"'<i>"]


def settings(size: int = 5) -> CampaignSettings:
    return CampaignSettings(
        slug="r", name="回放", starts_at=S, ends_at=E, timezone=TZ,
        target_base_fen=500_000, target_stretch_fen=900_000, leaderboard_size=size,
    )  # fmt: skip


def day(seed: int = 3) -> list[dict[str, Any]]:
    """Events in ledger order."""
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(160):
        s = rnd.randrange(6)
        out.append({"type": "order", "order_id": f"o{i}", "amount_fen": rnd.randrange(100, 9000),
                    "seller_id": f"s{s}", "seller_name": HOSTILE[s % 4] if s < 4 else f"团长{s}",
                    "group_id": f"g{rnd.randrange(3)}", "product_id": f"p{rnd.randrange(4)}",
                    "buyer_id": f"b{rnd.randrange(60)}", "quantity": rnd.randrange(1, 4),
                    "ts": S - 2 * MINUTE_MS + rnd.randrange(64 * MINUTE_MS)})  # fmt: skip
    orders = list(out)
    # a refund that arrives before its order (ledger) and is dated before it (ts)
    out.insert(0, {"type": "refund", "refund_id": "r-first", "order_id": "o5",
                   "amount_fen": 400, "ts": orders[5]["ts"] - 3 * MINUTE_MS})  # fmt: skip
    out.append({"type": "refund", "refund_id": "r-ghost", "order_id": "nope", "amount_fen": 50,
                "ts": S + 5 * MINUTE_MS})  # fmt: skip
    for j, o in enumerate(orders[::7]):
        over = j % 3 == 0
        out.append({"type": "refund", "refund_id": f"r{j}", "order_id": o["order_id"],
                    "amount_fen": o["amount_fen"] + 77 if over else o["amount_fen"] // 3,
                    "ts": o["ts"] + rnd.randrange(20) * MINUTE_MS})  # fmt: skip
    out.append({"type": "refund", "refund_id": "r-again", "order_id": orders[7]["order_id"],
                "amount_fen": 999, "ts": orders[7]["ts"] + MINUTE_MS})  # fmt: skip
    for k in range(90):
        out.append({"type": "message", "message_id": f"m{k}", "group_id": "g1",
                    "member_id": f"u{rnd.randrange(25)}", "ts": S + rnd.randrange(60 * MINUTE_MS)})  # fmt: skip
    for k in range(30):
        out.append({"type": "member", "event_id": f"e{k}", "key": f"member:e{k}",
                    "group_id": f"g{k % 2}", "member_id": f"u{k % 12}",
                    "action": "leave" if k % 5 == 4 else "join",
                    "ts": S - MINUTE_MS + rnd.randrange(50) * MINUTE_MS})  # fmt: skip
    # late events: recorded last, dated early in the day
    out.append({"type": "order", "order_id": "late", "amount_fen": 12_345, "seller_id": "s1",
                "seller_name": HOSTILE[1], "group_id": "g0", "product_id": "p0",
                "buyer_id": "b-late", "ts": S + 3 * MINUTE_MS})  # fmt: skip
    out.append({"type": "message", "message_id": "late-m", "group_id": "g0", "member_id": "u99",
                "ts": S + 2 * MINUTE_MS})  # fmt: skip
    return out


def build(events: list[dict[str, Any]], size: int = 5) -> Replay:
    refunds = [
        Refund(i + 1, e["order_id"], e["amount_fen"], e["ts"])
        for i, e in enumerate(events)
        if e["type"] == "refund"
    ]
    b = ReplayBuilder(refunds)
    for i, e in enumerate(events):
        b.add(i + 1, e["type"], e["ts"], 0, e)
    return b.build(settings(size))


def recompute(events: list[dict[str, Any]], t: int) -> dict[str, Any]:
    """Plainly: what the screen must show as of `t`."""
    orders = {e["order_id"]: e for e in events if e["type"] == "order"}
    taken: dict[str, int] = defaultdict(int)
    refunds: list[tuple[int, dict[str, Any], int]] = []  # (dated at, order, amount)
    for e in events:  # ledger order, each capped by what is left of its order
        o = orders.get(e["order_id"]) if e["type"] == "refund" else None
        if o is None:
            continue
        x = min(e["amount_fen"], o["amount_fen"] - taken[o["order_id"]])
        if x > 0:
            taken[o["order_id"]] += x
            refunds.append((max(e["ts"], o["ts"]), o, x))
    sold = [o for o in orders.values() if o["ts"] < t]
    back = [(o, x) for at, o, x in refunds if at < t]
    gmv_min: dict[int, int] = defaultdict(int)
    for o in sold:
        gmv_min[o["ts"] - o["ts"] % MINUTE_MS] += o["amount_fen"]
    boards = {}
    for board, f in (("sellers", "seller"), ("groups", "group"), ("products", "product")):
        net: dict[str, int] = defaultdict(int)
        cnt: dict[str, int] = defaultdict(int)
        for o in sold:
            net[o[f + "_id"]] += o["amount_fen"]
            cnt[o[f + "_id"]] += 1
        for o, x in back:
            net[o[f + "_id"]] -= x
        names = {o[f + "_id"]: o.get(f + "_name", o[f + "_id"]) for o in orders.values()}
        ranked = sorted((k for k in net if net[k] > 0), key=lambda k: (-net[k], k))[:5]
        # prev_rank: the standing before the last five minutes' sales and refunds
        earlier = t - 5 * MINUTE_MS
        then: dict[str, int] = defaultdict(int)
        for o in sold:
            if o["ts"] < earlier:
                then[o[f + "_id"]] += o["amount_fen"]
        for at, o, x in refunds:
            if at < earlier:
                then[o[f + "_id"]] -= x
        prev = sorted((k for k in then if then[k] > 0), key=lambda k: (-then[k], k))
        rank_then = {k: i + 1 for i, k in enumerate(prev)}
        boards[board] = [(k, names[k], net[k], cnt[k], rank_then.get(k)) for k in ranked]
    latest: dict[tuple[str, str], tuple[int, str, str]] = {}
    for e in events:
        if e["type"] == "member" and e["ts"] < t:
            k = (e["member_id"], e["group_id"])
            if k not in latest or (e["ts"], e["key"]) > latest[k][:2]:
                latest[k] = (e["ts"], e["key"], e["action"])
    msgs = [e for e in events if e["type"] == "message" and e["ts"] < t]
    gmv = sum(o["amount_fen"] for o in sold)
    refund = sum(x for _o, x in back)
    return {
        "totals": {
            "gmv_fen": gmv,
            "refund_fen": refund,
            "net_gmv_fen": gmv - refund,
            "orders": len(sold),
            "buyers": len({o["buyer_id"] for o in sold}),
            "items": sum(o.get("quantity", 1) for o in sold),
            "messages": len(msgs),
            "active_members": len({e["member_id"] for e in msgs}),
            "members": len({m for (m, _g), v in latest.items() if v[2] == "join"}),
        },  # fmt: skip
        "gmv_by_minute": {rfc3339(m, TZ): v for m, v in sorted(gmv_min.items())},
        "boards": boards,
    }


@pytest.mark.parametrize("minute", [0, 1, 4, 15, 17, 33, 45, 59, 60])
def test_frames_equal_a_recomputation(minute: int) -> None:
    events = day()
    r = build(events)
    t = S + minute * MINUTE_MS
    snap = r.frame(t, [], [])
    want = recompute(events, t)
    got = {k: snap["totals"][k] for k in want["totals"]}
    assert got == want["totals"]
    rows = {row["minute"]: row["gmv_fen"] for row in snap["per_minute"] if row["gmv_fen"]}
    assert rows == want["gmv_by_minute"]
    for board, expected in want["boards"].items():
        shown = [
            (x["id"], x["name"], x["net_gmv_fen"], x["orders"], x["prev_rank"])
            for x in snap["leaderboards"][board]
        ]
        assert shown == expected, board
    assert snap["rules"] == [] and snap["restoring"] is False


def test_final_frame_counts_every_event_and_names_stay_verbatim() -> None:
    events = day()
    r = build(events)
    assert r.as_of(E + 1) == r.final_ms and r.final_ms >= E
    snap = r.frame(r.final_ms, [], [])
    assert snap["totals"] == {**snap["totals"], **recompute(events, 10**15)["totals"]}
    names = {x["name"] for x in snap["leaderboards"]["sellers"]}
    assert set(HOSTILE) & names, names  # escaping is the page's job, never the data's
    assert snap["campaign"]["now"] == rfc3339(E, TZ)


def test_a_refund_never_shows_before_its_order() -> None:
    o = {"type": "order", "order_id": "x", "amount_fen": 1000, "seller_id": "s", "group_id": "g",
         "product_id": "p", "buyer_id": "b", "ts": S + 10 * MINUTE_MS}  # fmt: skip
    rf = {"type": "refund", "refund_id": "rx", "order_id": "x", "amount_fen": 5000,
          "ts": S + 2 * MINUTE_MS}  # fmt: skip
    r = build([rf, o])
    assert r.frame(S + 5 * MINUTE_MS, [], [])["totals"]["refund_fen"] == 0
    t = r.frame(S + 11 * MINUTE_MS, [], [])["totals"]
    assert (t["gmv_fen"], t["refund_fen"], t["net_gmv_fen"]) == (1000, 1000, 0)


def test_reports_and_stimuli_only_before_the_instant() -> None:
    r = build(day())
    reports = [(S + 90_000, {"id": 1, "n": 1}), (S + 30 * MINUTE_MS, {"id": 2, "n": 2})]
    fire = {"id": 9, "at": rfc3339(S + 20 * MINUTE_MS, TZ), "amount_fen": 100, "kind": "x"}
    early = r.frame(S + 2 * MINUTE_MS, reports, [fire])
    assert [x["id"] for x in early["reports"]] == [1] and early["reports_total"] == 1
    assert early["stimuli"] == []
    later = r.frame(S + 31 * MINUTE_MS, reports, [fire])
    assert [x["id"] for x in later["reports"]] == [1, 2] and later["stimuli"] == [fire]
    upd = update_of(early, later)
    assert upd["type"] == "update" and upd["stimuli"] == [fire] and upd["reports_total"] == 2
    assert upd["per_minute"] and "leaderboards" in upd


def test_the_last_frame_shows_the_final_report_written_for_the_end() -> None:
    # no late event: the last frame stands at `ends_at` itself, the final's instant
    r = build([e for e in day() if e["ts"] < E - MINUTE_MS])
    assert r.final_ms == E
    reports = [(S + 90_000, {"id": 1, "n": 1}), (E, {"id": 2, "n": 2, "kind": "final"})]
    assert [x["id"] for x in r.frame(E - MINUTE_MS, reports, [])["reports"]] == [1]
    last = r.frame(r.final_ms, reports, [])
    assert [x["id"] for x in last["reports"]] == [1, 2] and last["reports_total"] == 2


def test_as_of_moves_by_minutes_and_jumps_to_the_final() -> None:
    r = build(day())
    assert r.as_of(S - 5) == r.start_ms == S
    assert r.as_of(S + 61_000) == S + MINUTE_MS
    assert r.as_of(E - 1) == E - MINUTE_MS
    assert r.as_of(E) == r.final_ms


@pytest.mark.parametrize("text", ["", "nan", "NaN", "inf", "-60", "0", "0.5", "601", "1e3",
                                  "60x", "六十", "6_0", " ", "60.", "1000000"])  # fmt: skip
def test_bad_speeds_are_refused(text: str) -> None:
    with pytest.raises(BadSpeed) as err:
        parse_speed(text)
    assert "回放速度" in str(err.value)


@pytest.mark.parametrize(("text", "speed"), [("1", 1.0), ("60", 60.0), ("600", 600.0),
                                              ("2.5", 2.5), (" 120 ", 120.0)])  # fmt: skip
def test_good_speeds(text: str, speed: float) -> None:
    assert parse_speed(text) == speed
