"""Time travel on the big screen: `/c/{slug}?token=…&replay=N` and its socket
`/ws/campaigns/{slug}?token=…&replay=N` (docs/replay.md).

The page and its script are the live screen's; the socket sends the same `snapshot`,
`update`, `report` and `stimulus` frames, built from the SQL ledger by a task of this
connection alone (never the hub's live room), one campaign minute at a time, with a
`replay` field on snapshots and updates. The pure part is warroom/core/review/replay.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

import orjson
from fastapi import Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response

from warroom.adapters.metrics.catalogue import REFUSED
from warroom.core.ingest.clock import MINUTE_MS, parse_instant, rfc3339
from warroom.core.live.masked import mask_frame
from warroom.core.live.shapes import Snapshot
from warroom.core.records import CampaignRecord
from warroom.core.review.replay import MAX_FRAMES_PER_S, BadSpeed, parse_speed, update_of
from warroom.services.campaigns import clock_of
from warroom.services.replay_loader import LoadedReplay, ReplayLoader
from warroom.web import deps
from warroom.web.pages.chart import screen_figure
from warroom.web.pages.render import PAGE_HEADERS, base_context, error_page, html, masked

log = logging.getLogger(__name__)

HEARTBEAT_S = 4.0  # the page calls a socket silent for 12 s stale: speak before that
# Close codes of the replay socket (the page maps them to Chinese).
CLOSE_ENDED = 1000  # the replay reached its end
CLOSE_BAD_SPEED = 4400
CLOSE_NOT_ENDED = 4409
CLOSE_BUSY = 4429
CLOSE_ROTATED = 4401  # the viewer token was rotated: this link no longer admits
CLOSE_FAILED = 1011  # the ledger could not be read: the page reconnects with backoff


@dataclass
class ReplayLimit:
    """Replays playing in this process, at most `cap` at once."""

    cap: int
    active: int = 0

    def acquire(self) -> bool:
        if self.active >= self.cap:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1


def _parts(app: Any) -> tuple[ReplayLoader, ReplayLimit]:
    state = app.state
    rt = state.runtime
    if getattr(state, "replay_limit", None) is None:  # per web process
        state.replay_limit = ReplayLimit(rt.settings.warroom_replay_max_viewers)
    return rt.replay, state.replay_limit


def replay_stats(app: Any) -> dict[str, int]:
    """For /ws/stats: replays playing now, and ledger scans done (one per campaign and
    ledger state while it stays among the last few cached)."""
    rt = getattr(app.state, "runtime", None)
    limit = getattr(app.state, "replay_limit", None)
    return {
        "replays": limit.active if limit is not None else 0,
        "replay_builds": rt.replay.builds if rt is not None else 0,
    }


def has_ended(record: CampaignRecord, real_now_ms: int) -> bool:
    return clock_of(record).now_ms(real_now_ms) >= record.settings.ends_at


def _decorate(
    frame: dict[str, Any],
    loaded: LoadedReplay,
    speed: float,
    virtual_ms: int,
    ended: bool,
    server_ms: int,
) -> None:
    r = loaded.replay
    shown = min(virtual_ms, r.end_ms)
    frame["replay"] = {
        "speed": speed,
        "state": "ended" if ended else "playing",
        "as_of": rfc3339(r.as_of(virtual_ms), r.settings.timezone),
        "at": rfc3339(shown, r.settings.timezone),
    }
    # The dot stays green and calm: a replay has no ingest to lag or fall silent.
    frame["fresh"] = {
        "lag_ms": 0,
        "behind_ms": 0,
        "applied_ms": None,
        "server_ms": server_ms,
        "ingest_idle_ms": None,
        "delayed": None,
    }


def _snapshot(loaded: LoadedReplay, speed: float, virtual_ms: int) -> Snapshot:
    r = loaded.replay
    as_of = r.as_of(virtual_ms)
    fired = [v for at, v in zip(loaded.stimuli_at, loaded.stimuli, strict=True) if at < as_of]
    snap = r.frame(as_of, loaded.reports, fired)
    snap["campaign"]["now"] = rfc3339(min(virtual_ms, r.end_ms), r.settings.timezone)
    # the page's clock runs at the replay's speed between frames
    snap["campaign"]["time_scale"] = speed
    return snap


# the page


async def replay_page(request: Request, record: CampaignRecord) -> HTMLResponse:
    try:
        speed = parse_speed(request.query_params.get("replay"))
    except BadSpeed as exc:
        return error_page(request, 400, "回放参数不对", str(exc))
    live = "/c/{}?{}".format(
        record.settings.slug, urlencode({"token": request.query_params.get("token", "")})
    )
    if not has_ended(record, deps.now_ms(request)):
        return error_page(
            request,
            409,
            "活动还没收官，不能回放",
            "回放只用于已收官的活动（彩排或复盘会）；进行中的活动请看实时大屏。",
            {"href": live, "text": "打开实时大屏"},
        )
    loader, _ = _parts(request.app)
    loaded = await asyncio.to_thread(loader.load, record)
    snap = _snapshot(loaded, speed, record.settings.starts_at)
    mask = masked(request)
    figure = await asyncio.to_thread(screen_figure, snap, mask)
    context = base_context(request, record, snap, mask)
    context["replay"] = {"speed": speed, "label": f"{speed:g}×"}
    context["figure"] = figure
    return html(request, "screen.html", context)


async def replay_chart(
    request: Request, record: CampaignRecord, masked: bool
) -> dict[str, Any] | Response:
    """The replay's chart figure at `&at=` (the campaign time its last frame showed):
    the same snapshot the replay socket sends for that moment, from the same loader."""
    try:
        speed = parse_speed(request.query_params.get("replay"))
        at = parse_instant(request.query_params.get("at"))
    except (BadSpeed, ValueError):
        return Response(status_code=400, headers=PAGE_HEADERS)
    if not has_ended(record, deps.now_ms(request)):
        return Response(status_code=409, headers=PAGE_HEADERS)
    loader, _ = _parts(request.app)
    loaded = await asyncio.to_thread(loader.load, record)
    r = loaded.replay
    virtual_ms = min(max(at, r.settings.starts_at), r.end_ms)
    snap = await asyncio.to_thread(_snapshot, loaded, speed, virtual_ms)
    return await asyncio.to_thread(screen_figure, snap, masked)


# the socket


async def replay_socket(
    websocket: WebSocket, record: CampaignRecord, masked: bool = False, link_id: int | None = None
) -> None:
    """Admitted (token checked): accept, then refuse with a close code the page can
    read, or play until the end or until the viewer leaves. `masked`: every frame
    money-free (core/live/masked.py); `link_id`: the scoped link it was opened with,
    whose revocation closes it."""
    await websocket.accept()
    try:
        speed = parse_speed(websocket.query_params.get("replay"))
    except BadSpeed:
        await websocket.close(code=CLOSE_BAD_SPEED, reason="bad replay speed: 1 to 600")
        return
    if not has_ended(record, websocket.app.state.runtime.clock.now_ms()):
        await websocket.close(code=CLOSE_NOT_ENDED, reason="campaign has not ended")
        return
    loader, limit = _parts(websocket.app)
    if not limit.acquire():
        REFUSED.labels("replays").inc()
        await websocket.close(code=CLOSE_BUSY, reason="too many replays; retry later")
        return
    # A rotated viewer token closes this socket too, as it closes the live ones.
    rotated = asyncio.Event()
    hub = getattr(websocket.app.state, "hub", None)
    unwatch = hub.watch_kicks(record.settings.slug, rotated.set) if hub is not None else None
    unlink = (
        hub.watch_link(link_id, rotated.set) if hub is not None and link_id is not None else None
    )
    try:
        play = asyncio.create_task(_play(websocket, loader, record, speed, masked))
        listen = asyncio.create_task(_until_gone(websocket))
        kicked = asyncio.create_task(rotated.wait())
        done, _pending = await asyncio.wait(
            {play, listen, kicked}, return_when=asyncio.FIRST_COMPLETED
        )
        for task in (play, listen, kicked):  # whichever is left: a viewer gone ends it
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if kicked in done and not kicked.cancelled():
            with contextlib.suppress(Exception):
                await websocket.close(code=CLOSE_ROTATED, reason="viewer token rotated")
            return
        failed = play.exception() if play in done and not play.cancelled() else None
        if isinstance(failed, WebSocketDisconnect | OSError):
            log.debug("replay of %s: the viewer left mid-send", record.settings.slug)
        elif failed is not None:
            # not 1000, which the page reads as the end: 1011 makes it retry later
            log.warning("replay of %s failed: %r", record.settings.slug, failed)
            with contextlib.suppress(Exception):
                await websocket.close(code=CLOSE_FAILED, reason="replay failed; retrying")
    finally:
        if unwatch is not None:
            unwatch()
        if unlink is not None:
            unlink()
        limit.release()


async def _until_gone(websocket: WebSocket) -> None:
    # Messages from the viewer (a resync request) are ignored: every replay frame
    # follows the last without gaps, and a reconnect starts the replay over.
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _play(
    websocket: WebSocket,
    loader: ReplayLoader,
    record: CampaignRecord,
    speed: float,
    masked: bool = False,
) -> None:
    now_ms = websocket.app.state.runtime.clock.now_ms
    loaded = await asyncio.to_thread(loader.load, record)
    r = loaded.replay
    seq = 0
    s = record.settings
    marks = [*s.milestones_fen, s.target_base_fen, s.target_stretch_fen]
    basis: dict[str, Any] = {}  # the snapshot a masked frame's shares are taken of

    async def send(frame: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        frame["seq"] = seq
        out = mask_frame(frame, basis, marks) if masked else frame
        await websocket.send_text(orjson.dumps(out).decode())

    began = time.monotonic()
    first = r.settings.starts_at

    def virtual_now() -> int:
        return first + int((time.monotonic() - began) * speed * 1000)

    v = virtual_now()
    cur = await asyncio.to_thread(_snapshot, loaded, speed, v)
    as_of = r.as_of(v)
    sent_reports = sum(1 for at, _ in loaded.reports if at < as_of)
    sent_stimuli = sum(1 for at in loaded.stimuli_at if at < as_of)
    _decorate(cast(dict[str, Any], cur), loaded, speed, v, as_of == r.final_ms, now_ms())
    basis.update(cur)
    await send({"type": "snapshot", **cur})
    last_sent = time.monotonic()
    while as_of != r.final_ms:
        # Sleep to the next minute boundary (or the end), but speak at least every
        # HEARTBEAT_S and never faster than MAX_FRAMES_PER_S.
        target = min(as_of + MINUTE_MS, r.end_ms) if as_of < r.end_ms else r.end_ms
        wait = (target - virtual_now()) / speed / 1000
        heartbeat = HEARTBEAT_S - (time.monotonic() - last_sent)
        await asyncio.sleep(max(0.0, min(max(wait, 1 / MAX_FRAMES_PER_S), heartbeat)))
        v = virtual_now()
        new_as_of = r.as_of(v)
        ended = new_as_of == r.final_ms
        if new_as_of != as_of:
            nxt = await asyncio.to_thread(_snapshot, loaded, speed, v)
        else:
            now = rfc3339(min(v, r.end_ms), r.settings.timezone)
            nxt = {**cur, "campaign": {**cur["campaign"], "now": now}}
        frame = cast(dict[str, Any], update_of(cur, nxt))  # _decorate adds `replay`, `fresh`
        _decorate(frame, loaded, speed, v, ended, now_ms())
        basis.clear()
        basis.update(nxt)
        await send(frame)
        cur, as_of = nxt, new_as_of
        for at, view in loaded.reports[sent_reports:]:
            if at >= as_of and not ended:
                break
            sent_reports += 1
            await send({"type": "report", "report": view})
        later = zip(loaded.stimuli_at[sent_stimuli:], loaded.stimuli[sent_stimuli:], strict=True)
        for at, fired in later:
            if at >= as_of and not ended:
                break
            sent_stimuli += 1
            await send({"type": "stimulus", "stimulus": fired})
        last_sent = time.monotonic()
    await websocket.close(code=CLOSE_ENDED, reason="replay ended")
