"""A human in the loop, end to end on the real stores (contract v3): a rule in mode
"propose" proposes, an operator approves or dismisses, the hosts of the treated
groups get a task, and the first "done" is the fire's time. Budget and max fires
count fired stimuli only; the holdout is drawn at every fire and recorded."""

from __future__ import annotations

import time
from typing import Any

import orjson

from tests.conftest import ADMIN, Harness
from tests.e2e.test_people import add_key, add_user, bearer, person_client
from warroom.core.campaign import StimulusRule
from warroom.core.reports.holdout import Assignment
from warroom.services import proposals, treatment
from warroom.workers.rule_step import open_proposals
from warroom.workers.triggers import Triggers

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
MINUTE = 60_000
RULE: dict[str, Any] = {
    "name": "红包雨",
    "window_minutes": 3,
    "sustain_minutes": 1,
    "cooldown_minutes": 0,
    "max_fires": 2,
    "mode": "propose",
    "propose_ttl_minutes": 10,
    "action": {"kind": "red_packet_rain", "amount_fen": 200_000, "text": "🧧红包雨来了！"},
}
GROUPS = [f"g{i}" for i in range(1, 9)]


def live(**kw: Any) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {"starts_at": now - 3_600_000, "ends_at": now + 6 * 3_600_000, **kw}


async def campaign(h: Harness, **kw: Any) -> tuple[dict[str, str], Any]:
    c = await h.create_campaign(**live(**kw))
    record = await h.runtime.campaigns.get("sale")
    return c, record


async def sell_in_groups(h: Harness, c: dict[str, str]) -> None:
    """One order per group, group gN sold by seller sN, a minute ago."""
    ts = int(time.time() * 1000) - MINUTE
    events = [
        {
            "type": "order", "order_id": f"o{i}", "amount_fen": 10_000 * (i + 1),
            "seller_id": f"s{i + 1}", "group_id": g, "buyer_id": f"b{i}", "product_id": "p1",
            "ts": ts,
        }
        for i, g in enumerate(GROUPS)
    ]  # fmt: skip
    res = await h.post_events("sale", c["ingest_token"], events)
    assert res.status_code == 202, res.text
    await h.drain()


async def propose(h: Harness, record: Any, key: str, at_ms: int | None = None) -> int:
    rule = StimulusRule.model_validate(record.settings.stimulus_rules[0].model_dump())
    now = int(time.time() * 1000) if at_ms is None else at_ms
    assert await proposals.propose(h.runtime.reports, record, key, rule, now)
    (row,) = [p for p in h.runtime.reports.proposals(record.id) if p.key == key]
    return int(row.id)


async def entries(h: Harness, c: dict[str, str]) -> list[dict[str, Any]]:
    res = await h.client.get("/api/v1/campaigns/sale/stimuli", params={"token": c["viewer_token"]})
    assert res.status_code == 200
    return res.json()


def url(fire_id: int, what: str) -> str:
    return f"/api/v1/campaigns/sale/stimuli/{fire_id}/{what}"


async def test_propose_approve_done_spends_at_approval_and_times_the_fire_at_the_done(
    harness: Harness,
) -> None:
    h = harness
    c, record = await campaign(h, stimulus_rules=[RULE], stimulus_budget_fen=1_000_000)
    await sell_in_groups(h, c)
    rt = h.runtime
    fire_id = await propose(h, record, "fire:红包雨:1:p1")
    # a proposal: no report, no budget, not on the screens' feed
    assert rt.reports.spent_fen(record.id) == 0
    assert [e["status"] for e in await entries(h, c)] == ["proposed"]
    assert await rt.hot.read_feed("sale", "stimuli") == []
    assert rt.reports.reports(record.id) == []

    res = await h.client.post(url(fire_id, "approve"), headers=ADMIN_H)
    assert res.status_code == 200, res.text
    assert res.json()["status"] == "fired"
    row = rt.reports.fire(record.id, fire_id)
    assert row.status == "fired" and row.decided_by == "admin token"
    assert row.at_ms == row.decided_at_ms
    assert rt.reports.spent_fen(record.id) == 200_000  # spent only now
    assert [r.kind for r in rt.reports.reports(record.id)] == ["stimulus"]
    assert [f["id"] for f in await rt.hot.read_feed("sale", "stimuli")] == [fire_id]
    tasks = rt.reports.tasks(record.id)
    assert sorted(t["seller_id"] for t in tasks) == [f"s{i}" for i in range(1, 9)]
    audit = [a["action"] for a in rt.store.audit_log(record.id)]
    assert "stimulus_approve" in audit

    # The host page shows the task; its 完成 moves the fire's time, once.
    link, token = await rt.links.create(record, kind="host", masked=False, seller_id="s3")
    page = await h.client.get("/c/sale/host", params={"token": token})
    assert page.status_code == 200 and "待办任务" in page.text and "🧧红包雨来了！" in page.text
    mine = [t for t in tasks if t["seller_id"] == "s3"][0]
    other = [t for t in tasks if t["seller_id"] == "s4"][0]
    # a host link marks its own seller's tasks only
    res = await h.client.post(f"/c/sale/host/tasks/{other['id']}/done", params={"token": token})
    assert res.status_code == 404
    res = await h.client.post(f"/c/sale/host/tasks/{mine['id']}/done", params={"token": token})
    assert res.status_code == 200 and res.json()["moved_fire_time"] is True
    again = await h.client.post(f"/c/sale/host/tasks/{mine['id']}/done", params={"token": token})
    assert again.status_code == 200 and again.json()["moved_fire_time"] is False  # idempotent
    done_at = [t for t in rt.reports.tasks(record.id, open_only=False) if t["id"] == mine["id"]]
    moved = rt.reports.fire(record.id, fire_id)
    assert moved.at_ms == done_at[0]["done_at_ms"] >= row.decided_at_ms
    # a later done (the full viewer token) only marks its task
    res = await h.client.post(
        f"/c/sale/host/tasks/{other['id']}/done", params={"token": c["viewer_token"]}
    )
    assert res.status_code == 200 and res.json()["moved_fire_time"] is False
    assert rt.reports.fire(record.id, fire_id).at_ms == moved.at_ms
    listed = await h.client.get("/c/sale/host/tasks", params={"token": token})
    assert listed.json()["tasks"] == []


async def test_dismissed_and_expired_proposals_never_fire_nor_spend(harness: Harness) -> None:
    h = harness
    c, record = await campaign(h, stimulus_rules=[RULE], stimulus_budget_fen=1_000_000)
    rt = h.runtime
    first = await propose(h, record, "fire:红包雨:1:p1")
    res = await h.client.post(url(first, "dismiss"), headers=ADMIN_H)
    assert res.status_code == 200 and res.json()["status"] == "dismissed"
    assert (await h.client.post(url(first, "approve"), headers=ADMIN_H)).status_code == 409
    assert (await h.client.post(url(first, "dismiss"), headers=ADMIN_H)).status_code == 409

    # proposed 20 campaign minutes ago with a 10-minute ttl: the tick expires it
    second = await propose(h, record, "fire:红包雨:1:p2", int(time.time() * 1000) - 20 * MINUTE)
    await Triggers(rt.store, rt.hot, rt.reports, rt.announcer).tick()
    assert rt.reports.fire(record.id, second).status == "expired"
    res = await h.client.post(url(second, "approve"), headers=ADMIN_H)
    assert res.status_code == 409 and "expired" in res.json()["error"]
    assert [e["status"] for e in await entries(h, c)] == ["dismissed", "expired"]
    assert rt.reports.spent_fen(record.id) == 0 and rt.reports.fires(record.id) == []
    assert rt.reports.reports(record.id) == [] and rt.reports.tasks(record.id) == []
    # unknown ids: 404
    assert (await h.client.post(url(999, "approve"), headers=ADMIN_H)).status_code == 404
    assert (await h.client.post(url(999, "dismiss"), headers=ADMIN_H)).status_code == 404


async def test_approving_twice_or_over_budget_is_409_and_changes_nothing(harness: Harness) -> None:
    h = harness
    c, record = await campaign(h, stimulus_rules=[RULE], stimulus_budget_fen=300_000)
    rt = h.runtime
    a = await propose(h, record, "fire:红包雨:1:p1")
    assert (await h.client.post(url(a, "approve"), headers=ADMIN_H)).status_code == 200
    res = await h.client.post(url(a, "approve"), headers=ADMIN_H)
    assert res.status_code == 409 and "approved already" in res.json()["error"]
    b = await propose(h, record, "fire:红包雨:2:p2")
    before = (rt.reports.entries(record.id), rt.reports.reports(record.id))
    res = await h.client.post(url(b, "approve"), headers=ADMIN_H)
    assert res.status_code == 409 and "over budget" in res.json()["error"]
    assert (rt.reports.entries(record.id), rt.reports.reports(record.id)) == before
    assert rt.reports.spent_fen(record.id) == 200_000
    # still open: it can be dismissed
    assert (await h.client.post(url(b, "dismiss"), headers=ADMIN_H)).status_code == 200


async def test_approving_after_the_end_is_409_and_changes_nothing(harness: Harness) -> None:
    h = harness
    c, record = await campaign(h, stimulus_rules=[RULE])
    rt = h.runtime
    a = await propose(h, record, "fire:红包雨:1:p1")
    now = int(time.time() * 1000)
    res = await h.client.patch(
        "/api/v1/campaigns/sale", json={"ends_at": now - 1_000}, headers=ADMIN_H
    )
    assert res.status_code == 200, res.text
    before = (rt.reports.entries(record.id), rt.reports.reports(record.id))
    res = await h.client.post(url(a, "approve"), headers=ADMIN_H)
    assert res.status_code == 409 and "has ended" in res.json()["error"]
    assert (rt.reports.entries(record.id), rt.reports.reports(record.id)) == before
    assert rt.reports.spent_fen(record.id) == 0
    # it can still be dismissed: the operator's queue empties
    assert (await h.client.post(url(a, "dismiss"), headers=ADMIN_H)).status_code == 200


async def test_an_analyst_cannot_approve(harness: Harness) -> None:
    h = harness
    c, record = await campaign(h, stimulus_rules=[RULE])
    fire_id = await propose(h, record, "fire:红包雨:1:p1")
    reader = await add_key(h, "reader", "analyst")
    res = await h.client.post(url(fire_id, "approve"), headers=bearer(reader["key"]))
    assert res.status_code == 403
    user = await add_user(h, "an@example.com", "analyst")
    client, csrf = await person_client(h, "an@example.com", user["password"])
    async with client:
        cards = await client.get("/admin/c/sale/proposals")
        assert cards.status_code == 200 and "红包雨" in cards.text
        assert "data-approve" not in cards.text  # no buttons for an analyst
        res = await client.post(
            f"/admin/c/sale/proposals/{fire_id}/approve", data={"csrf_token": csrf}
        )
        assert res.status_code == 403
    assert h.runtime.reports.fire(record.id, fire_id).status == "proposed"


async def test_the_console_card_approves_with_its_evidence(harness: Harness) -> None:
    h = harness
    c, record = await campaign(h, stimulus_rules=[RULE], stimulus_budget_fen=1_000_000)
    fire_id = await propose(h, record, "fire:红包雨:1:p1")
    user = await add_user(h, "op@example.com", "operator")
    client, csrf = await person_client(h, "op@example.com", user["password"])
    async with client:
        cards = await client.get("/admin/c/sale/proposals")
        assert "data-approve" in cards.text and "峰值" in cards.text and "还剩" in cards.text
        res = await client.post(
            f"/admin/c/sale/proposals/{fire_id}/approve", data={"csrf_token": csrf}
        )
        assert res.status_code == 200 and "已批准" in res.text
        res = await client.post(
            f"/admin/c/sale/proposals/{fire_id}/approve", data={"csrf_token": csrf}
        )
        assert "建议已被批准" in res.text
    row = h.runtime.reports.fire(record.id, fire_id)
    assert row.status == "fired" and row.decided_by == "op@example.com"


async def test_a_holdout_at_an_auto_fire_is_recorded_replayable_and_hidden_from_held_out_hosts(
    harness: Harness,
) -> None:
    h = harness
    rule = {**RULE, "mode": "auto", "holdout_share": 0.5, "effect_minutes": 7}
    c, record = await campaign(h, stimulus_rules=[rule])
    await sell_in_groups(h, c)
    rt = h.runtime
    action = record.settings.stimulus_rules[0].action
    fired = await rt.announcer.record_fire(
        record, "fire:红包雨:1", "红包雨", action, int(time.time() * 1000),
        window_minutes=3, holdout_share=0.5, effect_minutes=7, max_fires=2,
    )  # fmt: skip
    assert fired is not None
    row = rt.reports.fire(record.id, int(fired["id"]))
    assert (row.holdout_share, row.effect_minutes) == (0.5, 7)
    recorded = Assignment.from_dict(orjson.loads(row.assignment))
    assert recorded.seed == row.seed and len(recorded.holdout) == 4
    again = await treatment.draw(rt.hot, "sale", 0.5, seed=row.seed)
    assert again == recorded  # the same groups, the same seed: the same draw

    held = int(recorded.holdout[0].removeprefix("g"))
    treated = int(recorded.treated[0].removeprefix("g"))
    _, held_token = await rt.links.create(record, kind="host", masked=False, seller_id=f"s{held}")
    _, treated_token = await rt.links.create(
        record, kind="host", masked=False, seller_id=f"s{treated}"
    )
    held_page = await h.client.get("/c/sale/host", params={"token": held_token})
    assert held_page.status_code == 200, held_page.text
    assert "红包雨来了" not in held_page.text
    assert (
        "🧧红包雨来了！"
        in (await h.client.get("/c/sale/host", params={"token": treated_token})).text
    )
    full = await h.client.get("/c/sale/host", params={"token": c["viewer_token"]})
    assert "🧧红包雨来了！" in full.text
    listed = await h.client.get("/c/sale/host/tasks", params={"token": held_token})
    (report,) = h.runtime.reports.reports(record.id)  # the fire's `stimulus` report
    assert listed.json() == {"tasks": [], "hidden": [row.id], "hidden_reports": [report.id]}


async def test_a_pending_proposal_blocks_its_rule_and_a_dismissed_one_does_not(
    harness: Harness,
) -> None:
    """The trigger worker's side: with cooldown 0, a slump proposes once while the
    proposal pends; once dismissed, a later slump proposes again under a new key."""
    h = harness
    c, record = await campaign(h, stimulus_rules=[RULE])
    rt = h.runtime
    first = await propose(h, record, "fire:红包雨:1:p1", int(time.time() * 1000) - MINUTE)
    pending = await open_proposals(rt.reports, rt.announcer, record, int(time.time() * 1000))
    assert [p.id for p in pending] == [first]
    await h.client.post(url(first, "dismiss"), headers=ADMIN_H)
    # the next proposal of fire 1 is attempt 2: a fresh key, not blocked by the first
    second = await propose(h, record, "fire:红包雨:1:p2")
    assert second != first
    assert [e["status"] for e in await entries(h, c)] == ["dismissed", "proposed"]
