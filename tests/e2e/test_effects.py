"""A fired stimulus's effect (services/effects.py) through real SQL, the real aggregator
and the real trigger tick: events posted with their `ts`, drained, and the tick run on
a fixed clock that the test moves past the effect window."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

from tests.conftest import Harness
from tests.fakes import FixedClock
from warroom.workers.triggers import Triggers

MIN = 60_000
TREATED = ["t1", "t2", "t3", "t4"]
HELD = ["h1", "h2", "h3", "h4"]


def order(oid: str, group: str, amount: int, ts: int) -> dict[str, Any]:
    return {
        "type": "order", "order_id": oid, "amount_fen": amount, "seller_id": f"s-{group}",
        "group_id": group, "buyer_id": f"b-{oid}", "product_id": "p1", "ts": ts,
    }  # fmt: skip


def refund(rid: str, oid: str, amount: int, ts: int) -> dict[str, Any]:
    return {"type": "refund", "refund_id": rid, "order_id": oid, "amount_fen": amount, "ts": ts}


async def campaign(h: Harness, now: int) -> tuple[dict[str, str], Any]:
    c = await h.create_campaign(
        starts_at=now - 3 * 3_600_000,
        ends_at=now + 3 * 3_600_000,
        milestones_fen=[],
        report_every_minutes=60,
    )
    record = await h.runtime.campaigns.get("sale")
    assert record is not None
    return c, record


async def post(h: Harness, c: dict[str, str], events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 200):
        res = await h.post_events("sale", c["ingest_token"], events[i : i + 200])
        assert res.status_code in (200, 202), res.text
    await h.drain()


def fire(h: Harness, record: Any, key: str, at: int, **extra: Any) -> int:
    values: dict[str, Any] = {
        "campaign_id": record.id, "key": key, "rule": "午后回暖", "kind": "red_packet_rain",
        "metric": "gmv_per_min", "window_minutes": 10, "at_ms": at, "amount_fen": 2_000,
        "text": "🧧", "manual": False, "status": "fired", "effect_minutes": 10,
    }  # fmt: skip
    values.update(extra)
    return int(h.runtime.reports.claim_fire(**values).id)


def arms(treated: list[str], held: list[str]) -> str:
    return orjson.dumps({"treated": treated, "holdout": held, "seed": 7, "share": 0.5}).decode()


def day(at: int, lift: int, groups: list[str], lifted: list[str]) -> list[dict[str, Any]]:
    """One order per group per minute for 10 minutes before and after `at` (mid-minute),
    each group at its own level, `lift` more per minute in `lifted` groups after it."""
    events = []
    for n, g in enumerate(groups):
        for k in range(-10, 10):
            amount = 1_000 + 137 * n + (lift if g in lifted and k >= 0 else 0)
            events.append(order(f"{g}-{k}", g, amount, at + k * MIN + 30_000))
    return events


def triggers(h: Harness, real_ms: int) -> Triggers:
    rt = h.runtime
    return Triggers(rt.store, rt.hot, rt.reports, rt.announcer, clock=FixedClock(real_ms))


async def effects(h: Harness, c: dict[str, str]) -> dict[int, Any]:
    res = await h.client.get("/api/v1/campaigns/sale/stimuli", params={"token": c["viewer_token"]})
    assert res.status_code == 200
    return {f["id"]: f["effect"] for f in res.json()}


async def test_a_known_lift_in_treated_groups_is_recovered_exactly_once_settled(
    harness: Harness,
) -> None:
    """Noiseless: every group sells the same each minute, treated groups 500 fen a
    minute more after the fire. The effect is null until the window is settled, then
    exactly 500 × 4 groups × 10 minutes, its interval that point, ROI 10× its cost."""
    now = int(time.time() * 1000)
    c, record = await campaign(harness, now)
    at = now - 60 * MIN
    events = day(at, 500, [*TREATED, *HELD, "x1"], [*TREATED, "x1"])
    # outside the measured span, or in a group outside the assignment: not counted
    events += [
        order("early", "t1", 900_000, at - 10 * MIN - 1),
        order("late", "t1", 900_000, at + 10 * MIN),
    ]
    await post(harness, c, events)
    fid = fire(
        harness, record, "fire:a", at, seed=7, holdout_share=0.5, assignment=arms(TREATED, HELD)
    )

    await triggers(harness, at + 9 * MIN).tick()  # the window is not over
    assert (await effects(harness, c))[fid] is None
    await triggers(harness, at + 10 * MIN).tick()  # over, not yet settled (1.5 s)
    assert (await effects(harness, c))[fid] is None

    await triggers(harness, at + 10 * MIN + 2_000).tick()
    effect = (await effects(harness, c))[fid]
    assert effect == {
        "method": "holdout", "treated_groups": 4, "holdout_groups": 4,
        "incremental_gmv_fen": 20_000, "ci90_fen": [20_000, 20_000],
        "roi": 10.0, "roi_ci90": [10.0, 10.0], "overlaps": [], "pre_minutes": 10,
    }  # fmt: skip
    # the screens' feed has it too (the writer refreshed it)
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert snap["stimuli"][0]["effect"]["incremental_gmv_fen"] == 20_000


async def test_refunds_come_off_their_orders_group(harness: Harness) -> None:
    """Refunds name their order, not their group: taken from the order's group in the
    minute of the refund, never more than the order (one order from before the span)."""
    now = int(time.time() * 1000)
    c, record = await campaign(harness, now)
    at = now - 60 * MIN
    events = day(at, 500, [*TREATED, *HELD], TREATED)
    events += [
        order("old", "t2", 2_000, at - 30 * MIN),  # before the span: its refund still counts
        refund("r1", "t1--5", 1_000, at + 3 * MIN),  # t1's order of minute −5 (1,000 fen)
        refund("r2", "old", 2_000, at + 4 * MIN),
        refund("r3", "t3--1", 5_000, at + 5 * MIN),  # more than its order: capped at 1,274
        refund("r4", "h1--2", 1_137, at - 20 * MIN),  # before the span: not in it
    ]
    await post(harness, c, events)
    fid = fire(
        harness, record, "fire:a", at, seed=7, holdout_share=0.5, assignment=arms(TREATED, HELD)
    )
    await triggers(harness, now).tick()
    effect = (await effects(harness, c))[fid]
    # per-group change of the mean per minute: t1 500 − 100, t2 500 − 200, t3 500 − 127.4,
    # t4 500; held-out 0. DiD = 1,572.6 / 4 = 393.15, × 4 groups × 10 minutes.
    assert effect["method"] == "holdout"
    assert effect["incremental_gmv_fen"] == 15_726
    lo, hi = effect["ci90_fen"]
    assert lo < 15_726 < hi


async def test_two_ticks_racing_write_the_effect_once_one_fire_a_tick(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = int(time.time() * 1000)
    c, record = await campaign(harness, now)
    at = now - 60 * MIN
    await post(harness, c, day(at, 500, [*TREATED, *HELD], TREATED))
    first = fire(harness, record, "fire:a", at - 40 * MIN, assignment=arms(TREATED, HELD))
    second = fire(harness, record, "fire:b", at, assignment=arms(TREATED, HELD))
    rt = harness.runtime
    wrote: list[bool] = []
    real = rt.reports.set_effect

    def counted(fire_id: int, text: str) -> bool:
        done = bool(real(fire_id, text))
        wrote.append(done)
        return done

    monkeypatch.setattr(rt.reports, "set_effect", counted)
    await triggers(harness, now).tick()  # one fire a tick: the earliest window
    found = await effects(harness, c)
    assert wrote == [True] and found[first] is not None and found[second] is None
    before = found[first]
    # three workers racing over the last one: each computes it, one writes it
    await asyncio.gather(*(triggers(harness, now).tick() for _ in range(3)))
    found = await effects(harness, c)
    assert wrote.count(True) == 2
    assert found[first] == before and found[second]["incremental_gmv_fen"] == 20_000
    # written once: a second write changes nothing
    assert real(second, '{"method": "trend"}') is False
    assert (await effects(harness, c))[second]["method"] == "holdout"


async def test_no_assignment_is_the_trend_on_the_totals_and_overlaps_are_named(
    harness: Harness,
) -> None:
    """Everyone treated: the counterfactual is the pre-fire trend of the totals (a line
    here), and a second fire inside the window is named on both. A proposal gets none."""
    now = int(time.time() * 1000)
    c, record = await campaign(harness, now)
    at = now - 60 * MIN
    events = []
    for k in range(-10, 10):
        for g in ("a", "b"):  # each group: a rising line, +300 a minute after the fire
            amount = 5_000 + 100 * (k + 10) + (150 if k >= 0 else 0)
            events.append(order(f"{g}{k}", g, amount, at + k * MIN + 30_000))
    await post(harness, c, events)
    one = fire(harness, record, "fire:a", at)
    two = fire(harness, record, "fire:b", at + 15 * MIN, kind="announcement", amount_fen=0)
    proposal = fire(harness, record, "fire:c", at + 5 * MIN, status="proposed")
    for _ in range(4):
        await triggers(harness, now).tick()
    found = await effects(harness, c)
    effect = found[one]
    assert effect["method"] == "trend" and effect["holdout_groups"] == 0
    assert effect["treated_groups"] == 2
    assert effect["incremental_gmv_fen"] == 3_000
    assert effect["ci90_fen"] == [3_000, 3_000]
    assert effect["roi"] == 1.5
    # fire b's window [at+15, at+25) meets a's span [at−10, at+10)? No: a's effect window
    # [at, at+10) meets b's span [at+5, at+25): named on b only.
    assert effect["overlaps"] == []
    assert found[two]["overlaps"] == [one]
    assert found[two]["roi"] is None  # no cost, no ROI
    assert found[proposal] is None


async def test_an_approved_proposal_waits_for_its_first_done(harness: Harness) -> None:
    """The first host's done is the fire's time: no effect before it, the window from it."""
    from warroom.adapters.sql.tables import StimulusTaskRow

    now = int(time.time() * 1000)
    c, record = await campaign(harness, now)
    at = now - 60 * MIN
    await post(harness, c, day(at, 500, [*TREATED, *HELD], TREATED))
    rt = harness.runtime
    fid = fire(
        harness, record, "fire:p", at - 30 * MIN, assignment=arms(TREATED, HELD),
        proposed_at_ms=at - 31 * MIN, decided_at_ms=at - 30 * MIN, decided_by="op",
    )  # fmt: skip
    with rt.reports.engine.begin() as conn:
        task = conn.execute(
            StimulusTaskRow.__table__.insert()
            .values(fire_id=fid, campaign_id=record.id, seller_id="s-t1", groups='["t1"]')
            .returning(StimulusTaskRow.__table__.c.id)
        ).scalar_one()
    await triggers(harness, now).tick()
    assert (await effects(harness, c))[fid] is None  # approved, not yet done
    assert rt.reports.task_done(record.id, task, at) == (fid, True)  # done at `at`
    await triggers(harness, now).tick()
    assert (await effects(harness, c))[fid]["incremental_gmv_fen"] == 20_000
