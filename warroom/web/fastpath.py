"""Ingest served ahead of FastAPI's routing layers.

A single-event POST is mostly framework: profiled under load, the exception and
exit-stack middleware, routing and the request/response wrappers took about 60% of the
web process's CPU per request, the endpoint itself the rest. This middleware sends
`POST /api/v1/campaigns/{slug}/events` straight to the same endpoint function
(`api.ingest`, still registered with the router for the OpenAPI docs), and renders its
`ApiError`s as the app's handler would (and any other exception as JSON too: a
dependency failure as 503, a bug as 500). Everything else passes through untouched.
"""

from __future__ import annotations

import re
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.adapters.metrics.catalogue import INGEST_SECONDS
from warroom.web.api.campaigns import ingest
from warroom.web.errors import ApiError, api_error_response, unexpected_response

INGEST_API = INGEST_SECONDS.labels("api")
INGEST_PATH = re.compile(r"/api/v1/campaigns/([^/]+)/events")


class IngestFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = INGEST_PATH.fullmatch(scope["path"])
            if match is not None:
                started = time.monotonic()
                try:
                    response = await ingest(Request(scope, receive), match.group(1))
                except ApiError as exc:
                    response = api_error_response(exc)
                except Exception as exc:  # JSON even then: 503 for a dependency, else 500
                    response = unexpected_response(exc)
                INGEST_API.observe(time.monotonic() - started)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
