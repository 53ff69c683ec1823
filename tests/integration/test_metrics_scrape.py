"""/metrics as Prometheus scrapes it (issue 20): counters equal what the API answered,
pending events fall to 0 once applied, the access rule, and no secret in the output."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN, Harness, clean_settings, harness_for
from tests.e2e.test_smoke import order
from warroom.settings import Settings

LOOPBACK = ("127.0.0.1", 40000)


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


async def live_campaign(h: Harness, slug: str = "sale") -> dict[str, str]:
    now = datetime.now(UTC)
    return await h.create_campaign(
        slug=slug, starts_at=iso(now - timedelta(hours=1)), ends_at=iso(now + timedelta(hours=2))
    )


def fresh(o: dict[str, Any]) -> dict[str, Any]:
    """An order stamped on arrival (no `ts`): inside the live campaign's window."""
    return {k: v for k, v in o.items() if k != "ts"}


async def scrape(h: Harness, client: tuple[str, int] = LOOPBACK, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=h.app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        return await c.get("/metrics", headers=headers)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_counters_equal_what_the_api_answered(harness: Harness) -> None:
    c = await live_campaign(harness)
    before = samples((await scrape(harness)).text)
    batch = [fresh(order(i)) for i in range(7)]
    batch.append({"type": "order", "order_id": "bad", "amount_fen": -5})  # rejected
    batch.append({"type": "nonsense"})  # rejected, type unknown
    first = (await harness.post_events("sale", c["ingest_token"], batch)).json()
    again = batch[:3] + [{**fresh(order(1)), "amount_fen": 999_999}]  # 3 dups + 1 conflict
    second = (await harness.post_events("sale", c["ingest_token"], again)).json()
    ndjson = b'{"type": "member", "event_id": "m1", "member_id": "u1", "group_id": "g1", "action": "join"}\nnot json\n'
    third = (await harness.post_events("sale", c["ingest_token"], ndjson, ndjson=True)).json()

    after = samples((await scrape(harness)).text)

    def delta(type_: str, outcome: str) -> float:
        key = dict(campaign="sale", type=type_, outcome=outcome)
        return value(after, "warroom_events_total", **key) - value(
            before, "warroom_events_total", **key
        )

    answered = [first, second, third]
    assert sum(a["accepted"] for a in answered) == delta("order", "accepted") + delta(
        "member", "accepted"
    )
    assert first["accepted"] == 7 and delta("order", "accepted") == 7
    assert second["duplicates"] == 3 and delta("order", "duplicate") == 3
    assert third["accepted"] == 1 and delta("member", "accepted") == 1
    rejected = sum(len(a["rejected"]) for a in answered)
    assert rejected == 4  # -5 fen, the unknown type, the conflict, the line that is not JSON
    assert (
        delta("order", "rejected") + delta("invalid", "rejected") + delta("member", "rejected")
        == rejected
    )
    assert delta("invalid", "rejected") == 2  # "nonsense" and the line that is not JSON
    # the request histogram counted each of the three requests
    got = value(after, "warroom_ingest_request_seconds_count", via="api") - value(
        before, "warroom_ingest_request_seconds_count", via="api"
    )
    assert got == 3


async def test_pending_events_fall_to_zero_once_applied(harness: Harness) -> None:
    c = await live_campaign(harness)
    res = await harness.post_events("sale", c["ingest_token"], [fresh(order(i)) for i in range(40)])
    assert res.json()["accepted"] == 40
    found = samples((await scrape(harness)).text)
    assert value(found, "warroom_campaign_live", campaign="sale") == 1
    assert value(found, "warroom_stream_pending_events", campaign="sale") == 40
    await harness.drain()
    harness.runtime.vitals.cache_s = 0  # read again now, not the second-old reading
    found = samples((await scrape(harness)).text)
    assert value(found, "warroom_stream_pending_events", campaign="sale") == 0
    assert value(found, "warroom_restoring", campaign="sale") == 0
    lag = found.get(("warroom_settled_lag_seconds", (("campaign", "sale"),)))
    assert lag is not None and 0 <= lag < 60


async def test_a_campaign_that_is_not_live_has_no_campaign_gauges(harness: Harness) -> None:
    await harness.create_campaign(slug="past")  # 2026-11-11: over long ago
    found = samples((await scrape(harness)).text)
    assert not any(labels == (("campaign", "past"),) for _, labels in found)
    assert value(found, "warroom_dependency_up", dependency="redis") == 1
    assert value(found, "warroom_dependency_up", dependency="database") == 1


async def test_without_a_token_only_loopback_may_scrape(harness: Harness) -> None:
    assert (await scrape(harness)).status_code == 200
    assert (await scrape(harness, ("::1", 40000))).status_code == 200
    far = await scrape(harness, ("10.1.2.3", 40000))
    assert far.status_code == 403
    assert "WARROOM_METRICS_TOKEN" in far.json()["error"]


async def test_with_a_token_a_bearer_is_needed_from_anywhere(
    redis_url: str, database_url: str, tmp_path: Any
) -> None:
    settings = clean_settings(redis_url, database_url, tmp_path)
    settings.metrics.token = "scrape-secret-123"
    async with harness_for(settings) as h:
        assert (await scrape(h)).status_code == 401  # loopback is not enough now
        wrong = await scrape(h, Authorization="Bearer nope")
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        far = await scrape(h, ("10.1.2.3", 1), Authorization="Bearer scrape-secret-123")
        assert far.status_code == 200
        assert far.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "scrape-secret-123" not in far.text


async def test_no_secret_in_any_metric_output(harness: Harness) -> None:
    c = await live_campaign(harness)
    await harness.post_events("sale", c["ingest_token"], [fresh(order(1))])
    await harness.client.get(
        f"/api/v1/campaigns/sale/snapshot?token={c['viewer_token']}",
    )
    await harness.post_events("sale", "wrong-token", [fresh(order(2))])
    await harness.drain()
    text = (await scrape(harness)).text
    for secret in (c["ingest_token"], c["viewer_token"], ADMIN, "wrong-token"):
        assert secret not in text
    # labels come from fixed sets and live slugs only
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            assert set(s.labels.get("campaign", "sale")) <= set(
                "abcdefghijklmnopqrstuvwxyz0123456789-_"
            )


async def test_refusals_by_limit_are_counted(
    redis_url: str, database_url: str, tmp_path: Any
) -> None:
    settings = clean_settings(redis_url, database_url, tmp_path, warroom_max_events_per_request=3)
    async with harness_for(settings) as h:
        c = await live_campaign(h)
        before = samples((await scrape(h)).text)
        res = await h.post_events("sale", c["ingest_token"], [fresh(order(i)) for i in range(4)])
        assert res.status_code == 413
        big = await h.client.post(
            "/api/v1/campaigns",
            content=b"x" * (2 * 1024 * 1024),
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert big.status_code == 413
        after = samples((await scrape(h)).text)
        for limit in ("events_per_request", "body_bytes"):
            grew = value(after, "warroom_refused_total", limit=limit) - value(
                before, "warroom_refused_total", limit=limit
            )
            assert grew == 1, limit
        codes = value(after, "warroom_http_responses_total", code="413") - value(
            before, "warroom_http_responses_total", code="413"
        )
        assert codes == 2


@pytest.mark.timeout(120)
async def test_dependency_state_follows_a_stopped_redis(tmp_path: Any, database_url: str) -> None:
    from warroom.adapters.redis.embedded import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "own-redis")
    url = server.start()
    try:
        settings = clean_settings(url, database_url, tmp_path, warroom_dependency_timeout_s=1.0)
        async with harness_for(settings) as h:
            h.runtime.vitals.cache_s = 0
            found = samples((await scrape(h)).text)
            assert value(found, "warroom_dependency_up", dependency="redis") == 1
            server.stop()
            deadline = time.monotonic() + 30
            while True:
                found = samples((await scrape(h)).text)
                if value(found, "warroom_dependency_up", dependency="redis") == 0:
                    break
                assert time.monotonic() < deadline, "redis still reported up"
                await asyncio.sleep(0.2)
            assert value(found, "warroom_dependency_up", dependency="database") == 1
    finally:
        server.stop()


def test_settings_read_the_metrics_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_METRICS_TOKEN", "t0k")
    monkeypatch.setenv("WARROOM_METRICS_PORT", "9101")
    s = Settings()
    assert s.metrics.token == "t0k" and s.metrics.port == 9101
