"""The operator console: `/` and `/admin` (server-rendered Jinja2 + htmx, Chinese).

Sign-in with an email and password, or with the admin token (the break-glass owner),
opens a session (auth.py). Every GET here only
reads; every change is a POST that carries the session's CSRF token (htmx sends it
from the `hx-headers` of <body>) and goes through the same adapters as the admin API.
Forms answer with the fragment they replace: the same form with errors beside the
fields, or the updated section.
"""

from __future__ import annotations

import hashlib

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment

from warroom.adapters.metrics.catalogue import REFUSED
from warroom.adapters.redis.throttle import PASSWORD, client_of, count_attempt, refund
from warroom.adapters.sql.store import SlugTaken
from warroom.core.people import ROLE_LABELS
from warroom.web import deps

# campaign.py and links.py add their routes to the router when imported
from warroom.web.console import auth, campaign  # noqa: F401
from warroom.web.console import engineers as _engineers  # noqa: F401
from warroom.web.console import imports as _imports  # noqa: F401
from warroom.web.console import links as _links  # noqa: F401
from warroom.web.console import people as _people  # noqa: F401
from warroom.web.console import sources as _sources  # noqa: F401
from warroom.web.console.auth import ConsoleChange, ConsoleSession, SignedChange
from warroom.web.console.base import (
    ACTOR_LABELS,
    AUDIT_LABELS,
    DELIVERY_LABELS,
    FORMAT_LABELS,
    STATE_LABELS,
    ConsoleCampaign,
    ConsoleError,
    admin_time,
    audit_detail,
    form_of,
    links,
    overview_context,
    page,
    redact_url,
    render,
    router,
)
from warroom.web.console.forms import campaign_form_values, campaign_from_form
from warroom.web.models import summarize

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
        ctx = {"token_login": bool(rt.settings.warroom_admin_token)}
        return render(request, "admin/login.html", ctx)
    rt = deps.runtime(request)
    rows = [await summarize(rt, r) for r in await rt.campaigns.list()]
    return page(request, session, "admin/campaigns.html", {"rows": rows})


@router.post("/admin/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await form_of(request)
    if "token" in form:
        return await _token_login(request, form.get("token", "").strip())
    return await _password_login(request, form.get("email", ""), form.get("password", ""))


def _locked(request: Request, wait: int) -> Response:
    ctx = {"error": f"登录失败次数过多，请 {wait} 秒后再试", "disabled": False}
    REFUSED.labels("login_throttle").inc()
    res: Response = render(request, "admin/login.html", ctx, 429)
    res.headers["Retry-After"] = str(wait)
    return res


def _signed_in(request: Request, sid: str) -> Response:
    ttl = int(deps.runtime(request).settings.console.session_hours * 3600)
    res = RedirectResponse("/admin", status_code=303)
    set_cookie(request, res, sid, ttl)
    return res


def set_cookie(request: Request, res: Response, sid: str, ttl: int) -> None:
    res.set_cookie(
        auth.COOKIE,
        sid,
        max_age=ttl,
        httponly=True,
        samesite="lax",  # GETs change nothing; every POST needs the CSRF token too
        secure=auth.is_https(request),
        path="/",
    )


async def _token_login(request: Request, given: str) -> Response:
    rt = deps.runtime(request)
    expected = rt.settings.warroom_admin_token
    if not expected:
        msg = "管理令牌登录未启用（未设置 WARROOM_ADMIN_TOKEN），请用邮箱和密码登录"
        return render(request, "admin/login.html", {"error": msg}, 401)
    # Counted first, decided on the count (throttle.py): a locked-out address hears
    # 429 for the right token too; another address is not locked.
    wait = await deps.admin_attempt(request, given)
    if wait:
        return _locked(request, wait)
    if not deps.admin_token_ok(expected, given):
        return render(request, "admin/login.html", {"error": "管理令牌不正确"}, 401)
    ttl = int(rt.settings.console.session_hours * 3600)
    sid, _ = await auth.open_session(rt.redis, expected, ttl)
    return _signed_in(request, sid)


async def _password_login(request: Request, email: str, password: str) -> Response:
    """Email and password. Each attempt is counted before its (slow) check, per client
    address and then per account; a right one is taken back (throttle.count_attempt).
    An address over its limit is stopped before the account is counted, so a
    locked-out address cannot lock the account for everyone else."""
    rt = deps.runtime(request)
    cfg = rt.settings.console
    client = client_of(request.client.host if request.client else None)
    account = account_of(email)
    wait = await count_attempt(rt.redis, PASSWORD, client, cfg.max_failed_logins)
    if wait:
        return _locked(request, wait)
    wait = await count_attempt(
        rt.redis, account, "any", cfg.max_failed_per_account, cfg.account_window_s
    )
    if wait:
        return _locked(request, wait)
    user = await rt.people.authenticate(email, password)
    if user is None:
        ctx = {"error": "邮箱或密码不正确", "email": email[:254]}
        return render(request, "admin/login.html", ctx, 401)
    await refund(rt.redis, PASSWORD, client)
    await refund(rt.redis, account, "any")
    ttl = int(cfg.session_hours * 3600)
    sid, _ = await auth.open_session(rt.redis, user.password_hash, ttl, user.id)
    return _signed_in(request, sid)


def account_of(email: str) -> str:
    """The throttle's name of an account: a hash of the address as typed, normalized."""
    norm = email.strip().lower()[:300]
    return "account:" + hashlib.sha256(norm.encode()).hexdigest()[:32]


@router.post("/admin/logout")
async def logout(request: Request, session: SignedChange) -> Response:
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


@router.get("/admin/c/{slug}", response_class=HTMLResponse)
async def campaign_page(
    request: Request, slug: str, session: ConsoleSession, record: ConsoleCampaign
) -> HTMLResponse:
    ctx = await overview_context(request, record)
    return page(request, session, "admin/campaign.html", ctx)


@router.get("/admin/c/{slug}/kpis", response_class=HTMLResponse)
async def kpis_fragment(
    request: Request, slug: str, session: ConsoleSession, record: ConsoleCampaign
) -> HTMLResponse:
    """htmx, every few seconds on the overview: the live figures (reads only)."""
    return page(request, session, "admin/_kpis.html", await overview_context(request, record))


@router.get("/admin/c/{slug}/settings", response_class=HTMLResponse)
async def settings_page(
    request: Request, slug: str, session: ConsoleSession, record: ConsoleCampaign
) -> HTMLResponse:
    ctx = {
        "record": record,
        "values": campaign_form_values(record.settings),
        "errors": {},
        "tab": "settings",
    }
    return page(request, session, "admin/settings.html", ctx)


@router.post("/admin/c/{slug}/settings", response_class=HTMLResponse)
async def save_settings(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    form = await form_of(request)
    settings, errors = campaign_from_form(form, record.settings)
    saved = False
    if settings is not None:
        record = await deps.runtime(request).campaigns.update(record, settings)
        saved = True
        form = campaign_form_values(record.settings)
    ctx = {"record": record, "values": form, "errors": errors, "saved": saved}
    return page(request, session, "admin/_campaign_form.html", ctx, 200 if saved else 422)


def install(app: FastAPI) -> None:
    env: Environment = app.state.pages_env
    env.globals.update(state_labels=STATE_LABELS)
    env.filters.update(
        admin_time=admin_time,
        audit_label=lambda a: AUDIT_LABELS.get(a, a),
        role_label=lambda r: ROLE_LABELS.get(r, r),
        actor_label=lambda a: ACTOR_LABELS.get(a, a),
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

    @app.exception_handler(auth.RoleRefused)
    async def _role(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, auth.RoleRefused)
        ctx = {"status": 403, "title": "没有权限", "detail": exc.message}
        return render(request, "admin/error.html", ctx, 403)

    @app.exception_handler(auth.CsrfRefused)
    async def _csrf(request: Request, _: Exception) -> Response:
        ctx = {
            "status": 403,
            "title": "请求被拒绝",
            "detail": "缺少或错误的 CSRF 令牌，请刷新页面后重试。",
        }
        return render(request, "admin/error.html", ctx, 403)
