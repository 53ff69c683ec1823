"""The screens: `/c/{slug}` (big screen) and `/c/{slug}/host` (host phone view,
with its tasks: `/c/{slug}/host/tasks`, `…/tasks/{id}/done`).

Server-rendered Jinja2 (autoescape on) from the same snapshot the WebSocket serves;
after the first render a small script per screen applies the JSON frames, filling the
row markup the templates define (`<template>` elements) with `textContent` only. The
host's own-rank card is an htmx fragment: the `seller_card` block of host.html,
rendered alone on request.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from warroom.core.records import CampaignRecord
from warroom.services import host_tasks
from warroom.services.snapshots import load_snapshot
from warroom.web import deps
from warroom.web.errors import ApiError, api_error_response
from warroom.web.pages.chart import screen_figure
from warroom.web.pages.render import (
    PAGE_HEADERS,
    STATIC_DIR,
    access_of,
    admit,
    api_error_page,
    base_context,
    block,
    html,
    make_env,
    masked,
)
from warroom.web.pages.replay import replay_chart, replay_page
from warroom.web.pages.screen_view import seller_card

router = APIRouter(include_in_schema=False)


class AssetFiles(StaticFiles):
    """The static folder is also a Python package (so that the wheel ships it): its
    `__init__.py` and any compiled file are not assets, and are not served."""

    NOT_ASSETS = (".py", ".pyc", ".pyo")

    async def get_response(self, path: str, scope: Scope) -> Response:
        name = path.replace("\\", "/")
        if name.endswith(self.NOT_ASSETS) or "__pycache__" in name.split("/"):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


def install(app: FastAPI, quiet_s: float = 60.0) -> None:
    app.state.pages_env = make_env()
    app.state.pages_env.globals["quiet_ms"] = int(quiet_s * 1000)
    app.include_router(router)
    app.mount(
        "/static",
        GZipMiddleware(AssetFiles(directory=STATIC_DIR), minimum_size=1024),
        name="static",
    )


@router.get("/c/{slug}", response_class=HTMLResponse)
async def big_screen(request: Request, slug: str) -> HTMLResponse:
    replay = "replay" in request.query_params
    try:
        record = await admit(request, slug, "replay" if replay else "screen")
    except ApiError as exc:
        return api_error_page(request, exc)
    if replay:  # time travel: from the ledger, not hot state
        return await replay_page(request, record)
    snap = await load_snapshot(deps.runtime(request).hot, record, deps.now_ms(request))
    mask = masked(request)
    figure = await asyncio.to_thread(screen_figure, snap, mask)  # shares only when masked
    context = base_context(request, record, snap, mask)
    context["figure"] = figure
    return html(request, "screen.html", context)


CHART_TTL_S = 1.0  # every screen of this process shares one figure per campaign per TTL


async def _live_chart(request: Request, record: CampaignRecord) -> bytes:
    """The live figure, built at most once per campaign, mask and CHART_TTL_S however
    many screens ask (each asks at most once a second, after a frame moved it)."""
    state = request.app.state
    if not hasattr(state, "chart_cache"):
        state.chart_cache, state.chart_locks = {}, {}
    key = (record.settings.slug, masked(request))
    lock = state.chart_locks.setdefault(key, asyncio.Lock())
    async with lock:
        hit = state.chart_cache.get(key)
        if hit and time.monotonic() - hit[0] < CHART_TTL_S and hit[1] == record.settings:
            body: bytes = hit[2]
            return body
        snap = await load_snapshot(deps.runtime(request).hot, record, deps.now_ms(request))
        figure = await asyncio.to_thread(screen_figure, snap, key[1])
        body = orjson.dumps(figure)
        state.chart_cache[key] = (time.monotonic(), record.settings, body)
        return body


@router.get("/c/{slug}/chart")
async def big_screen_chart(request: Request, slug: str) -> Response:
    """The big screen's chart figure now (`&replay=N&at=…`: at that moment of the
    replay), for the page to `Plotly.react` after frames moved it."""
    replay = "replay" in request.query_params
    try:
        record = await admit(request, slug, "replay" if replay else "screen")
    except ApiError as exc:
        return Response(status_code=exc.status, headers=PAGE_HEADERS)
    if replay:
        figure: Any = await replay_chart(request, record, masked(request))
        if isinstance(figure, Response):
            return figure
        body = orjson.dumps(figure)
    else:
        body = await _live_chart(request, record)
    return Response(body, media_type="application/json", headers=PAGE_HEADERS)


@router.get("/c/{slug}/host", response_class=HTMLResponse)
async def host_view(request: Request, slug: str) -> HTMLResponse:
    try:
        record = await admit(request, slug, "host")
    except ApiError as exc:
        return api_error_page(request, exc)
    rt = deps.runtime(request)
    snap = await load_snapshot(rt.hot, record, rt.clock.now_ms())
    context = base_context(request, record, snap)
    chosen = chosen_seller(request)
    bound = access_of(request).seller_id
    context["bound_seller"] = bound
    context["card"] = await seller_card(rt.hot, record, chosen, rt.clock.now_ms())
    # Contract v3: a fire held out of every group this host hosts is not its to
    # announce; an approved stimulus is a task with a 完成 button.
    hidden = await host_tasks.hidden(rt, record, bound, context["stimuli"])
    context["hidden"] = hidden
    context["stimuli"] = [x for x in context["stimuli"] if x["id"] not in hidden]
    quiet = await host_tasks.hidden_reports(rt, record, hidden)
    context["hidden_reports"] = quiet
    context["reports"] = [r for r in context["reports"] if r["id"] not in quiet]
    context["tasks"] = await host_tasks.open_tasks(rt, record, chosen)
    return html(request, "host.html", context)


@router.get("/c/{slug}/host/tasks")
async def host_task_list(request: Request, slug: str) -> Response:
    """The host's open tasks and the fires it must not show (JSON), for the page to
    refresh after a frame brought a new stimulus or the host picked a name."""
    try:
        record = await admit(request, slug, "host")
    except ApiError as exc:
        return api_error_response(exc)
    rt = deps.runtime(request)
    stimuli = await rt.hot.read_feed(record.settings.slug, "stimuli")
    hidden = await host_tasks.hidden(rt, record, access_of(request).seller_id, stimuli)
    body = {
        "tasks": await host_tasks.open_tasks(rt, record, chosen_seller(request)),
        "hidden": hidden,
        "hidden_reports": await host_tasks.hidden_reports(rt, record, hidden),
    }
    return Response(orjson.dumps(body), media_type="application/json", headers=PAGE_HEADERS)


@router.post("/c/{slug}/host/tasks/{task_id}/done")
async def host_task_done(request: Request, slug: str, task_id: int) -> Response:
    """The host did it (idempotent). A host link marks its own seller's tasks only:
    another's answers 404, as an unknown one does; the full viewer token marks any."""
    try:
        record = await admit(request, slug, "host")
        if not 1 <= task_id <= 2**62:
            raise ApiError(404, f"no task {task_id} for this host")
        rt = deps.runtime(request)
        done = await host_tasks.done(rt, record, task_id, access_of(request).seller_id)
    except ApiError as exc:
        return api_error_response(exc)
    return Response(orjson.dumps(done), media_type="application/json", headers=PAGE_HEADERS)


@router.get("/c/{slug}/host/seller", response_class=HTMLResponse)
async def host_seller(request: Request, slug: str) -> HTMLResponse:
    """htmx: the `seller_card` block for the seller the host picked (`part=picker`: the
    picker block, with the sellers who have sold since the page was loaded)."""
    try:
        record = await admit(request, slug, "host")
    except ApiError as exc:
        return api_error_page(request, exc)
    rt = deps.runtime(request)
    card = await seller_card(rt.hot, record, chosen_seller(request), rt.clock.now_ms())
    context = {
        "slug": record.settings.slug,
        "token": request.query_params.get("token", ""),
        "card": card,
        "bound_seller": access_of(request).seller_id,
    }
    name = "picker" if request.query_params.get("part") == "picker" else "seller_card"
    return block(request, "host.html", name, context)


def chosen_seller(request: Request) -> str | None:
    """The seller whose card the host sees: a host link's own seller, whatever the URL
    asks (another seller's card is not its to read); else the one picked."""
    bound = access_of(request).seller_id
    if bound is not None:
        return bound
    return request.query_params.get("seller") or None
