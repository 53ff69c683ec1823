"""The in-memory fold of a batch (core/live/aggregate.py): what one apply receives."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from warroom.core.ingest.clock import MINUTE_MS as M
from warroom.core.live.aggregate import BOARDS, plan_batch

T0 = 1_716_170_400_000  # a minute boundary
_lids = iter(range(1, 10**9))


def order(oid: str, amount: int, ts: int = T0, **kw: Any) -> dict[str, Any]:
    e = {"type": "order", "order_id": oid, "amount_fen": amount, "ts": ts,
         "seller_id": "s1", "group_id": "g1", "product_id": "p1", "buyer_id": "b1",
         "key": f"order:{oid}", "lid": next(_lids)}  # fmt: skip
    e.update(kw)
    return e


def refund(oid: str, amount: int, ts: int = T0) -> dict[str, Any]:
    return {"type": "refund", "refund_id": f"r-{oid}-{ts}", "order_id": oid,
            "amount_fen": amount, "ts": ts, "key": f"refund:r-{oid}-{ts}", "lid": next(_lids)}  # fmt: skip


def message(member: str, ts: int = T0, group: str = "g1") -> dict[str, Any]:
    return {"type": "message", "message_id": f"x{ts}{member}", "member_id": member,
            "group_id": group, "ts": ts, "key": f"message:x{ts}{member}", "lid": next(_lids)}  # fmt: skip


def member(who: str, action: str, ts: int = T0, group: str = "g1") -> dict[str, Any]:
    return {"type": "member", "event_id": f"e{ts}{who}", "member_id": who, "group_id": group,
            "action": action, "ts": ts, "key": f"member:e{ts}{who}", "lid": next(_lids)}  # fmt: skip


def test_an_order_lands_in_totals_minute_boards_and_its_record() -> None:
    e = order("o1", 1_999, T0 + 59_999, quantity=3, seller_id="s9", seller_name="小美",
              group_id="g2", product_id="p3", buyer_id="b7")  # fmt: skip
    plan = plan_batch([e])
    minute = str(T0)  # 59.999 s into the minute is still that minute
    assert plan.lids == [e["lid"]]
    assert dict(plan.totals) == {"gmv": 1_999, "orders": 1, "items": 3}
    assert plan.minutes["gmv"] == {minute: 1_999} and plan.minutes["orders"] == {minute: 1}
    assert plan.buyers_by_minute == {minute: {"b7"}}
    assert plan.board_gmv["sellers"] == {"s9": 1_999}
    assert plan.board_gmv["groups"] == {"g2": 1_999}
    assert plan.board_gmv["products"] == {"p3": 1_999}
    assert plan.board_minute_gmv["sellers"][minute] == {"s9": 1_999}
    assert plan.names["sellers"] == {"s9": "小美"} and plan.names["groups"] == {}
    [row] = plan.orders
    assert row[:5] == ["o1", 1_999, "s9", "g2", "p3"]
    # the record Redis keeps: [amount, seller, group, product]; then the order's minute
    assert orjson.loads(row[5]) == [1_999, "s9", "g2", "p3"] and row[6] == minute
    assert plan.max_ts == T0 + 59_999


def test_quantity_defaults_to_one_item() -> None:
    assert plan_batch([order("a", 5), order("b", 5, quantity=4)]).totals["items"] == 5


@pytest.mark.parametrize(
    ("events", "totals"),
    [
        ([], {}),
        ([refund("o1", 500)], {}),  # refunds change no total here: the script caps them
        ([message("u1"), message("u1"), message("u2")], {"messages": 3}),
        ([member("u1", "join"), member("u1", "leave")], {}),
        (
            [order("a", 100), order("b", 250), refund("a", 40)],
            {"gmv": 350, "orders": 2, "items": 2},
        ),
    ],
)
def test_totals_by_kind(events: list[dict[str, Any]], totals: dict[str, int]) -> None:
    plan = plan_batch(events)
    assert dict(plan.totals) == totals
    # a zero total is left out, so the script writes nothing for it
    assert all(v for v in plan.as_payload(0)["tot"].values())


def test_refunds_and_members_pass_through_in_arrival_order() -> None:
    later = T0 + 3 * M + 5
    events = [
        refund("o2", 70, later),
        member("u1", "join", T0 + 1, group="g3"),
        refund("o1", 30, T0),
        member("u1", "leave", T0 + 2, group="g3"),
    ]
    plan = plan_batch(events)
    assert plan.refunds == [["o2", 70, str(T0 + 3 * M)], ["o1", 30, str(T0)]]
    assert [(m[0], m[1], m[2], m[4]) for m in plan.members] == [
        ("u1", "g3", T0 + 1, "join"),
        ("u1", "g3", T0 + 2, "leave"),
    ]
    assert [m[3] for m in plan.members] == [events[1]["key"], events[3]["key"]]


def test_messages_count_per_minute_and_active_members_once() -> None:
    plan = plan_batch([message("u1"), message("u1", T0 + M), message("u2", T0 + M + 1)])
    assert plan.minutes["messages"] == {str(T0): 1, str(T0 + M): 2}
    assert plan.active == {"u1", "u2"}
    payload = plan.as_payload(0)
    assert payload["active"] == ["u1", "u2"]
    assert payload["gh"]["msg"] == ["g1", 3]


def test_buyers_are_distinct_per_minute() -> None:
    plan = plan_batch([order("a", 1, buyer_id="b1"), order("b", 1, buyer_id="b1"),
                       order("c", 1, T0 + M, buyer_id="b1"), order("d", 1, buyer_id="b2")])  # fmt: skip
    assert plan.buyers_by_minute == {str(T0): {"b1", "b2"}, str(T0 + M): {"b1"}}
    assert sorted(plan.as_payload(0)["buyers"]) == [[str(T0), ["b1", "b2"]], [str(T0 + M), ["b1"]]]


def test_the_latest_name_in_the_batch_wins_and_a_missing_name_keeps_it() -> None:
    plan = plan_batch([order("a", 1, seller_name="旧名"), order("b", 1, seller_name="新名"),
                       order("c", 1)])  # fmt: skip
    assert plan.names["sellers"] == {"s1": "新名"}


def pairs(flat: list[Any]) -> dict[str, Any]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def test_payload_is_flat_json_for_the_script() -> None:
    plan = plan_batch([order("a", 100, seller_id="s1"), order("b", 300, seller_id="s2"),
                       order("c", 50, T0 + M, seller_id="s1")])  # fmt: skip
    payload = orjson.loads(orjson.dumps(plan.as_payload(1_234)))
    assert payload["now"] == 1_234 and payload["max_ts"] == T0 + M
    sellers = payload["boards"]["sellers"]
    assert pairs(sellers["gmv"]) == {"s1": 150, "s2": 300}
    assert pairs(sellers["orders"]) == {"s1": 2, "s2": 1}
    minute = {m: pairs(f) for m, f in sellers["minute"]}
    assert minute == {str(T0): {"s1": 100, "s2": 300}, str(T0 + M): {"s1": 50}}
    assert set(payload["boards"]) == set(BOARDS)
    assert pairs(payload["min"]["gmv"]) == {str(T0): 400, str(T0 + M): 50}
    assert "messages" not in payload["min"]  # an empty metric is not sent


# --- properties ---------------------------------------------------------------------


@st.composite
def events(draw: st.DrawFn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 30))):
        ts = T0 + draw(st.integers(0, 5 * M))
        kind = draw(st.sampled_from(["order", "order", "refund", "message", "member"]))
        if kind == "order":
            out.append(order(f"o{i}", draw(st.integers(1, 10**6)), ts,
                             quantity=draw(st.integers(1, 4)),
                             seller_id=draw(st.sampled_from(["s1", "s2", "s3"])),
                             group_id=draw(st.sampled_from(["g1", "g2"])),
                             buyer_id=draw(st.sampled_from(["b1", "b2", "b3"]))))  # fmt: skip
        elif kind == "refund":
            out.append(refund(f"o{draw(st.integers(0, 30))}", draw(st.integers(1, 10**6)), ts))
        elif kind == "message":
            out.append(message(draw(st.sampled_from(["u1", "u2"])), ts))
        else:
            out.append(member(draw(st.sampled_from(["u1", "u2"])), draw(st.sampled_from(["join", "leave"])), ts))  # fmt: skip
    return out


def _sums(plan: Any) -> dict[str, Any]:
    """A plan's additive parts, as plain dicts (zeros dropped)."""
    return {
        "totals": {k: v for k, v in plan.totals.items() if v},
        "minutes": {k: dict(v) for k, v in plan.minutes.items()},
        "boards": {b: dict(plan.board_gmv[b]) for b in BOARDS},
        "orders": {b: dict(plan.board_orders[b]) for b in BOARDS},
        "buyers": {m: set(b) for m, b in plan.buyers_by_minute.items()},
    }


def _add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    def add(x: dict[str, int], y: dict[str, int]) -> dict[str, int]:
        return {k: x.get(k, 0) + y.get(k, 0) for k in x.keys() | y.keys()}

    return {
        "totals": add(a["totals"], b["totals"]),
        "minutes": {k: add(a["minutes"][k], b["minutes"][k]) for k in a["minutes"]},
        "boards": {k: add(a["boards"][k], b["boards"][k]) for k in BOARDS},
        "orders": {k: add(a["orders"][k], b["orders"][k]) for k in BOARDS},
        "buyers": {
            m: a["buyers"].get(m, set()) | b["buyers"].get(m, set())
            for m in a["buyers"].keys() | b["buyers"].keys()
        },
    }


@hsettings(max_examples=30, deadline=None)
@given(events(), st.data())
def test_split_batches_add_up_to_one_batch(evs: list[dict[str, Any]], data: st.DataObject) -> None:
    """The aggregator may cut the stream anywhere: two plans sum to the plan of both."""
    cut = data.draw(st.integers(0, len(evs)))
    whole = _sums(plan_batch(evs))
    assert _add(_sums(plan_batch(evs[:cut])), _sums(plan_batch(evs[cut:]))) == whole


@hsettings(max_examples=30, deadline=None)
@given(events(), st.randoms(use_true_random=False))
def test_every_breakdown_sums_to_the_totals_in_any_order(
    evs: list[dict[str, Any]], rnd: Any
) -> None:
    plan = plan_batch(evs)
    orders = [e for e in evs if e["type"] == "order"]
    gmv = sum(e["amount_fen"] for e in orders)
    assert plan.totals.get("gmv", 0) == gmv == sum(plan.minutes["gmv"].values())
    for b in BOARDS:
        assert sum(plan.board_gmv[b].values()) == gmv
        assert sum(plan.board_orders[b].values()) == len(orders)
        assert sum(sum(v.values()) for v in plan.board_minute_gmv[b].values()) == gmv
    assert len(plan.orders) == len(orders) and len(plan.lids) == len(evs)
    assert plan.max_ts == max((e["ts"] for e in evs), default=0)
    shuffled = list(evs)
    rnd.shuffle(shuffled)
    assert _sums(plan_batch(shuffled)) == _sums(plan)
