"""What changed since the last look: the trigger worker's ear on the hub's channel.

Everything that moves a campaign publishes its slug on `keys.CHANGED_CHANNEL`: the
aggregator after a batch, a feed push or rewrite (reports, fires, proposals, effects),
a rebuild's switch; a settings or token change publishes a `~cfg:` / `~kick:` hint
first. The trigger worker subscribes once and, at each tick, drains what arrived.

Pub/sub forgets what a disconnected subscriber missed, so each drain is a barrier: it
publishes a token of its own and reads until the token comes back. Redis delivers one
channel's messages in the order the PUBLISH commands ran, so every change published
before the drain began has been read when the token is heard. A token not heard back
in time, or any error, ends the subscription: the next drain subscribes again and
says `resync`, and the worker looks at every campaign once (nothing was seen missed)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from warroom.adapters.redis import keys
from warroom.adapters.redis.client import Redis

BARRIER_PREFIX = "~hb:tb-"  # a heartbeat to the hubs (fanout.HEARTBEAT_PREFIX): ignored
CONFIG_PREFIXES = ("~cfg:", "~kick:")  # services/campaigns.CONFIG_HINT / KICK_HINT


@dataclass
class Changes:
    slugs: set[str] = field(default_factory=set)  # figures or feeds moved
    configs: set[str] = field(default_factory=set)  # settings or tokens changed
    resync: bool = False  # the subscription is new: what happened before is unknown


class ChangeFeed:
    def __init__(self, redis: Redis, barrier_timeout_s: float = 5.0) -> None:
        self.redis = redis
        self.barrier_timeout_s = barrier_timeout_s
        self._pubsub: Any = None
        self._token = BARRIER_PREFIX + uuid.uuid4().hex
        self._seq = 0

    async def drain(self) -> Changes:
        """Every change published before this call (see the module's docstring).
        Raises on a Redis error, after dropping the subscription."""
        out = Changes()
        try:
            if self._pubsub is None:
                self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                await self._pubsub.subscribe(keys.CHANGED_CHANNEL)
                out.resync = True
            await self._read_until_barrier(out)
        except BaseException:
            await self.close()
            raise
        return out

    async def _read_until_barrier(self, out: Changes) -> None:
        self._seq += 1
        mine = f"{self._token}:{self._seq}"
        await self.redis.publish(keys.CHANGED_CHANNEL, mine)
        deadline = time.monotonic() + self.barrier_timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the change feed's barrier was not heard back")
            msg = await self._pubsub.get_message(timeout=min(left, 1.0))
            if msg is None or msg.get("type") != "message":
                continue
            data = msg["data"]
            text = data.decode() if isinstance(data, bytes) else str(data)
            if text == mine:
                return
            if not text.startswith("~"):
                out.slugs.add(text)
                continue
            for prefix in CONFIG_PREFIXES:
                if text.startswith(prefix):
                    out.configs.add(text[len(prefix) :])

    async def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.aclose(), 2.0)
