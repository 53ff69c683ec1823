"""Console page for a campaign's sources (数据来源): WeCom callbacks and mapped webhooks,
each with its URL and its last deliveries; and the mapping editor, which shows what a
pasted sample payload would become (or each error) before anything is saved."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse

from warroom.core.ingest.clock import rfc3339
from warroom.core.records import CampaignRecord
from warroom.web import deps
from warroom.web.console.auth import ConsoleChange, ConsoleSession
from warroom.web.console.base import ConsoleCampaign, form_of, page, router
from warroom.web.errors import ApiError
from warroom.web.source_views import (
    MAX_SOURCES_PER_CAMPAIGN,
    checked_config,
    delivery_view,
    preview,
    view,
)

SHOWN_DELIVERIES = 10
OUTCOME_LABELS = {
    "recorded": "已记录",
    "signature": "签名错误",
    "refused": "已拒绝",
    "failed": "未记录（请重试）",
    "verified": "URL 验证通过",
}
KIND_LABELS = {"wecom": "企业微信回调", "mapped": "映射 Webhook"}
EXAMPLE_CONFIG = """{
  "signature": {"scheme": "hmac-sha256", "header": "X-Signature",
                "timestamp_header": "X-Timestamp", "tolerance_s": 300,
                "secrets": ["当前密钥", "上一个密钥"]},
  "events": [{"when": {"path": "$.event", "equals": "order.paid"},
              "each": "$.data.items[*]",
              "type": "order",
              "fields": {"order_id": "@.tid",
                         "amount_fen": {"path": "@.payment", "scale": 100},
                         "seller_id": "$.data.seller_id",
                         "group_id": "$.data.group_id",
                         "buyer_id": "$.data.buyer_id",
                         "product_id": "@.sku"}}]
}"""
EXAMPLE_SAMPLE = """{"event": "order.paid",
 "data": {"seller_id": "s1", "group_id": "g1", "buyer_id": "b1",
          "items": [{"tid": "T1001", "payment": "12.50", "sku": "p1"}]}}"""


async def sources_context(request: Request, record: CampaignRecord, **extra: Any) -> dict[str, Any]:
    rt = deps.runtime(request)
    sources = await asyncio.to_thread(rt.sources.list, record.id)
    tz = record.settings.timezone
    items = []
    for s in sources:
        log = await asyncio.to_thread(rt.sources.deliveries, s.id, SHOWN_DELIVERIES)
        items.append({"source": view(request, s), "log": [delivery_view(d, tz) for d in log]})
    ctx: dict[str, Any] = {
        "record": record,
        "items": items,
        "values": {"kind": "mapped", "config": EXAMPLE_CONFIG, "sample": EXAMPLE_SAMPLE},
        "errors": {},
        "kind_labels": KIND_LABELS,
        "outcome_labels": OUTCOME_LABELS,
        "tab": "sources",
    }
    ctx.update(extra)
    return ctx


def _shown(event: dict[str, Any], tz: str) -> dict[str, Any]:
    """An event as the preview shows it: its time in the campaign's time zone."""
    shown = dict(event)
    if isinstance(shown.get("ts"), int):
        shown["ts"] = rfc3339(shown["ts"], tz)
    return shown


def _config_of(form: dict[str, str]) -> tuple[str, Any, dict[str, str]]:
    """The kind and the raw config the form describes, or the form's errors."""
    kind = form.get("kind", "")
    if kind == "wecom":
        config = {k: form.get(k, "").strip() for k in ("corp_id", "token", "encoding_aes_key")}
        return kind, config, {}
    if kind != "mapped":
        return kind, None, {"kind": "请选择来源类型"}
    try:
        config = orjson.loads(form.get("config", ""))
    except orjson.JSONDecodeError as exc:
        return kind, None, {"config": f"映射配置不是有效的 JSON：{exc}"}
    if not isinstance(config, dict):
        return kind, None, {"config": "映射配置必须是一个 JSON 对象"}
    return kind, config, {}


@router.get("/admin/c/{slug}/sources", response_class=HTMLResponse)
async def sources_page(
    request: Request, slug: str, session: ConsoleSession, record: ConsoleCampaign
) -> HTMLResponse:
    ctx = await sources_context(request, record)
    return page(request, session, "admin/sources.html", ctx)


@router.post("/admin/c/{slug}/sources/preview", response_class=HTMLResponse)
async def preview_fragment(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    """Not a change: the events the pasted sample would become, or each error."""
    form = await form_of(request)
    kind, config, errors = _config_of(form)
    ctx: dict[str, Any] = {"errors": errors, "events": None, "rejected": []}
    if kind != "mapped" and not errors:
        errors["kind"] = "预览只适用于映射 Webhook"
    if not errors:
        try:
            result = preview(request, record, config, form.get("sample", "").encode())
        except ApiError as exc:
            errors["config" if exc.status == 422 else "sample"] = exc.message
        else:
            tz = record.settings.timezone
            ctx["events"] = [
                {"index": e["index"], "json": orjson.dumps(_shown(e["event"], tz)).decode()}
                for e in result.events
            ]
            ctx["rejected"] = result.errors
    return page(request, session, "admin/_source_preview.html", ctx)


@router.post("/admin/c/{slug}/sources", response_class=HTMLResponse)
async def add_source(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    rt = deps.runtime(request)
    form = await form_of(request)
    name = form.get("name", "").strip()
    kind, config, errors = _config_of(form)
    if not 1 <= len(name) <= 100:
        errors["name"] = "名称为 1 到 100 个字符"
    stored: dict[str, Any] | None = None
    if not errors:
        try:
            stored = checked_config(kind, config)
        except ApiError as exc:
            errors["config" if kind == "mapped" else "encoding_aes_key"] = exc.message
    if not errors and len(await asyncio.to_thread(rt.sources.list, record.id)) >= (
        MAX_SOURCES_PER_CAMPAIGN
    ):
        errors["name"] = f"每个活动最多 {MAX_SOURCES_PER_CAMPAIGN} 个来源"
    if errors or stored is None:
        values = {k: v for k, v in form.items() if k not in ("token", "encoding_aes_key")}
        ctx = await sources_context(request, record, values=values, errors=errors)
        return page(request, session, "admin/_sources.html", ctx, 422)
    now = rt.clock.now_ms()
    source_id = await asyncio.to_thread(
        rt.sources.add, record.id, record.settings.slug, kind, name, stored, now
    )
    await asyncio.to_thread(
        rt.store.audit, record.id, now, "source_add", {"id": source_id, "kind": kind, "name": name}
    )
    ctx = await sources_context(request, record, notice=f"已添加来源「{name}」", added=source_id)
    return page(request, session, "admin/_sources.html", ctx)


@router.post("/admin/c/{slug}/sources/{source_id}/delete", response_class=HTMLResponse)
async def delete_source(
    request: Request, slug: str, source_id: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    rt = deps.runtime(request)
    source = await asyncio.to_thread(rt.sources.get, source_id)
    notice = "没有这个来源"
    if source is not None and source.campaign_id == record.id:
        await asyncio.to_thread(rt.sources.delete, record.id, source_id)
        await asyncio.to_thread(
            rt.store.audit,
            record.id,
            rt.clock.now_ms(),
            "source_delete",
            {"id": source_id, "kind": source.kind, "name": source.name},
        )
        notice = f"已删除来源「{source.name}」"
    ctx = await sources_context(request, record, notice=notice)
    return page(request, session, "admin/_sources.html", ctx)
