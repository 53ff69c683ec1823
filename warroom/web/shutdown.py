"""A clean stop for `warroom web`: every WebSocket closes with 1001 (going away).

uvicorn's own shutdown closes open WebSockets with 1012 (service restart) as soon as it
stops listening, before the app's lifespan shutdown runs, so the app cannot do it from
there. `GoingAway` wraps the app (outermost, passing `send` through untouched so the
hub still reaches the server's own `send`) and remembers each socket's `send`;
`Server.shutdown` closes the listeners, then every socket with 1001, waits a moment
for the closing handshakes, then lets uvicorn finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import socket

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.web.headlimit import MAX_HEAD_BYTES, READ_TIMEOUT_S, BoundedHeadProtocol

log = logging.getLogger(__name__)

GOING_AWAY = 1001


class GoingAway:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.sockets: dict[int, Send] = {}
        self.closing = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        if self.closing:  # a screen reconnecting while we stop: come back later
            await send({"type": "websocket.close", "code": GOING_AWAY})
            return
        key = id(scope)
        self.sockets[key] = send
        try:
            await self.app(scope, receive, send)
        finally:
            self.sockets.pop(key, None)

    async def close_all(self, wait_s: float = 3.0) -> int:
        """Close every accepted socket with 1001; wait (bounded) until their handlers end."""
        self.closing = True
        closed = 0
        for send in list(self.sockets.values()):
            protocol = getattr(send, "__self__", None)
            if getattr(protocol, "handshake_complete", True) is False:
                continue  # not accepted yet: uvicorn's own shutdown answers it
            with contextlib.suppress(Exception):  # already closing or gone
                await send(
                    {
                        "type": "websocket.close",
                        "code": GOING_AWAY,
                        "reason": "server shutting down",
                    }
                )
                closed += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while self.sockets and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if closed:
            log.info("closed %d WebSocket(s) with 1001 (going away)", closed)
        return closed


class Server(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        going_away: GoingAway,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        # The request head is bounded wherever the fast parser runs: h11 has its own
        # bound (h11_max_incomplete_event_size), httptools gets web/headlimit.py's,
        # with the same size (WARROOM_HTTP_MAX_HEADER_BYTES), and the time a request
        # may take to arrive (WARROOM_HTTP_READ_TIMEOUT_S; h11 has no such bound).
        fast = config.http == "httptools" or (
            config.http == "auto" and importlib.util.find_spec("httptools") is not None
        )
        if fast:
            limit = config.h11_max_incomplete_event_size or MAX_HEAD_BYTES
            config.http = type(
                "BoundedHead",
                (BoundedHeadProtocol,),
                {"max_head_bytes": limit, "read_timeout_s": read_timeout_s},
            )
        super().__init__(config)
        self.going_away = going_away

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:  # no new connection while the old ones close
            server.close()
        await self.going_away.close_all()
        await super().shutdown(sockets)
