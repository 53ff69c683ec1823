"""How every viewer page is rendered: the template environment, the headers that keep a
token-carrying page private, Chinese error pages, and the context the screens share.
The screens, the replay and the review import this; none of them imports another."""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any, cast

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from warroom.core.links import FULL, Access, Area
from warroom.core.live.masked import mask_snapshot
from warroom.core.live.shapes import Snapshot
from warroom.core.records import CampaignRecord
from warroom.web import deps
from warroom.web.errors import ApiError
from warroom.web.pages.screen_view import add_filters


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


def html(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    env: Environment = request.app.state.pages_env
    body = env.get_template(name).render(context)
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def block(request: Request, name: str, block: str, context: dict[str, Any]) -> HTMLResponse:
    """One named block alone: the same markup the full page renders first."""
    env: Environment = request.app.state.pages_env
    tmpl = env.get_template(name)
    body = "".join(tmpl.blocks[block](tmpl.new_context(context)))
    return HTMLResponse(body, headers=PAGE_HEADERS)


async def admit(request: Request, slug: str, *areas: Area) -> CampaignRecord:
    """The campaign, for a token that opens one of `areas` (core/links.py); what it
    opens is kept in `request.state.access` (see `access_of` and `masked`)."""
    record = await deps.campaign(request, slug)
    request.state.access = await deps.viewer_access(request, record, *areas)
    return record


def access_of(request: Request) -> Access:
    found = getattr(request.state, "access", None)
    return found if isinstance(found, Access) else FULL


def masked(request: Request) -> bool:
    """A masked screen: decided by the link (a masked wall link), or asked with `&mask=1`
    by a full viewer. Either way the page is rendered from the money-free snapshot."""
    if access_of(request).masked:
        return True
    return request.query_params.get("mask") in ("1", "true", "yes")


def marks_of(record: CampaignRecord) -> list[int]:
    s = record.settings
    return [*s.milestones_fen, s.target_base_fen, s.target_stretch_fen]


def error_page(
    request: Request, status: int, title: str, detail: str, link: dict[str, str] | None = None
) -> HTMLResponse:
    """An error in Chinese with its own hint (and a link onward), e.g. a replay refused."""
    context: dict[str, Any] = {"status": status, "title": title, "detail": detail, "hint": ""}
    if link:
        context["link"] = link
    return html(request, "error.html", context, status)


def api_error_page(request: Request, exc: ApiError) -> HTMLResponse:
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


def quiet_ms(request: Request) -> int | None:
    """`&quiet=SECONDS` overrides WARROOM_SCREEN_QUIET_S for one screen (a small
    community's feed may pause longer than a big sale's)."""
    try:
        seconds = float(request.query_params.get("quiet", ""))
    except ValueError:
        return None  # absent or not a number: the setting applies
    if not math.isfinite(seconds):
        return None
    return int(min(max(seconds, 1.0), 3600.0) * 1000)


def base_context(
    request: Request, record: CampaignRecord, snap: Snapshot, mask: bool = False
) -> dict[str, Any]:
    """What the screens render from: the snapshot, or its money-free twin when `mask`
    (then no amount reaches the HTML, not even in an attribute)."""
    ctx: dict[str, Any] = {"mask": mask}
    if mask:
        snap = cast(Snapshot, mask_snapshot(snap, marks_of(record)))
    if (quiet := quiet_ms(request)) is not None:
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
