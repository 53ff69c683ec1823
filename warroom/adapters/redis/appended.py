"""Which campaign streams have new entries: the aggregator's ear on the append script's
channel, so that it reads the streams that grew instead of every campaign's stream
every second (with 10,000 idle campaigns, a blocking XREADGROUP naming all of them each
second was about a tenth of a core spent finding nothing).

The append script (streams.EventStream.publish) publishes the campaign's slug on
`keys.APPENDED_CHANNEL` in the step that adds the entry, so an aggregator that hears
it finds the entry. Pub/sub is a hint, never the record: a subscription that is new
(at start, or after an error dropped the old one) cannot know what was appended
before it, and says so (`None`), and the aggregator then reads every stream; it also
reads every stream now and then (`Aggregator.sweep_s`) whatever it heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from warroom.adapters.redis import keys
from warroom.adapters.redis.client import Redis

MAX_PER_WAIT = 10_000  # announcements taken in one call; the rest wait for the next


class Appended:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._pubsub: Any = None

    async def wait(self, timeout_s: float) -> set[str] | None:
        """The campaigns announced since the last call, waiting up to `timeout_s` for
        the first when none is waiting; None when the subscription is new (read every
        stream). Raises on a Redis error, after dropping the subscription."""
        try:
            if self._pubsub is None:
                self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                await self._pubsub.subscribe(keys.APPENDED_CHANNEL)
                return None
            return await self._collect(timeout_s)
        except BaseException:
            await self.close()
            raise

    async def _collect(self, timeout_s: float) -> set[str]:
        heard: set[str] = set()
        deadline = time.monotonic() + timeout_s
        while len(heard) < MAX_PER_WAIT:
            # Once one is heard, take only what is already waiting.
            left = 0.0 if heard else max(0.0, deadline - time.monotonic())
            msg = await self._pubsub.get_message(timeout=left)
            if msg is None:
                if heard or time.monotonic() >= deadline:
                    return heard
                continue  # a subscribe confirmation, skipped: wait on
            if msg.get("type") == "message":
                data = msg["data"]
                heard.add(data.decode() if isinstance(data, bytes) else str(data))
        return heard

    async def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.aclose(), 2.0)
