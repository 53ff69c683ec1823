"""`WS /ws/campaigns/{slug}?token=`: the live feed of the screens (contract v1).

A `snapshot` frame first, then `update`, `report` and `stimulus` frames, each JSON with
`type` and a rising `seq` (see docs/screens.md). The hub renders and encodes each
frame once per campaign update; this module only admits a socket (viewer token,
`Origin`), hands it to the hub, and runs the receive loop that notices a dead peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import sys
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, FastAPI, Request, WebSocket
from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.adapters.hub.fanout import Hub
from warroom.adapters.hub.viewer import Viewer
from warroom.adapters.metrics import catalogue as metrics
from warroom.adapters.redis.throttle import client_of
from warroom.web import deps
from warroom.web.errors import ApiError, JSONBytes
from warroom.web.pages.replay import replay_socket, replay_stats

log = logging.getLogger(__name__)
router = APIRouter()
RAW_SEND = "warroom.raw_send"
MAX_CLIENT_MESSAGE = 1024


class RawSendMiddleware:
    """Remember the server's own `send` for WebSocket scopes.

    The hot path sends each shared frame straight to the server (no per-frame wrapper
    layers), and a viewer stuck behind a full socket buffer can be dropped by aborting
    its transport: a graceful close would wait forever for a peer that reads nothing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)


def install(app: FastAPI) -> None:
    app.state.ws_per_address = Counter()  # open sockets per client address (this process)
    app.include_router(router)
    app.add_middleware(RawSendMiddleware)


def origin_allowed(origin: str | None, host: str | None, allowed: str) -> bool:
    """Browsers always send Origin on a WebSocket; other clients need not. A page may
    connect from its own host, or from an origin listed in WARROOM_ALLOWED_ORIGINS."""
    if not origin:
        return True
    if origin == "null":
        return False
    netloc = urlsplit(origin).netloc.lower()
    if host and netloc == host.lower():
        return True
    listed = {o.strip().rstrip("/").lower() for o in allowed.split(",") if o.strip()}
    return "*" in listed or origin.rstrip("/").lower() in listed


async def _deny(websocket: WebSocket, status: int, error: str) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONBytes({"error": error}, status_code=status))
    else:
        await websocket.close(code=1008, reason=error[:100])


def _transport(websocket: WebSocket) -> Any:
    """The server's transport behind a socket (uvicorn's protocol object owns `send`)."""
    protocol = getattr(websocket.scope.get(RAW_SEND), "__self__", None)
    return getattr(protocol, "transport", None)


def _writable(websocket: WebSocket) -> Any:
    """uvicorn's default (sans-I/O websockets) protocol: can a send complete at once?"""
    protocol: Any = getattr(websocket.scope.get(RAW_SEND), "__self__", None)
    event = getattr(protocol, "writable", None)
    if not isinstance(event, asyncio.Event) or not hasattr(protocol, "disconnected"):
        return None
    return lambda: event.is_set() and not protocol.disconnected


def _cap_send_buffer(transport: Any, size: int) -> None:
    sock = transport.get_extra_info("socket") if transport is not None and size else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


def _aborter(transport: Any) -> Any:
    def abort() -> None:
        if transport is not None and hasattr(transport, "abort"):
            transport.abort()

    return abort


@router.websocket("/ws/campaigns/{slug}")
async def campaign_socket(websocket: WebSocket, slug: str) -> None:
    """At most WARROOM_WS_MAX_PER_ADDRESS sockets per client address (an IPv6 /64): one
    client cannot hold thousands of sockets. Beyond it the handshake hears 429."""
    rt = websocket.app.state.runtime
    open_now: Counter[str] = websocket.app.state.ws_per_address
    address = client_of(websocket.client.host if websocket.client else None)
    if open_now[address] >= rt.settings.ws.max_per_address:
        metrics.REFUSED.labels("sockets_per_address").inc()
        await _deny(websocket, 429, "too many open sockets from this address")
        return
    open_now[address] += 1
    try:
        await _campaign_socket(websocket, slug)
    finally:
        open_now[address] -= 1
        if open_now[address] <= 0:
            del open_now[address]


async def _campaign_socket(websocket: WebSocket, slug: str) -> None:
    rt = websocket.app.state.runtime
    hub: Hub = websocket.app.state.hub
    headers = websocket.headers
    if not origin_allowed(
        headers.get("origin"), headers.get("host"), rt.settings.warroom_allowed_origins
    ):
        await _deny(websocket, 403, "origin not allowed")
        return
    try:
        record = await asyncio.wait_for(
            rt.campaigns.get(slug), rt.settings.warroom_dependency_timeout_s
        )
    except Exception:  # the database is down or silent: say so, briefly
        await _deny(websocket, 503, "campaign lookup unavailable; retry shortly")
        return
    # The viewer token or a scoped link's token from the link; the admin token only from
    # a header (never a URL, where it would end up in logs and browser history). An
    # unknown campaign answers as a wrong token, so campaign names cannot be probed.
    replay = "replay" in websocket.query_params
    try:
        access = await deps.viewer_access(
            websocket, record or deps.GHOST, "replay" if replay else "socket"
        )
    except ApiError as exc:
        await _deny(websocket, exc.status, exc.message)
        return
    if record is None:
        await _deny(websocket, 401, "missing or wrong viewer token")
        return
    # Masked is decided here: a masked wall link (or `&mask=1`) joins the room's
    # money-free twin, whatever its page does.
    masked = access.masked or websocket.query_params.get("mask") in ("1", "true", "yes")
    if replay:  # time travel: its own task, not the live room
        await replay_socket(websocket, record, masked=masked, link_id=access.link_id)
        return
    await websocket.accept()
    send = websocket.scope.get(RAW_SEND) or websocket.send
    transport = _transport(websocket)
    _cap_send_buffer(transport, hub.settings.sndbuf_bytes)
    viewer = Viewer(
        send,
        _aborter(transport),
        lite=websocket.query_params.get("lite") == "1",
        max_frames=hub.settings.queue_frames,
        buffered=getattr(transport, "get_write_buffer_size", None),
        writable=_writable(websocket),
        link_id=access.link_id,
    )
    hub.join(slug, viewer, masked=masked)
    try:
        await _receive_loop(websocket, viewer, rt.settings.warroom_ws_max_message_bytes)
    finally:
        hub.leave(slug, viewer)


async def _receive_loop(websocket: WebSocket, viewer: Viewer, max_bytes: int) -> None:
    """Runs until the peer goes away (close frame, reset, keepalive ping timeout, or
    eviction). A client may ask for a fresh snapshot: {"type": "resync"}. A message
    over `max_bytes` closes the socket with 1009 (uvicorn's `ws_max_size` refuses it
    before buffering under `warroom web`; this check holds under any server)."""
    while True:
        msg = await websocket.receive()
        if msg["type"] == "websocket.disconnect":
            return
        text = msg.get("text")
        size = len(text.encode()) if text else len(msg.get("bytes") or b"")
        if size > max_bytes:
            await websocket.close(code=1009, reason="message too big")
            return
        if not text or len(text) > MAX_CLIENT_MESSAGE:
            continue
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(data, dict) and data.get("type") == "resync":
            viewer.resync()


def _rss_kib() -> int:
    """Current resident set size (Linux /proc), else the peak from getrusage."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() // 1024
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak // 1024 if sys.platform == "darwin" else peak


@router.get("/ws/stats", include_in_schema=False)
async def hub_stats(request: Request) -> JSONBytes:
    """Operators and tests: rooms, viewers, queue depths, evictions, memory (admin)."""
    await deps.require_admin(request)
    hub: Hub = request.app.state.hub
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    return JSONBytes(
        {
            **hub.stats(),
            **replay_stats(request.app),
            "rss_kib": _rss_kib(),
            "cpu_s": round(cpu.ru_utime + cpu.ru_stime, 4),
        }
    )
