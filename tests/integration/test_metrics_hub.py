"""The hub's metrics: viewers rise and fall with sockets (by every way out: a close, an
eviction, the process stopping), frames are counted once per viewer per frame sent,
renders once per room render, and evictions and resyncs by their reason.

The sockets are real: the app is served in this process by uvicorn on a free port, so
the registry read here is the one the hub writes. Counters are process-global and
other tests move them: every assertion is on a delta, and every wait has a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import uvicorn

from tests.bounded import bounded, cancel_all
from tests.browser.live import WsClient, order
from tests.conftest import ADMIN, Harness, harness_for
from warroom.adapters.hub.fanout import Hub
from warroom.adapters.hub.room import Loaded, Room, RoomConfig
from warroom.adapters.hub.viewer import Viewer, message
from warroom.adapters.metrics.catalogue import campaign_label
from warroom.settings import HubSettings, Settings

WAIT_S = 30.0  # every wait: generous for a machine half as fast


def value(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def viewers(slug: str) -> float:
    return value("warroom_viewers", campaign=campaign_label(slug))


async def until(pred: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        await asyncio.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[Harness, int]]:
    """The app (its lifespan: the hub) and uvicorn serving it here, on a free port."""
    async with harness_for(settings) as h:
        port = free_port()
        config = uvicorn.Config(
            h.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(), name="uvicorn")
        try:
            await until(lambda: server.started or task.done(), "uvicorn started")
            assert server.started, task.exception()
            yield h, port
        finally:
            server.should_exit = True
            try:
                await bounded(asyncio.shield(task), "uvicorn's shutdown")
            finally:
                await cancel_all([task], "uvicorn")


def url(port: int, slug: str, token: str) -> str:
    return f"ws://127.0.0.1:{port}/ws/campaigns/{slug}?token={token}"


@pytest.fixture
def quiet(settings: Settings) -> Settings:
    """No heartbeat frames during a test (they would move the frame count meanwhile)."""
    settings.ws = HubSettings(heartbeat_s=120, frames_per_s=20, room_linger_s=0.5)
    return settings


async def test_viewers_rise_and_fall_with_sockets_and_frames_count_each_sent(
    quiet: Settings,
) -> None:
    async with served(quiet) as (h, port):
        c = await h.create_campaign(slug="wall")
        base = viewers("wall")
        frames0 = value("warroom_frames_total")
        renders0 = value("warroom_renders_total")
        seconds0 = value("warroom_render_seconds_count")
        clients = [WsClient(url(port, "wall", c["viewer_token"])) for _ in range(3)]
        async with contextlib.AsyncExitStack() as stack:
            for v in clients:
                await stack.enter_async_context(v)
            for v in clients:
                await v.wait_for(lambda f: f["type"] == "snapshot", timeout=WAIT_S)
            assert viewers("wall") == base + 3
            res = await h.post_events("wall", c["ingest_token"], [order("a1", 1200)])
            assert res.json()["accepted"] == 1
            await h.drain()
            for v in clients:
                await v.wait_for(
                    lambda f: f["type"] == "update" and f["totals"]["gmv_fen"] == 1200,
                    timeout=WAIT_S,
                )

            # Once per viewer per frame sent: what the server counted is what arrived.
            def received() -> int:
                return sum(len(v.frames) for v in clients)

            await until(
                lambda: value("warroom_frames_total") - frames0 == received(),
                "every frame sent counted once",
            )
            assert received() >= 6  # a snapshot and an update each
            renders = value("warroom_renders_total") - renders0
            assert renders >= 2  # the baseline, then the change: shared by the three
            assert value("warroom_render_seconds_count") - seconds0 == renders
            # One leaves: the gauge follows.
            await clients[0].__aexit__(None, None, None)
            await until(lambda: viewers("wall") == base + 2, "one socket closed")
        await until(lambda: viewers("wall") == base, "every socket closed")


async def test_a_rotated_viewer_token_evicts_and_the_gauge_returns(quiet: Settings) -> None:
    async with served(quiet) as (h, port):
        c = await h.create_campaign(slug="rot")
        base = viewers("rot")
        rotated0 = value("warroom_viewer_evictions_total", reason="rotated")
        asked0 = value("warroom_viewer_resyncs_total", reason="asked")
        async with (
            WsClient(url(port, "rot", c["viewer_token"])) as a,
            WsClient(url(port, "rot", c["viewer_token"])) as b,
        ):
            for v in (a, b):
                await v.wait_for(lambda f: f["type"] == "snapshot", timeout=WAIT_S)
            assert viewers("rot") == base + 2
            # A client asks for a fresh snapshot: one resync, by its reason.
            await a.send('{"type": "resync"}')
            await until(lambda: len(a.of_type("snapshot")) == 2, "a second snapshot")
            assert value("warroom_viewer_resyncs_total", reason="asked") - asked0 == 1
            res = await h.client.post(
                "/api/v1/campaigns/rot/tokens/rotate",
                json={"which": "viewer"},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            assert res.status_code == 200, res.text
            await until(lambda: viewers("rot") == base, "both sockets evicted")
            evicted = value("warroom_viewer_evictions_total", reason="rotated") - rotated0
            assert evicted == 2


# -- the hub in this process without sockets: the ways out that sockets cannot show ----


class _Campaigns:
    def __init__(self, known: bool = True) -> None:
        self.known = known

    async def get(self, slug: str) -> Any:
        return object() if self.known else None

    def forget(self, slug: str) -> None:
        pass


def _snap(n: int) -> dict[str, Any]:
    return {
        "campaign": {"slug": "c", "now": f"t{n}"},
        "totals": {k: n for k in ("gmv_fen", "refund_fen", "orders", "items", "messages")},
        "per_minute": [],
        "leaderboards": {},
        "stimuli": [],
    }


def _hub(campaigns: _Campaigns, **hub: Any) -> Hub:
    h = Hub(None, None, campaigns, None, HubSettings(**hub))  # type: ignore[arg-type]

    async def load(slug: str) -> Loaded | None:
        return Loaded(_snap(1), [], [], {}) if campaigns.known else None

    h.load = load  # type: ignore[method-assign]
    return h


def _viewer(aborted: list[Viewer], send: Any = None) -> Viewer:
    async def sent(msg: dict[str, Any]) -> None:
        pass

    v: Viewer

    def abort() -> None:
        aborted.append(v)

    v = Viewer(send or sent, abort)
    return v


async def test_stalled_gone_and_shutdown_viewers_are_evicted_by_reason_and_leave() -> None:
    slug = "hub-unit"
    base = viewers(slug)
    before = {
        r: value("warroom_viewer_evictions_total", reason=r)
        for r in ("stalled", "gone", "shutdown")
    }
    aborted: list[Viewer] = []
    campaigns = _Campaigns()
    hub = _hub(campaigns, stall_close_s=0.2, room_linger_s=60)
    reaper = asyncio.create_task(hub._reaper())
    try:
        stalled, well = _viewer(aborted), _viewer(aborted)
        hub.join(slug, stalled)
        hub.join(slug, well)
        assert viewers(slug) == base + 2
        await until(lambda: stalled.frames_sent == well.frames_sent == 1, "snapshots sent")
        stalled.sending_since = time.monotonic() - 10  # a send blocked for 10 s
        await until(lambda: stalled in aborted, "the stalled viewer dropped")
        assert value("warroom_viewer_evictions_total", reason="stalled") - before["stalled"] == 1
        assert viewers(slug) == base + 2  # still in the room until its socket's handler ends
        hub.leave(slug, stalled)  # what the socket's handler does on its way out
        assert viewers(slug) == base + 1
        hub.leave(slug, stalled)  # twice: counted once
        assert viewers(slug) == base + 1

        # The campaign is deleted: its room evicts everyone; a new viewer gets a new room
        # and the old viewer still leaves the room it was in.
        campaigns.known = False
        hub.rooms[slug].poke()
        await until(lambda: well in aborted, "the deleted campaign's viewer dropped")
        assert value("warroom_viewer_evictions_total", reason="gone") - before["gone"] == 1
        campaigns.known = True
        late = _viewer(aborted)
        hub.join(slug, late)
        assert viewers(slug) == base + 2
        hub.leave(slug, well)
        assert viewers(slug) == base + 1
    finally:
        await cancel_all([reaper], "the reaper")
        await hub.stop()  # `late` is still in: closed by the shutdown
    assert value("warroom_viewer_evictions_total", reason="shutdown") - before["shutdown"] == 1
    assert viewers(slug) == base
    assert value("warroom_viewer_evictions_total", reason="stalled") - before["stalled"] == 1


async def test_resyncs_are_counted_by_reason_once_per_viewer() -> None:
    reasons = ("gap", "queue", "blocked", "asked")
    before = {r: value("warroom_viewer_resyncs_total", reason=r) for r in reasons}

    def delta(r: str) -> float:
        return value("warroom_viewer_resyncs_total", reason=r) - before[r]

    # The queue overflowed while the peer read nothing: one resync, however much more.
    gate = asyncio.Event()

    async def stuck(msg: dict[str, Any]) -> None:
        await gate.wait()

    frames0 = value("warroom_frames_total")
    reads = [_snap(1)]

    async def load(slug: str) -> Loaded:
        return Loaded(reads[-1], [], [], {})

    room = Room("resyncs", load, RoomConfig(heartbeat_s=120))
    task = asyncio.create_task(room.run())
    slow = Viewer(stuck, lambda: None, max_frames=2)
    room.add(slow)
    try:
        await until(lambda: slow.sending_since is not None, "the snapshot is being sent")
        for i in range(1, 50):
            slow.offer(i, message({"type": "update", "seq": i}))
        assert delta("queue") == 1 and slow.needs_snapshot
        gate.set()
        await until(lambda: not slow.needs_snapshot and slow.frames_sent == 2, "resynced")
        assert value("warroom_frames_total") - frames0 == 2  # two snapshots sent

        # A send that would have waited is abandoned for a resync.
        class Blocking:
            def send(self, _: None) -> None:
                return None  # suspended: not written

            def close(self) -> None:
                pass

        blocked = Viewer(lambda msg: Blocking(), lambda: None, writable=lambda: True)  # type: ignore[arg-type,return-value]
        blocked.needs_snapshot = False
        assert blocked.offer(1, message({"seq": 1})) is False
        assert delta("blocked") == 1
        assert blocked.offer(2, message({"seq": 2})) is False  # already due a snapshot
        assert delta("blocked") == 1

        # Hot state went backwards (a restore): each viewer of the room, once.
        reads.append(_snap(0))
        room.poke()
        await until(lambda: delta("gap") == 1, "the room resynced its viewer")
        asking = Viewer(stuck, lambda: None)
        asking.needs_snapshot = False  # its snapshot is sent
        asking.resync()  # a client's request
        asking.resync()  # again before it is served: one snapshot, one resync
        assert delta("asked") == 1
    finally:
        slow.evict("stalled")
        await cancel_all([task], "the room")


async def test_a_socket_over_the_per_address_limit_is_refused_and_counted(
    quiet: Settings,
) -> None:
    from websockets.exceptions import InvalidStatus

    quiet.ws = HubSettings(heartbeat_s=120, max_per_address=1)
    async with served(quiet) as (h, port):
        c = await h.create_campaign(slug="cap")
        refused0 = value("warroom_refused_total", limit="sockets_per_address")
        async with WsClient(url(port, "cap", c["viewer_token"])) as first:
            await first.wait_for(lambda f: f["type"] == "snapshot", timeout=WAIT_S)
            with pytest.raises(InvalidStatus) as err:
                async with WsClient(url(port, "cap", c["viewer_token"])):
                    pass
            assert err.value.response.status_code == 429
        assert value("warroom_refused_total", limit="sockets_per_address") - refused0 == 1
