"""Scoped links of a campaign (contract v3): created with a token shown once, found by
the token's keyed hash, revoked everywhere at once.

- A token is `lk_` + 32 random URL-safe bytes' text. Only its HMAC-SHA256 under the
  server's link secret (WARROOM_LINK_SECRET, else a 0600 file in the data directory)
  is stored, so neither the database nor its backups hold a usable token, and an
  attacker with the database alone cannot test guesses offline. A token is found by
  its hash (an index lookup), never compared byte by byte.
- Lookups are cached for `cache_s` per process; a revocation is published on the
  hub's channel (`~unlink:slug:id`) and every web process forgets the link and closes
  its sockets (live rooms and replays) at once.
- The last use is recorded at most once per `touch_every_s` per link and process: a
  screen that polls every second costs no SQL write per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict

from warroom.adapters.clock import SYSTEM_CLOCK, Clock
from warroom.adapters.redis import keys
from warroom.adapters.redis.client import Redis
from warroom.adapters.sql.link_store import LinkStore
from warroom.core.links import LinkRecord
from warroom.core.records import CampaignRecord

TOKEN_PREFIX = "lk_"
UNLINK_HINT = "~unlink:"  # ~unlink:<slug>:<link id>, on keys.CHANGED_CHANNEL
MAX_TOKEN_CHARS = 200


def unlink_hint(slug: str, link_id: int) -> str:
    return f"{UNLINK_HINT}{slug}:{link_id}"


def parse_unlink(hint: str) -> tuple[str, int] | None:
    if not hint.startswith(UNLINK_HINT):
        return None
    slug, _, raw = hint[len(UNLINK_HINT) :].rpartition(":")
    return (slug, int(raw)) if slug and raw.isdigit() else None


class LinkBook:
    def __init__(
        self,
        store: LinkStore,
        secret: bytes,
        redis: Redis,
        clock: Clock = SYSTEM_CLOCK,
        cache_s: float = 1.0,
        touch_every_s: float = 60.0,
        max_entries: int = 4096,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the link secret must be at least 16 bytes")
        self.store = store
        self._secret = secret
        self.redis = redis
        self.clock = clock
        self.cache_s = cache_s
        self.touch_every_s = touch_every_s
        self.max_entries = max_entries
        # token hash -> (monotonic time read, link); live links only
        self._cache: OrderedDict[str, tuple[float, LinkRecord]] = OrderedDict()
        self._touched: dict[int, float] = {}  # link id -> monotonic time of the last write
        self._used: dict[int, int] = {}  # link id -> newest use seen here (epoch ms)

    def hash(self, token: str) -> str:
        return hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    @staticmethod
    def looks_like_link(token: str | None) -> bool:
        return (
            token is not None and token.startswith(TOKEN_PREFIX) and len(token) <= MAX_TOKEN_CHARS
        )

    async def create(
        self,
        record: CampaignRecord,
        *,
        kind: str,
        masked: bool,
        seller_id: str | None,
        label: str = "",
        expires_at_ms: int | None = None,
    ) -> tuple[LinkRecord, str]:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        link = await asyncio.to_thread(
            self.store.add,
            record.id,
            kind=kind,
            masked=masked,
            seller_id=seller_id,
            label=label,
            token_hash=self.hash(token),
            created_at_ms=self.clock.now_ms(),
            expires_at_ms=expires_at_ms,
        )
        return link, token

    async def resolve(self, record: CampaignRecord, token: str | None) -> LinkRecord | None:
        """The live link of this campaign that `token` opens, else None (unknown,
        another campaign's, revoked or expired). Records the use, throttled."""
        if token is None or not self.looks_like_link(token):
            return None
        digest = self.hash(token)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit and now - hit[0] < self.cache_s:
            link = hit[1]
        else:
            found = await asyncio.to_thread(self.store.by_hash, digest)
            if found is None:
                self._cache.pop(digest, None)
                return None
            link = found
            self._cache[digest] = (now, link)
            self._cache.move_to_end(digest)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        at = self.clock.now_ms()
        if link.campaign_id != record.id or not link.live_at(at):
            return None
        await self._touch(link.id, at, now)
        return link

    async def _touch(self, link_id: int, at_ms: int, mono: float) -> None:
        self._used[link_id] = at_ms
        if mono - self._touched.get(link_id, -1e18) < self.touch_every_s:
            return
        self._touched[link_id] = mono
        try:
            await asyncio.to_thread(self.store.touch, {link_id: at_ms})
        except Exception:  # a last-use time is not worth failing a viewer for
            self._touched.pop(link_id, None)

    async def list(self, record: CampaignRecord) -> list[LinkRecord]:
        rows = await asyncio.to_thread(self.store.list, record.id)
        out = []
        for r in rows:  # uses seen here and not written yet (throttled) count too
            seen = self._used.get(r.id)
            if seen is not None and (r.last_used_ms or 0) < seen:
                r = LinkRecord(**{**r.__dict__, "last_used_ms": seen})
            out.append(r)
        return out

    async def revoke(self, record: CampaignRecord, link_id: int) -> LinkRecord | None:
        """Revoke at once: refused from the next request in every process, and every
        socket opened with it (live or replay) closed (the hub acts on the hint)."""
        link = await asyncio.to_thread(self.store.revoke, record.id, link_id, self.clock.now_ms())
        if link is None:
            return None
        self.forget(link_id)
        await self.redis.publish(keys.CHANGED_CHANNEL, unlink_hint(record.settings.slug, link_id))
        return link

    def forget(self, link_id: int) -> None:
        """Drop a link from this process's cache (the hub calls this on `~unlink`)."""
        for digest, (_, link) in list(self._cache.items()):
            if link.id == link_id:
                del self._cache[digest]
