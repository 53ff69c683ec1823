"""The operator console: `/` and `/admin` (server-rendered Jinja2 + htmx, Chinese).

Sign-in with the admin token opens a session (admin_auth.py). Every GET here only
reads; every change is a POST that carries the session's CSRF token (htmx sends it
from the `hx-headers` of <body>) and goes through the same adapters as the admin API.
Forms answer with the fragment they replace: the same form with errors beside the
fields, or the updated section.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment

from warroom.adapters.campaigns import clock_of, real_now_ms
from warroom.adapters.snapshots import load_snapshot
from warroom.adapters.store import CampaignRecord, SlugTaken
from warroom.core.clock import from_ms
from warroom.core.money import format_yuan
from warroom.web import admin_auth as auth
from warroom.web import admin_ops, deps
from warroom.web.admin_auth import ConsoleChange, ConsoleSession
from warroom.web.admin_forms import campaign_form_values, campaign_from_form
from warroom.web.admin_models import campaign_state, next_report, summarize
from warroom.web.errors import ApiError
from warroom.web.pages import PAGE_HEADERS

router = APIRouter(include_in_schema=False)
STATE_LABELS = {"upcoming": "未开始", "live": "进行中", "ended": "已结束"}
MAX_FORM_BYTES = 256 * 1024


class ConsoleError(ApiError):
    """An error on a console page: answered as a page, not as JSON."""


AUDIT_LABELS = {
    "update": "修改设置",
    "rules": "修改刺激规则",
    "rotate": "轮换令牌",
    "fire": "手动触发",
    "end_early": "提前结束",
    "pause_rules": "暂停自动规则",
    "resume_rules": "恢复自动规则",
    "template": "修改战报模板",
    "webhook_add": "添加推送目标",
    "webhook_delete": "删除推送目标",
    "webhook_test": "发送测试消息",
}
DELIVERY_LABELS = {
    "pending": "排队中",
    "sending": "发送中",
    "delivered": "已送达",
    "failed": "失败",
}
FORMAT_LABELS = {
    "wecom": "企业微信 Markdown",
    "wecom_text": "企业微信文本",
    "wecom_image": "企业微信海报图片",
    "wecom_image_masked": "企业微信海报图片（隐藏金额）",
    "json": "签名 JSON",
}


def admin_time(ms: int, tz: str, short: bool = False) -> str:
    dt = from_ms(int(ms), tz)
    return dt.strftime("%H:%M" if short else "%m-%d %H:%M")


def audit_detail(detail: Any) -> str:
    """One line of what changed; long values cut, money fields shown in 元."""
    if not isinstance(detail, dict):
        return str(detail)[:200]
    parts = []
    changed = detail.get("changed")
    if isinstance(changed, dict):
        for k, (old, new) in changed.items():
            if k == "stimulus_rules":  # the names say enough; the rules page has the rest
                old = "、".join(r.get("name", "") for r in old or []) or "—"
                new = "、".join(r.get("name", "") for r in new or []) or "—"
            elif k.endswith("_fen") and isinstance(new, int) and isinstance(old, int | None):
                old = "—" if old is None else format_yuan(old)
                new = format_yuan(new)
            parts.append(f"{k}: {str(old)[:40]} → {str(new)[:40]}")
    else:
        shown = {True: "是", False: "否", None: "—"}
        parts = [
            f"{k}: {shown[v] if isinstance(v, bool | None) else str(v)[:60]}"
            for k, v in detail.items()
        ]
    return "；".join(parts)[:400]


def redact_url(url: str) -> str:
    """A robot's key lives in its query string: show the host and path only."""
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.netloc}{parts.path}"
    return shown + ("?…" if parts.query else "")


def install(app: FastAPI) -> None:
    from warroom.web import admin_campaign, admin_links  # noqa: F401  (register their routes)

    app.state.console = auth.ConsoleSettings()
    env: Environment = app.state.pages_env
    env.globals.update(state_labels=STATE_LABELS)
    env.filters.update(
        admin_time=admin_time,
        audit_label=lambda a: AUDIT_LABELS.get(a, a),
        audit_detail=audit_detail,
        redact_url=redact_url,
        format_label=lambda f: FORMAT_LABELS.get(f, f),
        delivery_label=lambda d: DELIVERY_LABELS.get(d, d),
    )
    app.include_router(router)

    @app.exception_handler(ConsoleError)
    async def _page_error(request: Request, exc: ConsoleError) -> Response:
        ctx = {"status": exc.status, "title": "出错了", "detail": exc.message}
        return render(request, "admin/error.html", ctx, exc.status)

    @app.exception_handler(auth.NotSignedIn)
    async def _signed_out(request: Request, _: Exception) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/admin"})
        if request.method == "GET":
            return RedirectResponse("/admin", status_code=303)
        return render(request, "admin/login.html", {"error": "请先登录"}, 401)

    @app.exception_handler(auth.CsrfRefused)
    async def _csrf(request: Request, _: Exception) -> Response:
        ctx = {
            "status": 403,
            "title": "请求被拒绝",
            "detail": "缺少或错误的 CSRF 令牌，请刷新页面后重试。",
        }
        return render(request, "admin/error.html", ctx, 403)


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    env: Environment = request.app.state.pages_env
    body = env.get_template(name).render(context)
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def page(
    request: Request, session: auth.Session, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    return render(request, name, {"csrf": session.csrf, **context}, status)


async def form_of(request: Request) -> dict[str, str]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise ConsoleError(413, "表单过大")
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def admin_record(request: Request, slug: str, _: ConsoleSession) -> CampaignRecord:
    record = await deps.runtime(request).campaigns.get(slug)
    if record is None:
        raise ConsoleError(404, "没有这个活动")
    return record


def links(
    request: Request, slug: str, viewer_token: str, sellers: list[dict[str, Any]]
) -> dict[str, Any]:
    """Every link a viewer token opens, and a QR code (inline SVG) of the host view."""
    import segno

    base = str(request.base_url).rstrip("/")
    if request.headers.get("x-forwarded-proto", "").lower() == "https":
        base = "https://" + base.split("://", 1)[1]
    t = quote(viewer_token, safe="")
    host = f"{base}/c/{slug}/host?token={t}"
    qr = segno.make(host, error="m").svg_inline(scale=4, dark="#0b1124", light="#ffffff")
    return {
        "screen": f"{base}/c/{slug}?token={t}",
        "masked": f"{base}/c/{slug}?token={t}&mask=1",
        "host": host,
        "review": f"{base}/c/{slug}/review?token={t}",
        "qr_svg": qr,
        "per_host": [
            {
                "id": s["id"],
                "name": s["name"],
                "url": f"{host}&seller={quote(str(s['id']), safe='')}",
            }
            for s in sellers
        ],
    }


# -- the front page and sign-in ----------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    return render(request, "index.html", {})


@router.get("/admin", response_class=HTMLResponse)
async def console_home(request: Request) -> HTMLResponse:
    try:
        session = await auth.current_session(request)
    except auth.NotSignedIn:
        rt = deps.runtime(request)
        ctx = {"disabled": not rt.settings.warroom_admin_token}
        return render(request, "admin/login.html", ctx)
    rt = deps.runtime(request)
    rows = [await summarize(rt, r) for r in await rt.campaigns.list()]
    return page(request, session, "admin/campaigns.html", {"rows": rows})


@router.post("/admin/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    rt = deps.runtime(request)
    cfg: auth.ConsoleSettings = request.app.state.console
    client = auth.client_key(request)
    wait = await auth.login_wait_s(rt.redis, client, cfg.max_failed_logins)
    if wait:
        ctx = {"error": f"登录失败次数过多，请 {wait} 秒后再试"}
        res = render(request, "admin/login.html", ctx, 429)
        res.headers["Retry-After"] = str(wait)
        return res
    form = await form_of(request)
    expected = rt.settings.warroom_admin_token
    if not deps.admin_token_ok(expected, form.get("token", "").strip()):
        await auth.count_failure(rt.redis, client)
        msg = "运营台未启用：请设置 WARROOM_ADMIN_TOKEN" if not expected else "管理令牌不正确"
        return render(request, "admin/login.html", {"error": msg}, 401)
    assert expected is not None
    ttl = int(cfg.session_hours * 3600)
    sid, _ = await auth.open_session(rt.redis, expected, ttl)
    res = RedirectResponse("/admin", status_code=303)
    res.set_cookie(
        auth.COOKIE,
        sid,
        max_age=ttl,
        httponly=True,
        samesite="lax",  # GETs change nothing; every POST needs the CSRF token too
        secure=auth.is_https(request),
        path="/",
    )
    return res


@router.post("/admin/logout")
async def logout(request: Request, session: ConsoleChange) -> Response:
    await auth.close_session(deps.runtime(request).redis, session)
    res = RedirectResponse("/admin", status_code=303)
    res.delete_cookie(auth.COOKIE, path="/")
    if request.headers.get("hx-request"):
        res.headers["HX-Redirect"] = "/admin"
    return res


# -- create and edit -------------------------------------------------------------------


@router.get("/admin/new", response_class=HTMLResponse)
async def new_campaign(request: Request, session: ConsoleSession) -> HTMLResponse:
    ctx = {"values": campaign_form_values(None), "errors": {}, "record": None}
    return page(request, session, "admin/new.html", ctx)


@router.post("/admin/new", response_class=HTMLResponse)
async def create_campaign(request: Request, session: ConsoleChange) -> HTMLResponse:
    rt = deps.runtime(request)
    form = await form_of(request)
    settings, errors = campaign_from_form(form)
    if settings is not None:
        try:
            created = await rt.campaigns.create(settings)
        except SlugTaken:
            errors = {"slug": "这个活动标识已被占用"}
        else:
            ctx = {
                "record": created.record,
                "ingest_token": created.ingest_token,
                "viewer_token": created.viewer_token,
                "links": links(request, settings.slug, created.viewer_token, []),
            }
            return page(request, session, "admin/_created.html", ctx)
    ctx = {"values": form, "errors": errors, "record": None}
    return page(request, session, "admin/_campaign_form.html", ctx, 422)


async def overview_context(request: Request, record: CampaignRecord) -> dict[str, Any]:
    rt = deps.runtime(request)
    s = record.settings
    snap = await load_snapshot(rt.hot, record, real_now_ms())
    now = clock_of(record).now_ms(real_now_ms())
    nxt = next_report(s, now)
    burn = await admin_ops.budget(rt, record)
    audit = await asyncio.to_thread(rt.store.audit_log, record.id, 30)
    return {
        "record": record,
        "s": s,
        "snap": snap,
        "state": campaign_state(s, now),
        "next": nxt,
        "budget": burn,
        "audit": audit,
        "tab": "overview",
    }


@router.get("/admin/c/{slug}", response_class=HTMLResponse)
async def campaign_page(request: Request, slug: str, session: ConsoleSession) -> HTMLResponse:
    record = await admin_record(request, slug, session)
    ctx = await overview_context(request, record)
    return page(request, session, "admin/campaign.html", ctx)


@router.get("/admin/c/{slug}/kpis", response_class=HTMLResponse)
async def kpis_fragment(request: Request, slug: str, session: ConsoleSession) -> HTMLResponse:
    """htmx, every few seconds on the overview: the live figures (reads only)."""
    record = await admin_record(request, slug, session)
    return page(request, session, "admin/_kpis.html", await overview_context(request, record))


@router.get("/admin/c/{slug}/settings", response_class=HTMLResponse)
async def settings_page(request: Request, slug: str, session: ConsoleSession) -> HTMLResponse:
    record = await admin_record(request, slug, session)
    ctx = {
        "record": record,
        "values": campaign_form_values(record.settings),
        "errors": {},
        "tab": "settings",
    }
    return page(request, session, "admin/settings.html", ctx)


@router.post("/admin/c/{slug}/settings", response_class=HTMLResponse)
async def save_settings(request: Request, slug: str, session: ConsoleChange) -> HTMLResponse:
    record = await admin_record(request, slug, session)
    form = await form_of(request)
    settings, errors = campaign_from_form(form, record.settings)
    saved = False
    if settings is not None:
        record = await deps.runtime(request).campaigns.update(record, settings)
        saved = True
        form = campaign_form_values(record.settings)
    ctx = {"record": record, "values": form, "errors": errors, "saved": saved}
    return page(request, session, "admin/_campaign_form.html", ctx, 200 if saved else 422)
