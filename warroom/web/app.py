"""The app factory: no module-level clients; the lifespan builds and closes them."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from warroom.adapters.hub import Hub
from warroom.adapters.ledger import LedgerWriter
from warroom.bootstrap import build_runtime
from warroom.settings import Settings
from warroom.web import api, api_reports, errors, pages, ws
from warroom.web.errors import JSONBytes
from warroom.web.fastpath import IngestFastPath


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = build_runtime(settings)
        writer = LedgerWriter(rt.store, rt.stream, settings.warroom_max_pending_events)
        await writer.start()
        app.state.runtime = rt
        app.state.writer = writer
        hub = Hub(rt.redis, rt.hot, rt.campaigns)
        await hub.start()
        app.state.hub = hub
        try:
            yield
        finally:
            await hub.stop()
            await writer.stop()
            await rt.close()

    app = FastAPI(
        title="Warroom",
        version="1",
        lifespan=lifespan,
        default_response_class=JSONBytes,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
    )
    errors.install(app)
    app.include_router(api.router)
    app.include_router(api_reports.router)
    app.include_router(importlib.import_module("warroom.web.review").router)  # 复盘
    ws.install(app)  # the screens' WebSocket (and the raw-send middleware it needs)
    pages.install(app, settings.warroom_screen_quiet_s)  # the big screen, the host view, /static
    app.add_middleware(IngestFastPath)  # outermost of ours: see fastpath.py

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        await app.state.runtime.redis.ping()
        return {"status": "ok"}

    return app
