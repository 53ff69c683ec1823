"""A size cap on every request body the ingest fast path does not serve.

FastAPI reads a declared body parameter (the console's PATCH, token rotation, webhook
targets) before any dependency runs, so without this a caller without a token could
make the server buffer a body of any size. Ingest keeps its own, larger cap."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warroom.web.errors import ApiError, api_error_response


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        limit: int = 1024 * 1024,
        wider: tuple[tuple[re.Pattern[str], int], ...] = (),
    ) -> None:
        self.app = app
        self.default = limit
        self.wider = wider  # (path pattern, its own limit): an import's upload

    def limit_for(self, path: str) -> int:
        for pattern, limit in self.wider:
            if pattern.match(path):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                error = ApiError(413, f"body larger than {limit} bytes", limit="body_bytes")
                await api_error_response(error)(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # chunked, with no Content-Length to refuse early
                    raise ApiError(413, f"body larger than {limit} bytes", limit="body_bytes")
            return message

        await self.app(scope, counted, send)
