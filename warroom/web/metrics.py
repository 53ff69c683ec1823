"""`GET /metrics` (Prometheus text) on every web process, the same app standing alone
for a worker's WARROOM_METRICS_PORT, and the count of HTTP responses by status.

Access (contract v3): with WARROOM_METRICS_TOKEN set, a bearer token; without it,
loopback clients only, so an unconfigured deployment does not publish its campaigns'
names and figures to whoever can reach its port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import APIRouter, Request, Response
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warroom.adapters.metrics.catalogue import HTTP_RESPONSES
from warroom.adapters.metrics.exposition import CONTENT_TYPE, refusal, render
from warroom.services.vitals import Vitals
from warroom.web.errors import JSONBytes

log = logging.getLogger(__name__)
router = APIRouter()
_SAYS = {
    401: "metrics need Authorization: Bearer <WARROOM_METRICS_TOKEN>",
    403: "metrics answer loopback clients only (set WARROOM_METRICS_TOKEN to scrape from elsewhere)",
}


async def answer(request: Request, vitals: Vitals, token: str | None) -> Response:
    client = request.client.host if request.client else None
    status = refusal(request.headers.get("authorization"), client, token)
    if status:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONBytes({"error": _SAYS[status]}, status_code=status, headers=headers)
    reading = await vitals.read()
    return Response(render(reading), media_type=CONTENT_TYPE)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    rt = request.app.state.runtime
    return await answer(request, rt.vitals, rt.settings.metrics.token)


def worker_app(vitals: Vitals, token: str | None) -> Starlette:
    """A worker's metrics port: `/metrics` alone, with the same rule."""

    async def endpoint(request: Request) -> Response:
        return await answer(request, vitals, token)

    return Starlette(routes=[Route("/metrics", endpoint)])


class _QuietServer(uvicorn.Server):
    """The worker owns SIGINT/SIGTERM (its loops stop on them): uvicorn must not."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_worker_metrics(
    vitals: Vitals, token: str | None, host: str, port: int, stop: asyncio.Event
) -> None:
    """A worker's /metrics on host:port until `stop` is set."""
    config = uvicorn.Config(
        worker_app(vitals, token),
        host=host,
        port=port,
        log_config=None,
        log_level=None,
        access_log=False,
        lifespan="off",
    )
    # Bound here, not by uvicorn: its bind failure is a sys.exit, which would take the
    # whole worker down for a port that someone else holds.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        log.error(
            "metrics port %s:%d unavailable (%s): this worker exposes no metrics", host, port, exc
        )
        return
    server = _QuietServer(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="metrics-port")
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await serving


class CountResponses:
    """warroom_http_responses_total{code}: outermost, so the ingest fast path and every
    error handler's answer are counted (WebSocket handshakes are not HTTP responses)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                HTTP_RESPONSES.labels(str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting)
