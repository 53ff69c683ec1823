"""What every console page shares: the router, the page renderer, the console's labels
and filters, its error, the campaign lookup, and the links a viewer token opens.
Pages live beside it (home.py, campaign.py, links.py); none of them imports another."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from warroom.core.ingest.clock import from_ms
from warroom.core.ingest.money import format_yuan
from warroom.core.live.shapes import BoardRow
from warroom.core.records import CampaignRecord
from warroom.services import operator
from warroom.services.campaigns import clock_of
from warroom.services.snapshots import load_snapshot
from warroom.web import deps
from warroom.web.console import auth
from warroom.web.console.auth import ConsoleSession
from warroom.web.errors import ApiError
from warroom.web.models import campaign_state, next_report
from warroom.web.pages import vocab
from warroom.web.pages.render import PAGE_HEADERS

router = APIRouter(include_in_schema=False)
STATE_LABELS = vocab.STATES  # one word per state on every page (已收官, never 已结束)
MAX_FORM_BYTES = 256 * 1024


class ConsoleError(ApiError):
    """An error on a console page: answered as a page, not as JSON."""


AUDIT_LABELS = {
    "update": "修改设置",
    "rules": "修改刺激规则",
    "rotate": "轮换令牌",
    "fire": "手动触发",
    "stimulus_approve": "批准刺激提案",
    "stimulus_dismiss": "忽略刺激提案",
    "end_early": "提前结束",
    "pause_rules": "暂停自动规则",
    "resume_rules": "恢复自动规则",
    "template": "修改战报模板",
    "webhook_add": "添加推送目标",
    "webhook_delete": "删除推送目标",
    "webhook_test": "发送测试消息",
    "source_add": "添加数据来源",
    "source_delete": "删除数据来源",
    "link_add": "创建链接",
    "link_revoke": "撤销链接",
    "import": "导入表格",
    "create": "新建活动",
    "user_add": "添加人员",
    "user_role": "修改角色",
    "user_remove": "移除人员",
    "user_password": "修改密码",
    "key_add": "创建 API 密钥",
    "key_revoke": "吊销 API 密钥",
}
ACTOR_LABELS = {"admin token": "管理令牌", "cli": "命令行", "system": "系统"}
DELIVERY_LABELS = {
    "pending": "排队中",
    "sending": "发送中",
    "delivered": "已送达",
    "sent": "已送达",
    "failed": "失败",
    "unknown": "未知（发送中断）",
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
            f"{k}: {str(v[0])[:40]} → {str(v[1])[:40]}"
            if isinstance(v, list) and len(v) == 2
            else f"{k}: {shown[v] if isinstance(v, bool | None) else str(v)[:60]}"
            for k, v in detail.items()
        ]
    return "；".join(parts)[:400]


def redact_url(url: str) -> str:
    """A robot's key lives in its query string: show the host and path only."""
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.netloc}{parts.path}"
    return shown + ("?…" if parts.query else "")


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    env: Environment = request.app.state.pages_env
    body = env.get_template(name).render(context)
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def page(
    request: Request, session: auth.Session, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    return render(request, name, {"csrf": session.csrf, "me": session.actor, **context}, status)


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


# The campaign of a console page, once signed in (declared after the session, so a
# change is CSRF-checked before the lookup, as before).
ConsoleCampaign = Annotated[CampaignRecord, Depends(admin_record)]


def links(
    request: Request, slug: str, viewer_token: str, sellers: list[BoardRow]
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


async def overview_context(request: Request, record: CampaignRecord) -> dict[str, Any]:
    rt = deps.runtime(request)
    s = record.settings
    snap = await load_snapshot(rt.hot, record, rt.clock.now_ms())
    now = clock_of(record).now_ms(rt.clock.now_ms())
    nxt = next_report(s, now)
    burn = await operator.budget(rt, record)
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
