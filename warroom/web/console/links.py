"""Console pages for where a campaign's figures go: scoped links (wall, masked wall,
host, review: created with a QR code shown once, revoked, their last use), the viewer
token's full links and token rotation, and the group robots (webhooks) with their test
message and delivery log."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from warroom.adapters.outbound.webhook import (
    FORMATS,
    MAX_GROUP_ID_LEN,
    BadWebhook,
    check_group_id,
    check_target,
)
from warroom.core.links import KIND_LABELS
from warroom.core.live.shapes import BoardRow
from warroom.core.records import CampaignRecord
from warroom.services import operator
from warroom.services.campaigns import token_matches
from warroom.services.snapshots import load_snapshot
from warroom.web import deps
from warroom.web.api.links import LinkBody, create_link, link_view, revoke_link
from warroom.web.console.auth import ConsoleChange, ConsoleSession
from warroom.web.console.base import ConsoleCampaign, ConsoleError, form_of, links, page, router
from warroom.web.errors import ApiError

# -- links and tokens ----------------------------------------------------------------------


async def sellers_of(request: Request, record: CampaignRecord) -> list[BoardRow]:
    snap = await load_snapshot(deps.runtime(request).hot, record, deps.now_ms(request))
    return list(snap["leaderboards"]["sellers"])


async def links_context(request: Request, record: CampaignRecord, **extra: Any) -> dict[str, Any]:
    """The campaign's scoped links (no tokens: those are shown once, at creation)."""
    rt = deps.runtime(request)
    now = rt.clock.now_ms()
    rows = await rt.links.list(record)
    tz = record.settings.timezone
    views = [link_view(x, tz, now) for x in reversed(rows)]  # newest first
    ctx: dict[str, Any] = {
        "record": record,
        "scoped": views,
        "sellers": await sellers_of(request, record),
        "kind_labels": KIND_LABELS,
        "tab": "links",
        "values": {},
    }
    ctx.update(extra)
    return ctx


@router.get("/admin/c/{slug}/links", response_class=HTMLResponse)
async def links_page(
    request: Request, slug: str, session: ConsoleSession, record: ConsoleCampaign
) -> HTMLResponse:
    return page(request, session, "admin/links.html", await links_context(request, record))


EXPIRY_HOURS = {"": None, "24": 24, "72": 72, "168": 168, "720": 720}


@router.post("/admin/c/{slug}/links/new", response_class=HTMLResponse)
async def new_link(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    """Create a scoped link; its URL (and QR code) is shown this once."""
    import segno

    form = await form_of(request)
    choice = form.get("kind", "")
    kind, masked = {"wall": ("wall", False), "wall_masked": ("wall", True)}.get(
        choice, (choice, False)
    )
    hours = form.get("expires", "")
    seller = form.get("seller_id", "").strip() or None
    body: dict[str, Any] = {"kind": kind, "masked": masked, "label": form.get("label", "")}
    if kind == "host":
        body["seller_id"] = seller
    if hours not in EXPIRY_HOURS:
        raise ConsoleError(422, "有效期只能从列表中选")
    lifetime = EXPIRY_HOURS[hours]
    if lifetime is not None:
        body["expires_at"] = deps.now_ms(request) + lifetime * 3_600_000
    try:
        parsed = LinkBody.model_validate(body)
        link, _token, url = await create_link(request, record, parsed)
    except (ValidationError, ApiError) as exc:
        error = LINK_ERRORS.get(getattr(exc, "message", "").split(":")[0], "链接参数不对")
        if kind not in ("wall", "host", "review"):
            error = "请选择链接类型"
        ctx = await links_context(request, record, error=error, values=form)
        return page(request, session, "admin/_scoped_links.html", ctx, 422)
    qr = segno.make(url, error="m").svg_inline(scale=4, dark="#0b1124", light="#ffffff")
    created = {"id": link.id, "url": url, "qr_svg": qr, "kind": kind, "masked": masked}
    ctx = await links_context(request, record, created=created)
    return page(request, session, "admin/_scoped_links.html", ctx)


LINK_ERRORS = {
    "seller_id": "团长助手链接需要选择一位团长（ID 不能含控制字符）",
    "label": "备注最多 100 字，且不能含控制字符",
    "masked": "只有大屏链接可以隐藏金额",
    "expires_at": "有效期不对",
}


@router.post("/admin/c/{slug}/links/{link_id}/revoke", response_class=HTMLResponse)
async def revoke(
    request: Request, slug: str, link_id: int, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    """Revoke: refused from the next request, its open screens closed within seconds."""
    try:
        await revoke_link(request, record, link_id)
    except ApiError:
        raise ConsoleError(404, "没有这个链接") from None
    ctx = await links_context(request, record, notice="已撤销：使用这个链接的屏幕已断开")
    return page(request, session, "admin/_scoped_links.html", ctx)


@router.post("/admin/c/{slug}/links", response_class=HTMLResponse)
async def links_for_token(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    """Tokens are stored hashed: the console builds links from a viewer token the
    operator pastes (checked against the hash), or right after a rotation."""
    token = (await form_of(request)).get("viewer_token", "").strip()
    if not token_matches(token, record.viewer_token_hash):
        ctx = {"record": record, "error": "查看令牌不正确（已轮换？）"}
        return page(request, session, "admin/_links.html", ctx, 422)
    ctx = {
        "record": record,
        "links": links(request, slug, token, await sellers_of(request, record)),
    }
    return page(request, session, "admin/_links.html", ctx)


@router.post("/admin/c/{slug}/tokens/rotate", response_class=HTMLResponse)
async def rotate_token(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    which = (await form_of(request)).get("which", "")
    if which not in ("ingest", "viewer"):
        raise ConsoleError(422, "which 只能是 ingest 或 viewer")
    token = await deps.runtime(request).campaigns.rotate(record, which)
    ctx: dict[str, Any] = {"record": record, "rotated": which, "token": token}
    if which == "viewer":
        ctx["links"] = links(request, slug, token, await sellers_of(request, record))
    return page(request, session, "admin/_links.html", ctx)


# -- webhooks -------------------------------------------------------------------------------


async def webhooks_context(
    request: Request, record: CampaignRecord, **extra: Any
) -> dict[str, Any]:
    rt = deps.runtime(request)
    hooks = await asyncio.to_thread(rt.webhooks.list, record.id)
    log = await asyncio.to_thread(rt.webhooks.log, record.id)
    tests = await operator.test_log(rt, record)
    ctx: dict[str, Any] = {
        "record": record,
        "hooks": hooks,
        "log": list(reversed(log))[:100],
        "tests": tests[:50],
        "urls": {h.id: h.url for h in hooks},
        "values": {"format": "wecom"},
        "errors": {},
        "tab": "webhooks",
    }
    ctx.update(extra)
    return ctx


@router.get("/admin/c/{slug}/webhooks", response_class=HTMLResponse)
async def webhooks_page(
    request: Request, slug: str, session: ConsoleSession, record: ConsoleCampaign
) -> HTMLResponse:
    return page(request, session, "admin/webhooks.html", await webhooks_context(request, record))


@router.post("/admin/c/{slug}/webhooks", response_class=HTMLResponse)
async def add_webhook(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    rt = deps.runtime(request)
    form = await form_of(request)
    fmt = form.get("format", "wecom")
    secret = form.get("secret", "").strip()
    errors: dict[str, str] = {}
    if fmt not in FORMATS:
        errors["format"] = "未知格式"
    if len(secret) > 200:
        errors["secret"] = "签名密钥最多 200 个字符"
    # Empty: the robot lives in no particular group (every report reaches it).
    group_id, raw_group = None, form.get("group_id", "").strip()
    if len(raw_group) > MAX_GROUP_ID_LEN:
        errors["group_id"] = f"群 ID 最多 {MAX_GROUP_ID_LEN} 个字符"
    else:
        try:
            group_id = check_group_id(raw_group or None)
        except BadWebhook:  # stripped and short enough: a control character is left
            errors["group_id"] = "群 ID 不能含控制字符或文字方向控制符"
    try:
        # The API's check (check_target: a name that resolves to a private address is
        # refused too), so the console never saves a URL the API would refuse.
        url = await check_target(
            form.get("url", "").strip(), rt.settings.warroom_allow_private_webhooks
        )
    except BadWebhook as exc:
        errors["url"] = f"地址不可用：{exc}"
    if errors:
        ctx = await webhooks_context(request, record, values=form, errors=errors)
        return page(request, session, "admin/_webhooks.html", ctx, 422)
    hook_id = await asyncio.to_thread(rt.webhooks.add, record.id, url, fmt, secret, group_id)
    await asyncio.to_thread(
        rt.store.audit, record.id, rt.clock.now_ms(), "webhook_add", {"id": hook_id}
    )
    ctx = await webhooks_context(request, record, notice="已添加推送目标")
    return page(request, session, "admin/_webhooks.html", ctx)


@router.post("/admin/c/{slug}/webhooks/{hook_id}/test", response_class=HTMLResponse)
async def test_webhook(
    request: Request, slug: str, hook_id: int, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    try:
        result = await operator.send_test(deps.runtime(request), record, hook_id)
    except ApiError as exc:
        raise ConsoleError(exc.status, "没有这个推送目标") from None
    notice = "测试消息已送达" if result["ok"] else f"测试消息发送失败：{result['error']}"
    ctx = await webhooks_context(request, record, notice=notice)
    return page(request, session, "admin/_webhooks.html", ctx)


@router.post("/admin/c/{slug}/webhooks/{hook_id}/delete", response_class=HTMLResponse)
async def delete_webhook(
    request: Request, slug: str, hook_id: int, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    rt = deps.runtime(request)
    if not await asyncio.to_thread(rt.store.delete_webhook, record.id, hook_id):
        # Another campaign's id, or one already gone: nothing was deleted, say so.
        raise ConsoleError(404, "没有这个推送目标")
    await asyncio.to_thread(
        rt.store.audit, record.id, rt.clock.now_ms(), "webhook_delete", {"id": hook_id}
    )
    ctx = await webhooks_context(request, record, notice="已删除推送目标")
    return page(request, session, "admin/_webhooks.html", ctx)
