"""The campaign directory's cache is bounded and never keeps unknown slugs (issue 17,
item 4): random slugs once grew a web process by 350 MB, never released."""

from __future__ import annotations

import secrets
from typing import Any

from tests.fakes import fake_runtime
from warroom.core.campaign import CampaignSettings
from warroom.services.campaigns import CampaignDirectory


def settings(slug: str) -> CampaignSettings:
    return CampaignSettings.model_validate(
        {
            "slug": slug,
            "name": "快闪",
            "starts_at": "2024-05-20T10:00:00+08:00",
            "ends_at": "2024-05-20T17:00:00+08:00",
            "target_base_fen": 100_000_000,
        }
    )


async def test_unknown_slugs_leave_the_cache_empty() -> None:
    rt = fake_runtime()
    await rt.campaigns.create(settings("sale"))
    assert await rt.campaigns.get("sale") is not None
    size = rt.campaigns.cached
    for _ in range(500):
        assert await rt.campaigns.get(secrets.token_hex(8)) is None  # could be a slug
        assert await rt.campaigns.get("x" * 60_000 + secrets.token_hex(4)) is None
    assert rt.campaigns.cached == size == 1


async def test_a_slug_that_cannot_exist_is_not_looked_up() -> None:
    rt = fake_runtime()
    calls: list[str] = []
    lookup = rt.store.get_campaign

    def counted(slug: str) -> Any:
        calls.append(slug)
        return lookup(slug)

    rt.store.get_campaign = counted  # type: ignore[method-assign]
    assert await rt.campaigns.get("Z" * 60_000) is None
    assert await rt.campaigns.get("../etc") is None
    assert calls == []


async def test_known_campaigns_are_kept_up_to_the_bound() -> None:
    rt = fake_runtime()
    directory = CampaignDirectory(rt.store, rt.streams, max_entries=5)
    for n in range(12):
        await directory.create(settings(f"c{n}"))
        assert await directory.get(f"c{n}") is not None
        assert directory.cached <= 5
    assert directory.cached == 5
    assert await directory.get("c0") is not None  # evicted, then read again: still found
