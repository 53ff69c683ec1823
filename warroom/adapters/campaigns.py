"""Campaign directory: create campaigns with fresh tokens, look them up with a short
cache (every ingest request needs one), check tokens in constant time."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from warroom.adapters.hotstate import init_generation
from warroom.adapters.store import CampaignRecord, Store
from warroom.adapters.streams import EventStream
from warroom.core.campaign import CampaignSettings
from warroom.core.clock import CampaignClock


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(given: str | None, stored_hash: str) -> bool:
    if not given:
        return False
    return hmac.compare_digest(hash_token(given), stored_hash)


def clock_of(record: CampaignRecord) -> CampaignClock:
    s = record.settings
    return CampaignClock(s.starts_at, record.created_at_ms, float(s.time_scale))


def real_now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class NewCampaign:
    record: CampaignRecord
    ingest_token: str
    viewer_token: str


class CampaignDirectory:
    def __init__(self, store: Store, stream: EventStream, cache_s: float = 1.0) -> None:
        self.store = store
        self.stream = stream
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, CampaignRecord | None]] = {}

    async def create(self, settings: CampaignSettings) -> NewCampaign:
        ingest, viewer = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        record = await asyncio.to_thread(
            self.store.create_campaign,
            settings,
            hash_token(ingest),
            hash_token(viewer),
            real_now_ms(),
        )
        await self.stream.register(settings.slug)
        await init_generation(self.stream.redis, settings.slug)
        self._cache.pop(settings.slug, None)
        return NewCampaign(record, ingest, viewer)

    async def get(self, slug: str) -> CampaignRecord | None:
        hit = self._cache.get(slug)
        now = time.monotonic()
        if hit and now - hit[0] < self.cache_s:
            return hit[1]
        record = await asyncio.to_thread(self.store.get_campaign, slug)
        self._cache[slug] = (now, record)
        return record

    def forget(self, slug: str) -> None:
        self._cache.pop(slug, None)
