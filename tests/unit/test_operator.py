"""Operator actions over fakes: manual fires within the budget, ending early, webhook
test messages through the Deliverer factory (services/operator.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes import FakeRuntime, fake_runtime
from warroom.adapters.outbound.delivery import Outcome
from warroom.adapters.redis import keys
from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import rfc3339
from warroom.core.records import CampaignRecord
from warroom.services import operator
from warroom.services.campaigns import CONFIG_HINT
from warroom.services.refusal import Refused

HOUR = 3_600_000
SLOW = {
    "name": "slow",
    "action": {"kind": "red_packet_rain", "amount_fen": 6_000, "text": "红包雨来了"},
}


def live_campaign(rt: FakeRuntime, **kw: Any) -> CampaignRecord:
    """A campaign live on the runtime's clock (the operator reads it), budget 10 000 fen."""
    now = rt.clock.now_ms()
    base: dict[str, Any] = {
        "slug": "live",
        "name": "直播间快闪",
        "starts_at": rfc3339(now - HOUR, "Asia/Shanghai"),
        "ends_at": rfc3339(now + HOUR, "Asia/Shanghai"),
        "stimulus_rules": [SLOW],
        "stimulus_budget_fen": 10_000,
    }
    base.update(kw)
    s = CampaignSettings.model_validate(base)
    return rt.store.create_campaign(s, "ingest-hash", "viewer-hash", now - 2 * HOUR)


async def fire(rt: FakeRuntime, record: CampaignRecord, **kw: Any) -> dict[str, Any] | None:
    args: dict[str, Any] = {"rule_name": None, "kind": None, "amount_fen": None, "text": None}
    args.update(kw)
    return await operator.fire(rt, record, **args)


def actions(rt: FakeRuntime, record: CampaignRecord) -> list[str]:
    return [a["action"] for a in rt.store.audit_log(record.id)]


async def test_a_manual_fire_of_a_rule_is_recorded_fed_and_audited():
    rt = fake_runtime()
    record = live_campaign(rt)

    fired = await fire(rt, record, rule_name="slow")

    assert fired is not None
    assert (fired["rule"], fired["kind"], fired["amount_fen"], fired["manual"]) == (
        "slow",
        "red_packet_rain",
        6_000,
        True,
    )
    assert await rt.hot.read_feed("live", "stimuli") == [fired]
    (entry,) = rt.store.audit_log(record.id)
    assert entry["action"] == "fire"
    assert entry["detail"] == {"rule": "slow", "kind": "red_packet_rain", "amount_fen": 6_000}
    assert (await operator.budget(rt, record))["left_fen"] == 4_000


async def test_a_manual_fire_over_the_budget_is_refused_with_409():
    rt = fake_runtime()
    record = live_campaign(rt)
    await fire(rt, record, rule_name="slow")

    with pytest.raises(Refused) as refused:
        await fire(rt, record, rule_name="slow")

    assert refused.value.status == 409
    assert "4000 fen left, 6000 asked" in refused.value.message
    assert len(rt.reports.fires(record.id)) == 1
    assert actions(rt, record) == ["fire"]


async def test_a_cheaper_fire_still_fits_the_budget():
    rt = fake_runtime()
    record = live_campaign(rt)
    await fire(rt, record, rule_name="slow")

    fired = await fire(rt, record, rule_name="slow", amount_fen=4_000)

    assert fired is not None and fired["amount_fen"] == 4_000
    assert (await operator.budget(rt, record))["left_fen"] == 0


async def test_an_unknown_rule_is_refused_with_422():
    rt = fake_runtime()
    record = live_campaign(rt)

    with pytest.raises(Refused) as refused:
        await fire(rt, record, rule_name="nope")

    assert refused.value.status == 422 and "nope" in refused.value.message
    assert rt.reports.fires(record.id) == []
    assert actions(rt, record) == []


async def test_an_announcement_needs_a_text_and_costs_nothing():
    rt = fake_runtime()
    record = live_campaign(rt, stimulus_budget_fen=0)

    with pytest.raises(Refused) as refused:
        await fire(rt, record, kind="announcement")
    fired = await fire(rt, record, kind="announcement", text="10:30 下一波秒杀")

    assert refused.value.status == 422
    assert fired is not None and (fired["kind"], fired["amount_fen"]) == ("announcement", 0)


@pytest.mark.parametrize("args", [{"rule_name": "slow"}, {"kind": "announcement", "text": "加场"}])
async def test_after_the_end_a_fire_or_announcement_is_refused_with_409(args: dict[str, Any]):
    rt = fake_runtime()
    now = rt.clock.now_ms()
    record = live_campaign(
        rt,
        starts_at=rfc3339(now - 2 * HOUR, "Asia/Shanghai"),
        ends_at=rfc3339(now - 1, "Asia/Shanghai"),
    )

    with pytest.raises(Refused) as refused:
        await fire(rt, record, **args)

    assert (refused.value.status, refused.value.message) == (409, operator.ENDED)
    assert rt.reports.fires(record.id) == []
    assert await rt.hot.read_feed("live", "stimuli") == []
    assert actions(rt, record) == []


async def test_a_fire_the_moment_before_the_end_still_goes_out():
    rt = fake_runtime()
    now = rt.clock.now_ms()
    record = live_campaign(rt, ends_at=rfc3339(now + 1_000, "Asia/Shanghai"))

    assert await fire(rt, record, rule_name="slow") is not None


async def test_ending_early_moves_the_end_to_now_and_audits_it():
    rt = fake_runtime()
    record = live_campaign(rt)
    before = rt.clock.now_ms()

    ended = await operator.end_now(rt, record)

    assert before <= ended.settings.ends_at <= rt.clock.now_ms()
    assert rt.store.get_campaign("live") == ended
    (entry,) = rt.store.audit_log(record.id)
    assert entry["action"] == "end_early"
    assert list(entry["detail"]["changed"]) == ["ends_at"]
    assert (keys.CHANGED_CHANNEL, CONFIG_HINT + "live") in rt.streams.hint_redis.published


@pytest.mark.parametrize("hours", [(1, 2), (-2, -1)], ids=["not yet open", "already over"])
async def test_ending_early_is_refused_unless_live(hours: tuple[int, int]):
    rt = fake_runtime()
    now = rt.clock.now_ms()
    starts, ends = (rfc3339(now + h * HOUR, "Asia/Shanghai") for h in hours)
    record = live_campaign(rt, starts_at=starts, ends_at=ends)

    with pytest.raises(Refused) as refused:
        await operator.end_now(rt, record)

    assert refused.value.status == 409
    assert rt.store.get_campaign("live") == record
    assert actions(rt, record) == []


async def test_a_test_message_goes_through_a_deliverer_and_is_logged():
    rt = fake_runtime()
    record = live_campaign(rt)
    hook = rt.webhooks.add(record.id, "https://a.example/hook", "wecom", "secret-a")
    rt.sender.outcome = Outcome(ok=False, status=429, error="too many requests")

    result = await operator.send_test(rt, record, hook)

    (job,) = rt.sender.sent
    assert (job.webhook_id, job.url, job.format, job.secret) == (
        hook,
        "https://a.example/hook",
        "wecom",
        "secret-a",
    )
    assert job.text == operator.TEST_TEXT and job.campaign_id == record.id
    assert rt.sender.closed == 1
    assert result == {"webhook_id": hook, "ok": False, "status": 429, "error": "too many requests"}
    assert [e["detail"] for e in await operator.test_log(rt, record)] == [result]


async def test_a_test_message_closes_its_deliverer_even_when_sending_fails():
    rt = fake_runtime()
    record = live_campaign(rt)
    hook = rt.webhooks.add(record.id, "https://a.example/hook", "json", "s")
    rt.sender.fail = ConnectionError("no route")

    with pytest.raises(ConnectionError):
        await operator.send_test(rt, record, hook)

    assert rt.sender.closed == 1
    assert await operator.test_log(rt, record) == []


async def test_a_test_message_to_another_campaigns_webhook_is_refused_with_404():
    rt = fake_runtime()
    record = live_campaign(rt)
    other = rt.webhooks.add(record.id + 1, "https://b.example/hook", "json", "s")

    with pytest.raises(Refused) as refused:
        await operator.send_test(rt, record, other)

    assert refused.value.status == 404
    assert rt.sender.sent == []


async def test_the_test_log_shows_only_test_messages():
    rt = fake_runtime()
    record = live_campaign(rt)
    hook = rt.webhooks.add(record.id, "https://a.example/hook", "json", "s")
    await fire(rt, record, rule_name="slow")
    await operator.send_test(rt, record, hook)

    log = await operator.test_log(rt, record)

    assert [e["action"] for e in log] == ["webhook_test"]
    assert actions(rt, record) == ["webhook_test", "fire"]  # newest first
