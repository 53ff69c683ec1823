"""Every bad input gets a clear error and changes nothing else."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import ADMIN, Harness, harness_for
from tests.e2e.test_smoke import order

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "{{7*7}}",
    "\u202eevil\u202c名字",
    "🧧小美团长🔥",
]


async def state(h: Harness, c: dict[str, str]) -> tuple[Any, int]:
    await h.drain()
    snap = await h.snapshot("sale", c["viewer_token"])
    record = await h.runtime.campaigns.get("sale")
    count = await asyncio.to_thread(h.runtime.store.count_events, record.id)
    return snap["totals"], count


@pytest.fixture
async def seeded(harness: Harness) -> tuple[Harness, dict[str, str]]:
    c = await harness.create_campaign()
    res = await harness.post_events("sale", c["ingest_token"], [order(1), order(2)])
    assert res.json()["accepted"] == 2
    return harness, c


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("amount_fen", True, "amount_fen"),
        ("amount_fen", "100", "amount_fen"),
        ("amount_fen", 12.5, "amount_fen"),
        ("amount_fen", 1e3, "amount_fen"),
        ("amount_fen", -100, "amount_fen"),
        ("amount_fen", 0, "amount_fen"),
        ("amount_fen", 10**11 + 1, "amount_fen"),
        ("amount_fen", None, "amount_fen"),
        ("quantity", 0, "quantity"),
        ("quantity", 1.5, "quantity"),
        ("type", "payment", "type"),
        ("ts", "yesterday", "ts"),
        ("ts", "2026-11-11T10:00:00", "ts"),
        ("ts", True, "ts"),
        ("order_id", True, "order_id"),
        ("order_id", "", "order_id"),
        ("seller_id", {"x": 1}, "seller_id"),
        ("seller_name", 5, "seller_name"),
    ],
)
async def test_bad_event_rejected_alone(seeded, field: str, value: Any, error: str) -> None:
    h, c = seeded
    before = await state(h, c)
    bad = order(50)
    bad[field] = value
    res = await h.post_events("sale", c["ingest_token"], [bad, order(3)])
    assert res.status_code == 202
    body = res.json()
    assert body["accepted"] == 1 and body["duplicates"] == 0
    assert len(body["rejected"]) == 1 and body["rejected"][0]["index"] == 0
    assert body["rejected"][0]["error"].startswith(error)
    totals, count = await state(h, c)
    assert count == before[1] + 1  # only the good one reached the ledger
    assert totals["orders"] == before[0]["orders"] + 1
    assert totals["gmv_fen"] == before[0]["gmv_fen"] + 1000


async def test_missing_field_and_non_object(seeded) -> None:
    h, c = seeded
    missing = order(60)
    del missing["buyer_id"]
    res = await h.post_events("sale", c["ingest_token"], [missing, 42, "order", [1]])
    body = res.json()
    assert body["accepted"] == 0
    assert [r["index"] for r in body["rejected"]] == [0, 1, 2, 3]
    assert body["rejected"][0]["error"] == "buyer_id: is required"


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'{"type": "order", "amount_fen": NaN}', b"", b"   ", b'"just a string"', b"42"],
)
async def test_unreadable_body_is_400(seeded, raw: bytes) -> None:
    h, c = seeded
    before = await state(h, c)
    res = await h.client.post(
        "/api/v1/campaigns/sale/events",
        content=raw,
        headers={
            "Authorization": f"Bearer {c['ingest_token']}",
            "Content-Type": "application/json",
        },
    )
    assert res.status_code == 400
    assert "error" in res.json()
    assert await state(h, c) == before


async def test_ndjson_bad_line_spoils_only_itself(seeded) -> None:
    h, c = seeded
    import orjson

    body = b"\n".join(
        [orjson.dumps(order(70)), b"{broken", b'{"amount_fen": NaN}', orjson.dumps(order(71))]
    )
    res = await h.post_events("sale", c["ingest_token"], body, ndjson=True)
    assert res.json()["accepted"] == 2
    assert [r["index"] for r in res.json()["rejected"]] == [1, 2]


async def test_auth_and_unknown_campaign(seeded) -> None:
    h, c = seeded
    before = await state(h, c)
    url = "/api/v1/campaigns/sale/events"
    assert (await h.client.post(url, json=order(80))).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    res = await h.client.post(url, json=order(80), headers=wrong)
    assert res.status_code == 401 and "token" in res.json()["error"]
    viewer = {"Authorization": f"Bearer {c['viewer_token']}"}
    assert (await h.client.post(url, json=order(80), headers=viewer)).status_code == 401
    # An unknown campaign answers as a wrong token does: names cannot be probed.
    unknown = await h.post_events("nosuch", c["ingest_token"], order(80))
    assert (unknown.status_code, unknown.json()) == (401, res.json())
    assert (await h.client.get("/api/v1/campaigns/sale/snapshot", headers=wrong)).status_code == 401
    assert (
        await h.client.get("/api/v1/campaigns/sale/snapshot?token=" + c["viewer_token"])
    ).status_code == 200
    assert await state(h, c) == before


async def test_oversize_and_too_many(settings) -> None:
    settings.warroom_max_body_bytes = 1500
    settings.warroom_max_events_per_request = 3
    async with harness_for(settings) as h:
        c = await h.create_campaign()
        res = await h.post_events("sale", c["ingest_token"], [order(i) for i in range(10)])
        assert res.status_code == 413
        res = await h.post_events("sale", c["ingest_token"], [order(i) for i in range(4)])
        assert res.status_code == 413 and "events" in res.json()["error"]
        big = order(1, seller_name="x" * 190, group_name="y" * 190)
        res = await h.post_events("sale", c["ingest_token"], [big] * 3)
        assert res.status_code == 413 and "bytes" in res.json()["error"]
        await h.drain()
        assert (await h.snapshot("sale", c["viewer_token"]))["totals"]["orders"] == 0


async def test_shedding_load_is_429(settings) -> None:
    settings.warroom_max_pending_events = 2
    async with harness_for(settings) as h:
        c = await h.create_campaign()
        res = await h.post_events("sale", c["ingest_token"], [order(i) for i in range(3)])
        assert res.status_code == 429
        assert res.headers["retry-after"] == "1"
        await h.drain()
        assert (await h.snapshot("sale", c["viewer_token"]))["totals"]["orders"] == 0


async def test_hostile_names_stored_verbatim(seeded) -> None:
    h, c = seeded
    events = [
        order(100 + i, 5000 - i, seller=f"h{i}", seller_name=n) for i, n in enumerate(HOSTILE)
    ]
    res = await h.post_events("sale", c["ingest_token"], events)
    assert res.json()["accepted"] == len(HOSTILE)
    await h.drain()
    snap = await h.snapshot("sale", c["viewer_token"])
    names = {r["id"]: r["name"] for r in snap["leaderboards"]["sellers"]}
    assert [names[f"h{i}"] for i in range(len(HOSTILE))] == HOSTILE


async def test_duplicates_counted_once_even_concurrently(seeded) -> None:
    h, c = seeded
    before = await state(h, c)
    again = await h.post_events("sale", c["ingest_token"], [order(1), order(2)])
    assert again.json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    results = await asyncio.gather(
        *(h.post_events("sale", c["ingest_token"], order(90, 777)) for _ in range(20))
    )
    assert sum(r.json()["accepted"] for r in results) == 1
    assert sum(r.json()["duplicates"] for r in results) == 19
    totals, count = await state(h, c)
    assert count == before[1] + 1
    assert totals["gmv_fen"] == before[0]["gmv_fen"] + 777


@pytest.mark.parametrize(
    ("patch", "status", "needle"),
    [
        ({"slug": "Bad Slug!"}, 422, "slug"),
        ({"ends_at": "2026-11-11T09:00:00+08:00"}, 422, "ends_at"),
        ({"target_base_fen": 100.5}, 422, "target_base_fen"),
        ({"target_base_fen": -1}, 422, "target_base_fen"),
        ({"timezone": "Mars/Olympus"}, 422, "time zone"),
        ({"time_scale": 0}, 422, "time_scale"),
        ({"milestones_fen": ["100"]}, 422, "milestones_fen"),
        ({"stimulus_rules": [{"name": "x", "action": {"kind": "fireworks"}}]}, 422, "kind"),
        ({"slug": "sale"}, 409, "exists"),
    ],
)
async def test_bad_campaign_rejected(
    seeded, patch: dict[str, Any], status: int, needle: str
) -> None:
    h, _ = seeded
    body = {
        "slug": "other",
        "name": "x",
        "starts_at": "2026-11-11T10:00:00+08:00",
        "ends_at": "2026-11-11T17:00:00+08:00",
        **patch,
    }
    res = await h.client.post(
        "/api/v1/campaigns", json=body, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert res.status_code == status, res.text
    assert needle in res.json()["error"]
    assert await h.runtime.campaigns.get("other") is None


async def test_campaign_needs_admin_token(harness: Harness) -> None:
    body = {"slug": "x", "name": "x", "starts_at": 0, "ends_at": 1000}
    res = await harness.client.post("/api/v1/campaigns", json=body)
    assert res.status_code == 401
    res = await harness.client.post(
        "/api/v1/campaigns", json=body, headers={"Authorization": "Bearer wrong"}
    )
    assert res.status_code == 401
    res = await harness.client.post(
        "/api/v1/campaigns", content=b"{oops", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert res.status_code == 400


# Input windows (contract v2): `ts` from starts_at - 1 day to ends_at + 1 day, at most
# 5 minutes ahead of the campaign clock. The harness campaign runs 2026-11-11 10:00 to
# 17:00 (+08:00) on a real-time clock that is past it: the upper bound is ends_at + 1 day.

DAY_MS = 86_400_000
STARTS_MS = 1_794_362_400_000  # 2026-11-11T10:00:00+08:00
ENDS_MS = STARTS_MS + 7 * 3_600_000


@pytest.mark.parametrize(
    ("ts", "ok"),
    [
        ("1970-01-01T00:00:00Z", False),
        (0, False),
        (1, False),
        ("9999-12-31T23:59:59Z", False),
        (253_402_300_799_000, False),
        (10**14 - 1, False),
        (STARTS_MS - DAY_MS - 1, False),
        (STARTS_MS - DAY_MS, True),
        ("2026-11-10T10:00:00+08:00", True),
        (ENDS_MS + DAY_MS, True),
        (ENDS_MS + DAY_MS + 1, False),
        ("2026-11-12T17:00:00.001+08:00", False),
    ],
)
async def test_ts_outside_the_campaign_window_is_rejected(seeded, ts: Any, ok: bool) -> None:
    h, c = seeded
    before = await state(h, c)
    res = await h.post_events("sale", c["ingest_token"], [order(300, 4321, ts=ts)])
    assert res.status_code == 202
    body = res.json()
    if ok:
        assert body == {"accepted": 1, "duplicates": 0, "rejected": []}
        return
    assert body["accepted"] == 0 and body["rejected"][0]["index"] == 0
    assert body["rejected"][0]["error"].startswith("ts: ")
    totals, count = await state(h, c)
    assert (totals, count) == before
    snap = await h.snapshot("sale", c["viewer_token"])
    assert [r["minute"][:10] for r in snap["per_minute"]] == ["2026-11-11"]


async def test_ts_ahead_of_the_campaign_clock_is_rejected(harness: Harness) -> None:
    """A live campaign: its clock is now, so `ts` may run at most 5 minutes ahead."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    c = await harness.create_campaign(
        starts_at=(now - timedelta(hours=1)).isoformat(),
        ends_at=(now + timedelta(hours=6)).isoformat(),
    )
    ahead = [
        order(1, ts=(now + timedelta(minutes=2)).isoformat()),
        order(2, ts=(now + timedelta(minutes=20)).isoformat()),
        order(3, ts=(now + timedelta(days=400)).isoformat()),
        order(4, ts=None),  # stamped on arrival: always inside
    ]
    res = await harness.post_events("sale", c["ingest_token"], ahead)
    body = res.json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert all(r["error"].startswith("ts: ") for r in body["rejected"])
    await harness.drain()
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert snap["totals"]["orders"] == 2


# A re-sent identity with different fields is a conflict, not a duplicate, and changes
# nothing; the same fields again are a duplicate.


async def test_resent_identity_with_other_fields_is_a_conflict(seeded) -> None:
    h, c = seeded
    before = await state(h, c)
    res = await h.post_events("sale", c["ingest_token"], order(1, 999))
    body = res.json()
    assert res.status_code == 202
    assert body["accepted"] == 0 and body["duplicates"] == 0
    assert len(body["rejected"]) == 1 and body["rejected"][0]["index"] == 0
    assert body["rejected"][0]["error"].startswith("conflict")
    assert "amount_fen" in body["rejected"][0]["error"]
    # batched: each event stands alone, the conflict carries its index
    batch = [order(3), order(2, seller="s9"), order(1), order(4, ts="2026-11-11T11:00:00+08:00")]
    res = await h.post_events("sale", c["ingest_token"], batch)
    body = res.json()
    assert body["accepted"] == 2 and body["duplicates"] == 1
    assert [r["index"] for r in body["rejected"]] == [1]
    assert body["rejected"][0]["error"].startswith("conflict")
    assert "seller_id" in body["rejected"][0]["error"]
    # a changed `ts` is a conflict too
    res = await h.post_events("sale", c["ingest_token"], order(4, ts="2026-11-11T11:01:00+08:00"))
    assert res.json()["rejected"][0]["error"].startswith("conflict")
    totals, count = await state(h, c)
    assert count == before[1] + 2
    assert totals["gmv_fen"] == before[0]["gmv_fen"] + 2000
    assert totals["orders"] == before[0]["orders"] + 2


async def test_conflict_within_one_request_and_ndjson(seeded) -> None:
    import orjson

    h, c = seeded
    body = b"\n".join(orjson.dumps(e) for e in [order(500), order(500, 7), order(500)])
    res = await h.post_events("sale", c["ingest_token"], body, ndjson=True)
    out = res.json()
    assert out["accepted"] == 1 and out["duplicates"] == 1
    assert [r["index"] for r in out["rejected"]] == [1]
    assert out["rejected"][0]["error"].startswith("conflict")
    refund = {"type": "refund", "refund_id": "r1", "order_id": "o1", "amount_fen": 100}
    assert (await h.post_events("sale", c["ingest_token"], refund)).json()["accepted"] == 1
    changed = {**refund, "order_id": "o2"}
    res = await h.post_events("sale", c["ingest_token"], [refund, changed])
    assert res.json()["duplicates"] == 1
    assert res.json()["rejected"][0]["error"].startswith("conflict")
    totals, _ = await state(h, c)
    assert totals["refund_fen"] == 100


async def test_resent_event_without_ts_is_a_duplicate(seeded) -> None:
    """Stamped on arrival, a retry carries a later stamp: still the same event."""
    h, c = seeded
    msg = {"type": "message", "message_id": "m1", "group_id": "g1", "member_id": "u1"}
    assert (await h.post_events("sale", c["ingest_token"], msg)).json()["accepted"] == 1
    await asyncio.sleep(0.01)
    res = await h.post_events("sale", c["ingest_token"], [msg, {**msg, "kind": "image"}])
    assert res.json()["duplicates"] == 1
    assert [r["index"] for r in res.json()["rejected"]] == [1]


async def test_oversize_bodies_are_refused_before_any_token_check(harness: Harness) -> None:
    """FastAPI reads a declared body before the dependencies check the token: the cap
    in front refuses a big body on every route, signed in or not, and changes nothing."""
    await harness.create_campaign()
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    for method, path in (
        ("PATCH", "/api/v1/campaigns/sale"),
        ("POST", "/api/v1/campaigns/sale/tokens/rotate"),
        ("POST", "/api/v1/campaigns/sale/webhooks"),
        ("POST", "/api/v1/campaigns"),
    ):
        res = await harness.client.request(
            method, path, content=big, headers={"Content-Type": "application/json"}
        )
        assert res.status_code == 413, (method, path, res.status_code)
        assert "error" in res.json()
    listed = await harness.client.get(
        "/api/v1/campaigns", headers={"Authorization": "Bearer test-admin-token"}
    )
    assert [c["slug"] for c in listed.json()] == ["sale"]
