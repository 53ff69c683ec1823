"""Console pages of a campaign's report templates: the editor (simple text with named
placeholders, or the Jinja source), its live preview from the campaign's figures, save
and reset. The translation is core/reports/placeholders.py; rendering stays the
sandboxed, bounded renderer of core/reports/render.py, off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse

from warroom.core.records import CampaignRecord
from warroom.core.reports.placeholders import (
    SimpleTemplateError,
    catalogue,
    starter,
    to_jinja,
    to_simple,
)
from warroom.core.reports.render import (
    TemplateProblem,
    default_source,
    render_report,
    report_context,
    validate_template,
)
from warroom.core.reports.sample import sample_context, sample_extra
from warroom.core.reports.schedule import KIND_LABELS, REPORT_KINDS
from warroom.services.snapshots import load_snapshot
from warroom.web import deps
from warroom.web.console.auth import ConsoleChange, ConsoleSession
from warroom.web.console.base import ConsoleCampaign, ConsoleError, form_of, page, router

T = TypeVar("T")
PREVIEW_DEADLINE_S = 2.0
PREVIEW_TIMED_OUT = f"预览超时（超过 {PREVIEW_DEADLINE_S:g} 秒）：请简化模板"
SIMPLE, ADVANCED = "simple", "advanced"


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    async with asyncio.timeout(PREVIEW_DEADLINE_S):
        return await asyncio.to_thread(fn, *args)


async def preview_text(
    request: Request, record: CampaignRecord, kind: str, source: str
) -> tuple[str | None, str | None, bool]:
    """(text, error, sample): the template rendered from the campaign's real figures
    once it has any, else from sample figures; errors in Chinese."""
    try:
        # Off the event loop, with a deadline: the render is bounded (core/reports/
        # bounds.py) but still costs CPU, and other requests must not wait on it.
        await _off_loop(validate_template, source, kind)
    except TemplateProblem as exc:
        return None, str(exc), False
    except TimeoutError:
        return None, PREVIEW_TIMED_OUT, False
    rt = deps.runtime(request)
    snap = await load_snapshot(rt.hot, record, rt.clock.now_ms())
    sample = snap["totals"]["orders"] == 0
    if sample:
        context = sample_context(kind) | {"campaign_name": record.settings.name}
    else:
        extra = sample_extra(kind)
        if kind == "final":
            extra["milestones_fen"] = list(record.settings.milestones_fen)
        context = report_context(snap, kind, extra, None)
    try:
        return await _off_loop(render_report, kind, context, source), None, sample
    except TimeoutError:
        return None, PREVIEW_TIMED_OUT, sample
    except Exception as exc:  # validate_template passed on samples; real figures differ
        return None, f"渲染出错：{exc}", sample


def _kind(kind: str) -> str:
    if kind not in REPORT_KINDS:
        raise ConsoleError(404, "未知战报类型")
    return kind


def _source_of(form: dict[str, str], kind: str) -> tuple[str, str | None, str]:
    """(mode, Jinja source or None, error) of the editor's form as sent."""
    if form.get("mode") != SIMPLE:
        return ADVANCED, form.get("source", ""), ""
    try:
        return SIMPLE, to_jinja(form.get("simple", ""), kind), ""
    except SimpleTemplateError as exc:
        return SIMPLE, None, str(exc)


async def _edited(
    request: Request, record: CampaignRecord, kind: str, form: dict[str, str]
) -> dict[str, Any]:
    """The preview fragment's context for the form as typed, with the other view of
    the same template kept in step (swapped out of band)."""
    mode, source, error = _source_of(form, kind)
    ctx: dict[str, Any] = {"record": record, "kind": kind, "mode": mode, "sample": False}
    if source is None:
        ctx["error"] = error
        return ctx
    text, problem, sample = await preview_text(request, record, kind, source)
    ctx.update(preview=text, error=problem, sample=sample, source=source)
    if mode == SIMPLE:
        ctx["oob_source"] = True  # the Jinja view shows what the simple text becomes
    else:
        simple = to_simple(source, kind)
        ctx.update(oob_note=True, expressible=simple is not None)
        if simple is not None:
            ctx.update(oob_simple=True, simple=simple)
    return ctx


@router.get("/admin/c/{slug}/templates", response_class=HTMLResponse)
async def templates_page(
    request: Request, slug: str, session: ConsoleSession, record: ConsoleCampaign
) -> HTMLResponse:
    kind = request.query_params.get("kind", "scheduled")
    if kind not in REPORT_KINDS:
        kind = "scheduled"
    overrides = await asyncio.to_thread(deps.runtime(request).reports.templates, record.id)
    source = overrides.get(kind, default_source(kind))
    simple = to_simple(source, kind) if kind in overrides else None
    text, error, sample = await preview_text(request, record, kind, source)
    ctx = {
        "record": record,
        "kind": kind,
        "kinds": KIND_LABELS,
        "custom": set(overrides),
        "source": source,
        # a stored template the simple form can say opens in it; else the Jinja view,
        # with a simple starter waiting behind the other tab
        "mode": SIMPLE if simple is not None else ADVANCED,
        "simple": simple if simple is not None else starter(kind),
        "expressible": simple is not None,
        "placeholders": catalogue(kind),
        "preview": text,
        "error": error,
        "sample": sample,
        "tab": "templates",
    }
    return page(request, session, "admin/templates.html", ctx)


@router.post("/admin/c/{slug}/templates/{kind}/preview", response_class=HTMLResponse)
async def template_preview(
    request: Request, slug: str, kind: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    """Not a change: the report as the form would make it now (or why it cannot)."""
    ctx = await _edited(request, record, _kind(kind), await form_of(request))
    return page(request, session, "admin/_template_preview.html", ctx)


@router.post("/admin/c/{slug}/templates/{kind}", response_class=HTMLResponse)
async def template_save(
    request: Request, slug: str, kind: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    kind = _kind(kind)
    form = await form_of(request)
    rt = deps.runtime(request)
    reset = form.get("reset") == "1"
    if reset:
        form = {"mode": ADVANCED, "source": default_source(kind)}
    ctx = await _edited(request, record, kind, form)
    if reset:
        ctx["oob_source"] = True  # the Jinja view shows the default again
    saved = ctx.get("error") is None
    if saved:
        await asyncio.to_thread(
            rt.reports.set_template, record.id, kind, None if reset else ctx["source"]
        )
        await asyncio.to_thread(
            rt.store.audit,
            record.id,
            rt.clock.now_ms(),
            "template",
            {"kind": kind, "reset": reset, "mode": ctx["mode"]},
        )
    ctx.update(saved=saved, reset=reset)
    return page(request, session, "admin/_template_preview.html", ctx, 200 if saved else 422)
