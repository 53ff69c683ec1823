"""The screens: `/c/{slug}` (big screen) and `/c/{slug}/host` (host phone view).

Server-rendered Jinja2 (autoescape on) from the same snapshot the WebSocket serves;
after the first render a small script per screen applies the JSON frames, filling the
row markup the templates define (`<template>` elements) with `textContent` only. The
host's own-rank card is an htmx fragment: the `seller_card` block of host.html,
rendered alone on request.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles

from warroom.adapters.campaigns import real_now_ms
from warroom.adapters.snapshots import load_snapshot
from warroom.adapters.store import CampaignRecord
from warroom.web import deps
from warroom.web.errors import ApiError
from warroom.web.screen_view import add_filters, seller_card


def _package_dir(package: str) -> Path:
    """A directory of package data (pyproject.toml maps templates/ and static/ into the
    package), the same in a wheel and in an editable install. Jinja2 and StaticFiles
    want a real directory; pip always installs unzipped."""
    found = resources.files(package)
    if not isinstance(found, Path):  # pragma: no cover - a zipped install
        raise RuntimeError(f"{package} is not a directory on disk: install unzipped")
    return found


TEMPLATE_DIR = _package_dir("warroom.templates")
STATIC_DIR = _package_dir("warroom.static")

router = APIRouter(include_in_schema=False)

# Pages carry the viewer token in their URL: never cache them, never leak a referrer;
# scripts only from here, so even a name that slipped into markup could not run.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
}


def make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    add_filters(env, STATIC_DIR)
    return env


def install(app: FastAPI, quiet_s: float = 60.0) -> None:
    app.state.pages_env = make_env()
    app.state.pages_env.globals["quiet_ms"] = int(quiet_s * 1000)
    app.include_router(router)
    app.mount(
        "/static",
        GZipMiddleware(StaticFiles(directory=STATIC_DIR), minimum_size=1024),
        name="static",
    )


def html(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    env: Environment = request.app.state.pages_env
    body = env.get_template(name).render(context)
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def _block(request: Request, name: str, block: str, context: dict[str, Any]) -> HTMLResponse:
    """One named block alone: the same markup the full page renders first."""
    env: Environment = request.app.state.pages_env
    tmpl = env.get_template(name)
    body = "".join(tmpl.blocks[block](tmpl.new_context(context)))
    return HTMLResponse(body, headers=PAGE_HEADERS)


async def _admit(request: Request, slug: str) -> CampaignRecord:
    record = await deps.campaign(request, slug)
    deps.require_viewer(request, record)
    return record


def error_page(
    request: Request, status: int, title: str, detail: str, link: dict[str, str] | None = None
) -> HTMLResponse:
    """An error in Chinese with its own hint (and a link onward), e.g. a replay refused."""
    context: dict[str, Any] = {"status": status, "title": title, "detail": detail, "hint": ""}
    if link:
        context["link"] = link
    return html(request, "error.html", context, status)


def _error(request: Request, exc: ApiError) -> HTMLResponse:
    # The page speaks Chinese; the API's English message is for integrators, not for a
    # host who tapped an old link.
    titles = {401: "需要有效的查看令牌", 404: "没有这个活动", 503: "服务暂时不可用"}
    details = {
        401: "链接里的令牌不对或已失效（可能已被运营更换）。",
        404: "找不到这个活动，请核对链接。",
        503: "数据服务暂时没有响应，请稍后刷新。",
    }
    context = {
        "status": exc.status,
        "title": titles.get(exc.status, "出错了"),
        "detail": details.get(exc.status, "请稍后再试，或联系运营同学。"),
    }
    return html(request, "error.html", context, exc.status)


def _quiet_ms(request: Request) -> int | None:
    """`&quiet=SECONDS` overrides WARROOM_SCREEN_QUIET_S for one screen (a small
    community's feed may pause longer than a big sale's)."""
    try:
        seconds = float(request.query_params.get("quiet", ""))
    except ValueError:
        return None  # absent or not a number: the setting applies
    if not math.isfinite(seconds):
        return None
    return int(min(max(seconds, 1.0), 3600.0) * 1000)


def base_context(request: Request, record: CampaignRecord, snap: dict[str, Any]) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    if (quiet := _quiet_ms(request)) is not None:
        ctx["quiet_ms"] = quiet
    return ctx | {
        "slug": record.settings.slug,
        "token": request.query_params.get("token", ""),
        "snap": snap,
        "c": snap["campaign"],
        "t": snap["totals"],
        "target": snap["target"],
        "boards": snap["leaderboards"],
        "reports": list(reversed(snap["reports"])),
        "stimuli": snap["stimuli"],
    }


@router.get("/c/{slug}", response_class=HTMLResponse)
async def big_screen(request: Request, slug: str) -> HTMLResponse:
    try:
        record = await _admit(request, slug)
    except ApiError as exc:
        return _error(request, exc)
    if "replay" in request.query_params:  # time travel: from the ledger, not hot state
        from warroom.web.replay import replay_page  # it renders with this module's helpers

        return await replay_page(request, record)
    snap = await load_snapshot(deps.runtime(request).hot, record, real_now_ms())
    context = base_context(request, record, snap)
    context["mask"] = request.query_params.get("mask") in ("1", "true", "yes")
    return html(request, "screen.html", context)


@router.get("/c/{slug}/host", response_class=HTMLResponse)
async def host_view(request: Request, slug: str) -> HTMLResponse:
    try:
        record = await _admit(request, slug)
    except ApiError as exc:
        return _error(request, exc)
    rt = deps.runtime(request)
    snap = await load_snapshot(rt.hot, record, real_now_ms())
    context = base_context(request, record, snap)
    chosen = request.query_params.get("seller") or None
    context["card"] = await seller_card(rt.hot, record, chosen, real_now_ms())
    return html(request, "host.html", context)


@router.get("/c/{slug}/host/seller", response_class=HTMLResponse)
async def host_seller(request: Request, slug: str) -> HTMLResponse:
    """htmx: the `seller_card` block for the seller the host picked (`part=picker`: the
    picker block, with the sellers who have sold since the page was loaded)."""
    try:
        record = await _admit(request, slug)
    except ApiError as exc:
        return _error(request, exc)
    rt = deps.runtime(request)
    chosen = request.query_params.get("seller") or None
    card = await seller_card(rt.hot, record, chosen, real_now_ms())
    context = {
        "slug": record.settings.slug,
        "token": request.query_params.get("token", ""),
        "card": card,
    }
    block = "picker" if request.query_params.get("part") == "picker" else "seller_card"
    return _block(request, "host.html", block, context)
