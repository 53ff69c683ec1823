"""The campaign directory over fakes: create with fresh tokens, update with an audit of
what changed, rotate tokens, and the hints every process acts on (services/campaigns.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes import FakeRuntime, fake_runtime
from warroom.adapters.redis import keys
from warroom.adapters.sql.store import SlugTaken
from warroom.core.campaign import CampaignSettings
from warroom.services.campaigns import CONFIG_HINT, KICK_HINT, NewCampaign, token_matches

NOW = 1_716_000_000_000


def settings(**kw: Any) -> CampaignSettings:
    base: dict[str, Any] = {
        "slug": "520",
        "name": "520 宠粉节",
        "starts_at": "2024-05-20T10:00:00+08:00",
        "ends_at": "2024-05-20T17:00:00+08:00",
        "target_base_fen": 100_000_000,
    }
    base.update(kw)
    return CampaignSettings.model_validate(base)


def hints(rt: FakeRuntime) -> list[str]:
    return [m for ch, m in rt.streams.hint_redis.published if ch == keys.CHANGED_CHANNEL]


async def created(rt: FakeRuntime, **kw: Any) -> NewCampaign:
    return await rt.campaigns.create(settings(**kw))


async def test_create_stores_the_campaign_with_hashed_fresh_tokens():
    rt = fake_runtime(now_ms=NOW)

    new = await created(rt)

    stored = rt.store.get_campaign("520")
    assert stored == new.record
    assert stored.settings == settings() and stored.created_at_ms == NOW
    assert new.ingest_token != new.viewer_token
    assert token_matches(new.ingest_token, stored.ingest_token_hash)
    assert token_matches(new.viewer_token, stored.viewer_token_hash)
    assert not token_matches(new.ingest_token, stored.viewer_token_hash)
    assert new.ingest_token not in (stored.ingest_token_hash, stored.viewer_token_hash)


async def test_create_registers_the_stream_and_starts_an_empty_generation():
    rt = fake_runtime()

    await created(rt)

    assert rt.streams.registered == {"520"}
    assert rt.streams.hint_redis.values[keys.generation("520")] == b"1"


async def test_a_taken_slug_is_refused_and_the_first_campaign_kept():
    rt = fake_runtime()
    first = await created(rt)

    with pytest.raises(SlugTaken):
        await created(rt, name="另一个活动")

    assert rt.store.get_campaign("520") == first.record


async def test_a_new_campaign_is_found_at_once_even_after_a_miss_was_cached():
    rt = fake_runtime()
    assert await rt.campaigns.get("520") is None

    new = await created(rt)

    assert await rt.campaigns.get("520") == new.record
    assert [r.settings.slug for r in await rt.campaigns.list()] == ["520"]


def changes(rt: Any, campaign_id: int) -> list[dict[str, Any]]:
    """The audit after the campaign's creation (which is audited too, issue 18)."""
    rows = rt.store.audit_log(campaign_id)
    assert rows and rows[-1]["action"] == "create"
    return rows[:-1]


async def test_creating_a_campaign_is_audited():
    rt = fake_runtime(now_ms=NOW)
    record = (await created(rt)).record
    assert rt.store.audit_log(record.id) == [
        {"at_ms": NOW, "action": "create", "detail": {"slug": "520", "name": "520 宠粉节"}}
    ]


async def test_update_stores_the_settings_and_audits_before_and_after():
    rt = fake_runtime(now_ms=NOW)
    record = (await created(rt)).record
    changed = settings(name="520 宠粉节 · 返场", target_base_fen=120_000_000)

    fresh = await rt.campaigns.update(record, changed)

    assert fresh.settings == changed
    assert rt.store.get_campaign("520") == fresh
    (entry,) = changes(rt, record.id)
    assert (entry["action"], entry["at_ms"]) == ("update", NOW)
    assert entry["detail"] == {
        "changed": {
            "name": ["520 宠粉节", "520 宠粉节 · 返场"],
            "target_base_fen": [100_000_000, 120_000_000],
        }
    }
    assert hints(rt) == [CONFIG_HINT + "520", "520"]  # forget the record, then render


async def test_an_update_that_changes_nothing_is_not_audited():
    rt = fake_runtime()
    record = (await created(rt)).record

    await rt.campaigns.update(record, settings())

    assert changes(rt, record.id) == []


async def test_the_slug_of_a_campaign_cannot_change():
    rt = fake_runtime()
    record = (await created(rt)).record

    with pytest.raises(ValueError):
        await rt.campaigns.update(record, settings(slug="521"))

    assert rt.store.get_campaign("521") is None
    assert rt.store.get_campaign("520") == record
    assert hints(rt) == []


async def test_rotating_the_ingest_token_replaces_it_and_keeps_the_viewer_token():
    rt = fake_runtime(now_ms=NOW)
    new = await created(rt)

    token = await rt.campaigns.rotate(new.record, "ingest")

    stored = rt.store.get_campaign("520")
    assert token_matches(token, stored.ingest_token_hash)
    assert not token_matches(new.ingest_token, stored.ingest_token_hash)
    assert token_matches(new.viewer_token, stored.viewer_token_hash)
    assert changes(rt, new.record.id) == [
        {"at_ms": NOW, "action": "rotate", "detail": {"which": "ingest"}}
    ]
    assert hints(rt) == [CONFIG_HINT + "520", "520"]


async def test_rotating_the_viewer_token_closes_the_open_screens():
    rt = fake_runtime()
    new = await created(rt)

    token = await rt.campaigns.rotate(new.record, "viewer")

    stored = rt.store.get_campaign("520")
    assert token_matches(token, stored.viewer_token_hash)
    assert not token_matches(new.viewer_token, stored.viewer_token_hash)
    assert hints(rt) == [KICK_HINT + "520", "520"]


async def test_an_unknown_token_kind_changes_nothing():
    rt = fake_runtime()
    new = await created(rt)

    with pytest.raises(ValueError):
        await rt.campaigns.rotate(new.record, "admin")

    assert rt.store.get_campaign("520") == new.record
    assert changes(rt, new.record.id) == []
