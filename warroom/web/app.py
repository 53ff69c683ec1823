"""The app factory: no module-level clients; the lifespan builds and closes them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from warroom.services.runtime import Edge
from warroom.settings import Settings
from warroom.web import errors, hooks, metrics, ws
from warroom.web.api import campaigns as api_campaigns
from warroom.web.api import imports as api_imports
from warroom.web.api import links as api_links
from warroom.web.api import people as api_people
from warroom.web.api import reports as api_reports
from warroom.web.api import sources as api_sources
from warroom.web.api import treatment as api_treatment
from warroom.web.bodylimit import BodyLimit
from warroom.web.console import home as console
from warroom.web.errors import JSONBytes
from warroom.web.fastpath import IngestFastPath
from warroom.web.healthz import healthz_response
from warroom.web.metrics import CountResponses
from warroom.web.pages import review, screens

App = FastAPI  # what bootstrap.web_app hands to uvicorn and the tests


def create_app(settings: Settings, build_edge: Callable[[Settings], Edge]) -> FastAPI:
    """The app, given how to build its parts: `bootstrap.web_app` passes the one
    composition root's `build_edge`; nothing here constructs a client."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        edge = build_edge(settings)
        await edge.start()
        app.state.runtime = edge.runtime
        app.state.writer = edge.writer
        app.state.hub = edge.hub
        try:
            yield
        finally:
            await edge.stop()

    app = FastAPI(
        title="Warroom",
        version="1",
        lifespan=lifespan,
        default_response_class=JSONBytes,
        docs_url=None,  # served below from our own static files, not a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    errors.install(app)
    app.include_router(api_campaigns.router)
    app.include_router(api_reports.router)
    app.include_router(api_sources.router)  # sources (issue 19)
    app.include_router(api_treatment.router)  # a stimulus's assignment (contract v3)
    app.include_router(hooks.router)  # /hooks/{id}: where the platforms call a source
    app.include_router(api_links.router)  # scoped links (contract v3)
    app.include_router(api_imports.router)  # spreadsheet imports
    app.include_router(api_people.router)  # people, API keys, the audit (owners)
    app.include_router(review.router)  # 复盘
    app.include_router(metrics.router)  # /metrics (Prometheus, contract v3)
    ws.install(app)  # the screens' WebSocket (and the raw-send middleware it needs)
    screens.install(app, settings.warroom_screen_quiet_s)  # the big screen, the host view, /static
    console.install(app)  # `/` and the operator console (after pages: it shares their Jinja env)
    # every other body: 1 MiB (ingest has its own cap; an import's file up to its own)
    app.add_middleware(BodyLimit, wider=((api_imports.UPLOAD_PATH, settings.imports.max_bytes),))
    app.add_middleware(IngestFastPath)  # see fastpath.py
    app.add_middleware(CountResponses)  # outermost: every answer, the fast path's too

    @app.get("/api/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        # Offline too: the Swagger UI assets are vendored under static/vendor/swagger-ui;
        # no validator badge (it would call validator.swagger.io).
        vendor = "/static/vendor/swagger-ui"
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="Warroom API",
            swagger_js_url=f"{vendor}/swagger-ui-bundle.js",
            swagger_css_url=f"{vendor}/swagger-ui.css",
            swagger_favicon_url=f"{vendor}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONBytes:
        return await healthz_response(app)  # 503 naming the degraded part, if any

    return app
