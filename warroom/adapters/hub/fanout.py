"""The per-process hub behind the dashboard WebSocket.

One supervised pub/sub subscriber listens to `wr:changed` (a hint, never the data) and
pokes the room of the campaign that moved; each room reads hot state and fans frames
out to its viewers (see hub_room.py). Several web processes each run a hub; they share
nothing but Redis, so every viewer gets the same content whichever process it reached.

The subscriber proves it is alive by publishing a heartbeat token on the channel and
hearing it back; if it goes silent (a network blip that raised nothing) it drops the
connection, resubscribes, and has every room render at once. Rooms render from hot
state, not from the hints they were sent, so nothing a viewer should see is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.asyncio import Redis

from warroom.adapters.clock import real_now_ms
from warroom.adapters.hub.freshness import ingest_idle_ms, pipeline_state
from warroom.adapters.hub.room import Loaded, Room, RoomConfig
from warroom.adapters.hub.viewer import EVICTIONS, Viewer
from warroom.adapters.redis import keys
from warroom.adapters.redis.hotstate import HotState
from warroom.core.live.shapes import ReportItem, StimulusItem
from warroom.settings import HubSettings

log = logging.getLogger(__name__)
HEARTBEAT_PREFIX = "~hb:"  # slugs never start with "~": other hubs ignore these
UNLINK = "~unlink:"  # services/links.py UNLINK_HINT: a link was revoked


class CampaignLookup(Protocol):
    """What the hub asks of the campaign directory (services/campaigns.py)."""

    async def get(self, slug: str) -> Any: ...

    def forget(self, slug: str) -> None: ...


class StateLoader(Protocol):
    """Builds a campaign's state from hot state (services/snapshots.py `load_state`)."""

    def __call__(
        self,
        hot: HotState,
        record: Any,
        real_now: int,
        reports: list[ReportItem],
        stimuli: list[StimulusItem],
        /,
    ) -> Awaitable[Any]: ...


class Hub:
    """One per web process. Its collaborators are handed in by the composition root
    (bootstrap.py): the hub is an adapter and knows no service by name."""

    def __init__(
        self,
        redis: Redis,
        hot: HotState,
        campaigns: CampaignLookup,
        load_state: StateLoader,
        settings: HubSettings | None = None,
        now_ms: Callable[[], int] = real_now_ms,
    ) -> None:
        self.redis = redis
        self.hot = hot
        self.campaigns = campaigns
        self.load_state = load_state
        self.now_ms = now_ms
        self.settings = settings or HubSettings()
        self.rooms: dict[str, Room] = {}
        # The money-free twins of the rooms, for masked wall links (core/live/masked.py).
        self.masked_rooms: dict[str, Room] = {}
        # Called with a link id when a link is revoked (`~unlink`): the composition root
        # hands in the link book's `forget`.
        self.on_unlink: Callable[[int], None] = lambda _link_id: None
        self._link_watchers: dict[int, set[Callable[[], None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._token = HEARTBEAT_PREFIX + uuid.uuid4().hex
        self.subscribed = asyncio.Event()
        self.resubscribes = 0
        self.evicted = 0
        self._closing = False
        # Sockets outside the rooms (replays) that must also close on a token rotation.
        self._kick_watchers: dict[str, set[Callable[[], None]]] = {}

    @property
    def room_config(self) -> RoomConfig:
        s = self.settings
        return RoomConfig(s.frames_per_s, s.heartbeat_s, s.queue_frames, s.render_budget)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._subscriber(), name="hub-subscriber"),
            asyncio.create_task(self._reaper(), name="hub-reaper"),
        ]

    async def stop(self) -> None:
        # redis-py can turn a cancellation inside get_message() into a timeout error,
        # which the subscriber would treat as a lost connection and retry; the flag
        # and the repeated cancel make stopping certain.
        self._closing = True
        tasks = list(self._tasks)
        for room in self.all_rooms():
            for v in tuple(room.viewers):
                if not v.closed:
                    EVICTIONS["shutdown"].inc()
                room.remove(v)
            if room.task is not None:
                tasks.append(room.task)
        while pending := [t for t in tasks if not t.done()]:
            for t in pending:
                t.cancel()
            await asyncio.wait(pending, timeout=1.0)
        self.rooms.clear()
        self.masked_rooms.clear()

    def all_rooms(self) -> list[Room]:
        return [*self.rooms.values(), *self.masked_rooms.values()]

    def rooms_of(self, slug: str) -> list[Room]:
        return [r for r in (self.rooms.get(slug), self.masked_rooms.get(slug)) if r is not None]

    # viewers -------------------------------------------------------------------------

    def join(self, slug: str, viewer: Viewer, masked: bool = False) -> Room:
        """Into the campaign's room, or its masked twin (a masked wall link): the twin
        renders the same state and sends only money-free frames."""
        rooms = self.masked_rooms if masked else self.rooms
        room = rooms.get(slug)
        if room is None or room.gone:
            if room is not None and room.task is not None:
                room.task.cancel()  # the deleted campaign's room; its viewers were evicted
            room = Room(slug, self.load, self.room_config, masked=masked)
            name = f"room:{slug}" + (":masked" if masked else "")
            room.task = asyncio.create_task(self._supervise(room), name=name)
            rooms[slug] = room
        room.add(viewer)
        return room

    def leave(self, slug: str, viewer: Viewer) -> None:
        """The socket's handler has ended: out of the room it joined (which may no
        longer be the campaign's current room, after the campaign was deleted)."""
        if viewer.room is not None:
            viewer.room.remove(viewer)

    async def _supervise(self, room: Room) -> None:
        while True:
            try:
                await room.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("room %s crashed; restarting", room.slug)
                await asyncio.sleep(1.0)

    # rendering -----------------------------------------------------------------------

    async def load(self, slug: str) -> Loaded | None:
        record = await self.campaigns.get(slug)
        if record is None:
            return None
        reports = await self.hot.read_feed(slug, "reports")
        stimuli = await self.hot.read_feed(slug, "stimuli")
        now = self.now_ms()
        state = await self.load_state(self.hot, record, now, reports[-10:], stimuli)
        applied = await self.hot.last_applied_ms(slug)
        lag, delayed = await pipeline_state(self.redis, slug, self.now_ms(), applied)
        s = record.settings
        idle = ingest_idle_ms(s.starts_at, s.ends_at, state.now_ms, now, lag.newest_ms)
        fresh = {
            "lag_ms": lag.lag_ms,
            "behind_ms": lag.behind_ms,
            "applied_ms": applied,
            "server_ms": now,
            "ingest_idle_ms": idle,
            "delayed": delayed,  # e.g. "redis_oom": the screens say figures are delayed
        }
        marks = [*s.milestones_fen, s.target_base_fen, s.target_stretch_fen]
        return Loaded(state.snapshot, reports, stimuli, fresh, marks)

    # the subscriber ------------------------------------------------------------------

    async def _subscriber(self) -> None:
        backoff = 0.2
        first = True
        while not self._closing:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(keys.CHANGED_CHANNEL)
                self.subscribed.set()
                if not first:
                    self.resubscribes += 1
                    log.warning(
                        "hub resubscribed to %s; rendering every room", keys.CHANGED_CHANNEL
                    )
                    for room in self.all_rooms():
                        room.poke()
                first = False
                backoff = 0.2
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closing:
                    return
                log.warning("hub subscriber lost (%r); resubscribing", exc)
            finally:
                self.subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _listen(self, pubsub: Any) -> None:
        beat = self.settings.pubsub_heartbeat_s
        heard = sent = time.monotonic()
        await self.redis.publish(keys.CHANGED_CHANNEL, self._token)
        while not self._closing:
            now = time.monotonic()
            if now - sent >= beat:
                sent = now
                await self.redis.publish(keys.CHANGED_CHANNEL, self._token)
            if now - heard > 3 * beat:
                raise TimeoutError("no heartbeat heard back on the channel")
            msg = await pubsub.get_message(timeout=min(1.0, beat))
            if msg is None or msg.get("type") != "message":
                continue
            data = msg["data"]
            slug = data.decode() if isinstance(data, bytes) else str(data)
            heard = time.monotonic()
            if slug.startswith("~") and not slug.startswith(HEARTBEAT_PREFIX):
                self.control(slug)
                continue
            for room in self.rooms_of(slug):
                room.poke()

    def control(self, hint: str) -> None:
        """A console hint (see campaigns.CONFIG_HINT / KICK_HINT): forget the cached
        record so the next request and render see the new settings and tokens; after a
        viewer token rotation, also drop the campaign's sockets (opened with the old
        token; their reconnect is refused)."""
        if hint.startswith(UNLINK):  # ~unlink:<slug>:<link id>: a link was revoked
            slug, _, raw = hint[len(UNLINK) :].rpartition(":")
            if raw.isdigit():
                self.close_link(slug, int(raw))
            return
        kind, _, slug = hint.partition(":")
        self.campaigns.forget(slug)
        if kind == "~kick":
            for kicked in tuple(self._kick_watchers.get(slug, ())):
                kicked()
            self.close_viewers(slug)
            return
        for room in self.rooms_of(slug):
            room.poke()

    def close_link(self, slug: str, link_id: int) -> int:
        """A revoked link: forget it, close its sockets here (live rooms and replays)."""
        self.on_unlink(link_id)
        for kicked in tuple(self._link_watchers.get(link_id, ())):
            kicked()
        closed = 0
        for room in self.rooms_of(slug):
            for v in tuple(room.viewers):
                if v.link_id == link_id:
                    v.evict("revoked")
                    closed += 1
        return closed

    def watch_link(self, link_id: int, kicked: Callable[[], None]) -> Callable[[], None]:
        """Call `kicked` when this link is revoked (a replay opened with it)."""
        watchers = self._link_watchers.setdefault(link_id, set())
        watchers.add(kicked)

        def unwatch() -> None:
            watchers.discard(kicked)
            if not watchers and self._link_watchers.get(link_id) is watchers:
                del self._link_watchers[link_id]

        return unwatch

    def watch_kicks(self, slug: str, kicked: Callable[[], None]) -> Callable[[], None]:
        """Call `kicked` when the campaign's viewer token is rotated, for a socket that
        is not in a room (a replay) but was opened with the old token all the same.
        Returns the function that stops watching."""
        watchers = self._kick_watchers.setdefault(slug, set())
        watchers.add(kicked)

        def unwatch() -> None:
            watchers.discard(kicked)
            if not watchers and self._kick_watchers.get(slug) is watchers:
                del self._kick_watchers[slug]

        return unwatch

    def close_viewers(self, slug: str) -> int:
        """Close the campaign's sockets here: its viewer token was rotated."""
        closed = 0
        for room in self.rooms_of(slug):
            viewers = tuple(room.viewers)
            for v in viewers:
                v.evict("rotated")
            closed += len(viewers)
        return closed

    # housekeeping --------------------------------------------------------------------

    async def _reaper(self) -> None:
        s = self.settings
        while True:
            await asyncio.sleep(min(1.0, s.stall_close_s / 4))
            now = time.monotonic()
            every = [
                (rooms, slug, room)
                for rooms in (self.rooms, self.masked_rooms)
                for slug, room in list(rooms.items())
            ]
            for rooms, slug, room in every:
                for v in tuple(room.viewers):
                    if v.sending_since is not None and now - v.sending_since > s.stall_close_s:
                        log.info(
                            "dropping a viewer of %s: a send blocked %.0f s",
                            slug,
                            now - v.sending_since,
                        )
                        self.evicted += 1
                        v.evict("stalled")
                idle = room.empty_since is not None and now - room.empty_since > s.room_linger_s
                if (idle and not room.viewers) or (room.gone and not room.viewers):
                    if room.task is not None:
                        room.task.cancel()
                    del rooms[slug]

    def stats(self) -> dict[str, Any]:
        rooms = {}
        for slug, room in self.rooms.items():
            rooms[slug] = {
                "viewers": len(room.viewers),
                "seq": room.seq,
                "renders": room.stats.renders,
                "frames": room.stats.frames,
                "resyncs": room.stats.resyncs,
                "render_ms_avg": round(1000 * room.stats.render_s / max(1, room.stats.renders), 2),
                "leading": room.stats.leading,
                "throttled": room.stats.throttled,
                "interval_ms": round(1000 * room.interval(), 1),
                "last_fanout_ms": round(1000 * room.stats.last_fanout_s, 3),
                "pending_max": max((len(v.pending) for v in room.viewers), default=0),
                "coalesced": sum(v.coalesced for v in room.viewers),
                "frames_sent": sum(v.frames_sent for v in room.viewers),
                "buffered_max_bytes": max((v.buffered_bytes() for v in room.viewers), default=0),
                "stalled": sum(1 for v in room.viewers if v.sending_since is not None),
            }
        return {
            "rooms": rooms,
            "masked_rooms": {s: len(r.viewers) for s, r in self.masked_rooms.items()},
            "subscribed": self.subscribed.is_set(),
            "resubscribes": self.resubscribes,
            "evicted": self.evicted,
        }
