"""After the sale and across the groups: the retrospective page (复盘), the CSV exports,
group health, membership per minute, and report posters."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from warroom.adapters.outbound.poster import FontMissing, find_font, render_png
from warroom.adapters.redis import keys
from warroom.adapters.redis.groups import load_judged, read_membership_series
from warroom.core.ingest.clock import rfc3339
from warroom.core.links import Area
from warroom.core.live.group_health import Judged, health_counts, row_view
from warroom.core.records import CampaignRecord
from warroom.core.reports.poster import PosterSpec, report_poster_spec
from warroom.core.review.export import COLUMNS, TABLES, event_chunks, render_table, table_rows
from warroom.core.review.page import page_context
from warroom.services.campaigns import clock_of
from warroom.services.review_loader import ReviewLoader, late_cutoff_ms
from warroom.web import deps
from warroom.web.errors import ApiError, JSONBytes
from warroom.web.pages.chart import review_figures
from warroom.web.pages.render import access_of, api_error_page, html, masked


def money_free_row(judged: Judged, tz: str) -> dict[str, Any]:
    """A group's row for a masked wall: names, counts, health; no amount."""
    return {k: v for k, v in row_view(judged, tz).items() if not k.endswith("_fen")}


router = APIRouter()
API = "/api/v1/campaigns/{slug}"


def _loader(request: Request) -> ReviewLoader:
    return deps.runtime(request).review


async def _viewer(request: Request, slug: str, *areas: Area) -> CampaignRecord:
    """The campaign, for a token that opens one of `areas` (core/links.py; the full
    viewer token opens all): a review link reads these, a host or wall link does not."""
    record = await deps.campaign(request, slug)
    request.state.access = await deps.viewer_access(request, record, *(areas or ("review",)))
    return record


# group health


async def hot_prefix(request: Request, slug: str) -> str:
    """The hot-state key prefix to read group health under. With generations this is
    the live generation's prefix; while the figures are restored there is none, and
    the API says so rather than answer zeros."""
    gen = await request.app.state.runtime.hot.generation(slug)
    if gen is None:
        raise ApiError(503, "数据恢复中 (figures are being restored)", {"Retry-After": "2"})
    return keys.gen_prefix(slug, gen)


GROUPS_TTL_S = 2.0  # every viewer of this process shares one read per campaign per TTL


async def _judged(request: Request, record: CampaignRecord) -> tuple[list[Judged], int]:
    """Every group judged now, shared: screens and phones poll every 10 s, and at
    10,000 groups one read is worth sharing (figures at most GROUPS_TTL_S old)."""
    state = request.app.state
    if not hasattr(state, "groups_cache"):
        state.groups_cache, state.groups_locks = {}, {}
    ttl = getattr(state, "groups_ttl_s", GROUPS_TTL_S)
    slug = record.settings.slug
    lock = state.groups_locks.setdefault(slug, asyncio.Lock())
    async with lock:  # concurrent requests wait for one read instead of each reading
        hit = state.groups_cache.get(slug)
        if hit and time.monotonic() - hit[0] < ttl and hit[1] == record.settings:
            return hit[2], hit[3]
        now = clock_of(record).now_ms(deps.now_ms(request))
        redis = deps.runtime(request).redis
        judged = await load_judged(redis, await hot_prefix(request, slug), record.settings, now)
        state.groups_cache[slug] = (time.monotonic(), record.settings, judged, now)
        return judged, now


@router.get(API + "/groups")
async def groups(request: Request, slug: str) -> JSONBytes:
    """One row per group (contract v2), coldest first. `?health=cold,quiet` keeps
    those states, `?id=g1` one group, `?limit=N` the first N rows; `?names=1` only
    `{id, name}` of each (the host view's picker)."""
    record = await _viewer(request, slug)
    judged, _ = await _judged(request, record)
    if request.query_params.get("names") == "1":
        return JSONBytes([{"id": j.id, "name": j.counters.name or j.id} for j in judged])
    if one := request.query_params.get("id"):
        judged = [j for j in judged if j.id == one]
    wanted = {h for h in request.query_params.get("health", "").split(",") if h}
    if wanted:
        judged = [j for j in judged if j.health in wanted]
    limit = request.query_params.get("limit", "")
    if limit:
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
        if not (limit.isascii() and limit.isdigit()):
            raise ApiError(400, "limit must be a whole number")
        judged = judged[: int(limit)]
    tz = record.settings.timezone
    return JSONBytes([row_view(j, tz) for j in judged])


@router.get(API + "/groups/summary")
async def groups_summary(request: Request, slug: str) -> JSONBytes:
    """For the big screen's 冷群提醒 panel: counts per state and the coldest few."""
    record = await _viewer(request, slug, "review", "screen")
    s = record.settings
    judged, now = await _judged(request, record)
    view = money_free_row if access_of(request).masked else row_view
    cold = [view(j, s.timezone) for j in [j for j in judged if j.health == "cold"][:5]]
    quiet = [view(j, s.timezone) for j in [j for j in judged if j.health == "quiet"][:5]]
    return JSONBytes(
        {
            "counts": health_counts(judged),
            "cold": cold,
            "quiet": quiet,
            "thresholds": {
                "quiet_minutes": s.health_quiet_minutes,
                "cold_minutes": s.health_cold_minutes,
                "cold_max_messages": s.health_cold_max_messages,
            },
            "ended": now >= s.ends_at,
        }
    )


@router.get(API + "/membership")
async def membership(request: Request, slug: str) -> JSONBytes:
    """Joins and leaves per campaign minute, beside the sales series."""
    record = await _viewer(request, slug)
    series = await read_membership_series(
        deps.runtime(request).redis, await hot_prefix(request, slug)
    )
    minutes = sorted(set(series["joins"]) | set(series["leaves"]))
    tz = record.settings.timezone
    return JSONBytes(
        [
            {
                "minute": rfc3339(m, tz),
                "joins": series["joins"].get(m, 0),
                "leaves": series["leaves"].get(m, 0),
            }
            for m in minutes
        ]
    )


# exports


def _csv_headers(slug: str, table: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{slug}-{table}.csv"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }


@router.get(API + "/export/{table}.csv")
async def export(request: Request, slug: str, table: str) -> Response:
    record = await _viewer(request, slug)
    if table not in TABLES:
        raise ApiError(404, f"unknown table {table!r}: one of {', '.join(TABLES)}")
    tz = record.settings.timezone
    media = "text/csv; charset=utf-8"
    if table == "events":
        rt = deps.runtime(request)
        reports = await asyncio.to_thread(rt.reports.reports, record.id)
        cutoff = late_cutoff_ms(record, reports)
        chunks = _loader(request).store.rows(record.id)
        # A sync generator: Starlette pulls it in a thread pool, chunk by chunk.
        return StreamingResponse(
            event_chunks(chunks, cutoff, tz), media_type=media, headers=_csv_headers(slug, table)
        )
    review, _ = await asyncio.to_thread(_loader(request).load, record, deps.now_ms(request))
    body = render_table(COLUMNS[table], table_rows(review, table, tz))
    return Response(body.encode("utf-8"), media_type=media, headers=_csv_headers(slug, table))


# the page


@router.get("/c/{slug}/review", response_class=HTMLResponse, include_in_schema=False)
async def review_page(request: Request, slug: str) -> HTMLResponse:
    try:
        record = await _viewer(request, slug)
    except ApiError as exc:
        return api_error_page(request, exc)
    return await review_html(request, record, request.query_params.get("token", ""))


async def review_html(
    request: Request, record: CampaignRecord, token: str, console: bool = False
) -> HTMLResponse:
    """The page for a viewer's link, or (`console`) for a signed-in operator, who has no
    viewer token: its exports and replay need one, so that view links the console's
    links page instead."""
    review, _ = await asyncio.to_thread(_loader(request).load, record, deps.now_ms(request))
    slug = record.settings.slug
    context: dict[str, Any] = page_context(review, record.settings.timezone)
    context.update(slug=slug, token=token, print_mode=request.query_params.get("print") == "1")
    context.update(console=console)
    context["figures"] = review_figures(context["chart"])
    return html(request, "review.html", context)


# posters

_POSTERS: OrderedDict[tuple[int, int, bool, str], bytes] = OrderedDict()
POSTER_CACHE = 64


def poster_inputs(record: CampaignRecord, row: Any, mask: bool) -> PosterSpec:
    """The spec of one report's poster (what the tests read: the strings drawn)."""
    try:
        memo = orjson.loads(row.memo_json or "{}")
    except orjson.JSONDecodeError:
        memo = {}
    memo = memo if isinstance(memo, dict) else {}
    return report_poster_spec(record.settings, row.kind, row.text, memo, row.at_ms, mask)


@router.get(API + "/reports/{report_id}/poster.png")
async def poster(request: Request, slug: str, report_id: int) -> Response:
    record = await _viewer(request, slug, "poster")
    rt = deps.runtime(request)
    rows = await asyncio.to_thread(rt.reports.reports, record.id)
    row = next((r for r in rows if r.id == report_id), None)
    if row is None:
        raise ApiError(404, f"no report {report_id} in campaign {slug!r}")
    mask = masked(request)  # a masked wall link gets the masked poster, whatever it asks
    try:
        font = find_font(rt.settings.warroom_poster_font)
    except FontMissing as exc:
        # The text-only path: the report is still there to paste.
        return JSONBytes({"error": str(exc), "text": row.text}, status_code=503)
    key = (record.id, report_id, mask, font)
    png = _POSTERS.get(key)
    if png is None:
        png = await asyncio.to_thread(render_png, poster_inputs(record, row, mask), font)
        _POSTERS[key] = png
        while len(_POSTERS) > POSTER_CACHE:
            _POSTERS.popitem(last=False)
    name = f"{slug}-report-{report_id}{'-masked' if mask else ''}.png"
    return Response(
        png,
        media_type="image/png",
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"},
    )
