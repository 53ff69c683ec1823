"""Console page for spreadsheet imports (`/admin/c/{slug}/imports`): upload a sheet,
see its header and first rows, map columns to event fields, dry-run, import.

The upload is kept in the data directory (0600) under a random name until it is
imported; the import runs as a task of this web process and records its progress in
`import_run`, which the page polls (htmx, every second) until it is done."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from warroom.adapters.private import private_dir
from warroom.adapters.sheets import SheetError, open_sheet
from warroom.core.imports import FIELDS, IDENTITY, REQUIRED, MappingError, parse_mapping
from warroom.core.records import CampaignRecord
from warroom.services.imports import audit_detail, import_sheet, limits_of, preview
from warroom.services.ledger import LedgerWriter
from warroom.services.runtime import Runtime
from warroom.web import deps
from warroom.web.api.imports import upload_form
from warroom.web.console.auth import ConsoleChange, ConsoleSession
from warroom.web.console.base import ConsoleCampaign, ConsoleError, page, router
from warroom.web.errors import ApiError

log = logging.getLogger(__name__)
UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,40}\.(csv|xlsx)$")
TYPE_LABELS = {"order": "订单", "refund": "退款", "message": "群消息", "member": "进退群"}
FIELD_LABELS = {
    "order_id": "订单号",
    "refund_id": "退款单号",
    "message_id": "消息 ID",
    "event_id": "事件 ID",
    "amount_fen": "金额",
    "seller_id": "团长 ID",
    "group_id": "群 ID",
    "buyer_id": "买家 ID",
    "product_id": "商品 ID",
    "member_id": "成员 ID",
    "ts": "时间",
    "quantity": "件数",
    "seller_name": "团长名称",
    "group_name": "群名称",
    "product_name": "商品名称",
    "kind": "消息类型",
    "action": "动作（join/leave）",
}
# A first guess from the column names of common exports and 接龙 sheets.
GUESSES = {
    "order_id": ("订单号", "订单编号", "订单id", "单号"),
    "refund_id": ("退款单号", "退款编号"),
    "amount_fen": ("金额(元)", "金额（元）", "金额", "实付金额", "实付", "支付金额", "付款金额"),
    "seller_id": ("团长", "团长id", "团长昵称"),
    "group_id": ("群", "群id", "群名", "社群"),
    "buyer_id": ("买家", "买家id", "下单人", "用户", "昵称", "客户"),
    "product_id": ("商品", "商品id", "商品名称", "商品名"),
    "ts": ("下单时间", "时间", "支付时间", "付款时间", "创建时间"),
    "quantity": ("数量", "件数", "购买数量"),
}
STATE_LABELS = {"running": "进行中", "done": "已完成", "failed": "失败"}


UPLOAD_KEPT_S = 24 * 3600  # an upload never imported is deleted after a day


def _uploads(request: Request) -> Path:
    return private_dir(deps.runtime(request).settings.warroom_data_dir / "imports")


def _forget_old(folder: Path) -> None:
    cutoff = time.time() - UPLOAD_KEPT_S
    for entry in folder.iterdir():
        with contextlib.suppress(OSError):
            if UPLOAD_ID.match(entry.name) and entry.stat().st_mtime < cutoff:
                entry.unlink()


def guess(header: list[str]) -> dict[str, str]:
    lowered = {h.strip().lower(): h for h in header if h}
    out: dict[str, str] = {}
    for field, names in GUESSES.items():
        for n in names:
            if n.lower() in lowered:
                out[field] = lowered[n.lower()]
                break
    return out


async def _context(request: Request, record: CampaignRecord, **extra: Any) -> dict[str, Any]:
    rt = deps.runtime(request)
    runs = await asyncio.to_thread(rt.imports.recent, record.id, 10)
    ctx: dict[str, Any] = {
        "record": record,
        "tab": "imports",
        "runs": runs,
        "state_labels": STATE_LABELS,
        "max_mb": rt.settings.imports.max_bytes // (1024 * 1024),
        "max_rows": rt.settings.imports.max_rows,
    }
    ctx.update(extra)
    return ctx


@router.get("/admin/c/{slug}/imports", response_class=HTMLResponse)
async def imports_page(
    request: Request, slug: str, session: ConsoleSession, record: ConsoleCampaign
) -> HTMLResponse:
    return page(request, session, "admin/imports.html", await _context(request, record))


def _mapping_context(
    record: CampaignRecord,
    upload_id: str,
    filename: str,
    shown: dict[str, Any],
    kind: str,
    values: dict[str, str],
) -> dict[str, Any]:
    return {
        "record": record,
        "upload_id": upload_id,
        "filename": filename,
        "preview": shown,
        "kind": kind,
        "types": TYPE_LABELS,
        "fields": FIELDS[kind],
        "required": set(REQUIRED[kind]) | {IDENTITY[kind]},
        "identity": IDENTITY[kind],
        "labels": FIELD_LABELS,
        "values": values,
    }


@router.post("/admin/c/{slug}/imports/preview", response_class=HTMLResponse)
async def upload_preview(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    """Keep the uploaded file; show its header and first rows with a mapping form."""
    rt = deps.runtime(request)
    try:
        upload, _ = await upload_form(request, rt.settings.imports.max_bytes)
    except ApiError as exc:
        raise ConsoleError(exc.status, _chinese(exc.message)) from None
    filename = (upload.filename or "upload")[:200]
    try:
        try:
            shown = await preview(upload.file, filename, limits_of(rt.settings.imports))
        except ApiError as exc:
            ctx = {"record": record, "error": f"无法读取这个文件：{exc.message}"}
            return page(request, session, "admin/_import_error.html", ctx, exc.status)
        upload_id = f"{secrets.token_urlsafe(18)}.{shown['kind']}"
        folder = _uploads(request)
        await asyncio.to_thread(_forget_old, folder)
        dest = folder / upload_id

        def keep() -> None:
            upload.file.seek(0)
            with open(dest, "xb") as out:
                dest.chmod(0o600)
                shutil.copyfileobj(upload.file, out, 1024 * 1024)

        await asyncio.to_thread(keep)
    finally:
        await upload.close()
    values = {f"col_{k}": v for k, v in guess(shown["header"]).items()}
    values["scale_amount_fen"] = "100"
    ctx = _mapping_context(record, upload_id, filename, shown, "order", values)
    return page(request, session, "admin/_import_mapping.html", ctx)


def mapping_from_form(form: dict[str, str]) -> dict[str, Any]:
    kind = form.get("type", "order")
    if kind not in FIELDS:
        raise MappingError("mapping.type: must be one of order, refund, message, member")
    columns: dict[str, Any] = {}
    for field in FIELDS[kind]:
        const = form.get(f"const_{field}", "").strip()
        column = form.get(f"col_{field}", "").strip()
        if const:
            value: Any = (
                int(const) if field in ("amount_fen", "quantity") and const.isdigit() else const
            )
            columns[field] = {"const": value}
        elif column:
            spec: dict[str, Any] = {"column": column}
            if field == "amount_fen":
                scale = form.get("scale_amount_fen", "100").strip() or "1"
                if not scale.isdigit():
                    raise MappingError(
                        "mapping.columns.amount_fen.scale: 请填写整数（元 → 分：100）"
                    )
                spec["scale"] = int(scale)
            columns[field] = spec
    return {"type": kind, "columns": columns}


@router.post("/admin/c/{slug}/imports/run", response_class=HTMLResponse)
async def start_run(
    request: Request, slug: str, session: ConsoleChange, record: ConsoleCampaign
) -> HTMLResponse:
    rt = deps.runtime(request)
    form = await request.form(max_files=0, max_fields=100)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    upload_id = values.get("upload_id", "")
    if not UPLOAD_ID.match(upload_id) or not (_uploads(request) / upload_id).is_file():
        raise ConsoleError(404, "上传的文件已不在（已导入或已过期）：请重新上传")
    path = _uploads(request) / upload_id
    filename = values.get("filename", upload_id)[:200]
    dry_run = values.get("dry_run") == "true"
    kind = values.get("type", "order") if values.get("type") in FIELDS else "order"
    limits = limits_of(rt.settings.imports)

    def header() -> dict[str, Any]:
        with open(path, "rb") as f, open_sheet(f, filename, limits) as sheet:
            return {"header": sheet.header}

    if values.get("reshow") == "1":  # the type changed: the form for its fields
        shown = await preview_of(path, filename, limits)
        ctx = _mapping_context(record, upload_id, filename, shown, kind, values)
        return page(request, session, "admin/_import_mapping.html", ctx)
    try:
        mapping = mapping_from_form(values)
        head = await asyncio.to_thread(header)
        parse_mapping(mapping, head["header"], record.settings.timezone)
    except (MappingError, SheetError) as exc:
        shown = await preview_of(path, filename, limits)
        ctx = _mapping_context(record, upload_id, filename, shown, kind, values)
        ctx["error"] = str(exc)
        return page(request, session, "admin/_import_mapping.html", ctx, 422)
    run_id = await asyncio.to_thread(
        rt.imports.start, record.id, filename, dry_run, rt.clock.now_ms()
    )
    writer = request.app.state.writer
    task = asyncio.create_task(_run(rt, writer, record, path, filename, mapping, dry_run, run_id))
    tasks: set[asyncio.Task[None]] = request.app.state.__dict__.setdefault("import_tasks", set())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    run = await asyncio.to_thread(rt.imports.get, record.id, run_id)
    carried = {k: v for k, v in values.items() if k not in ("dry_run", "csrf_token", "reshow")}
    ctx = {"record": record, "run": run, "state_labels": STATE_LABELS, "carried": carried}
    return page(request, session, "admin/_import_run.html", ctx)


async def preview_of(path: Path, filename: str, limits: Any) -> dict[str, Any]:
    def read() -> Any:
        return open(path, "rb")

    f = await asyncio.to_thread(read)
    try:
        return await preview(f, filename, limits)
    finally:
        f.close()


async def _run(
    rt: Runtime,
    writer: LedgerWriter,
    record: CampaignRecord,
    path: Path,
    filename: str,
    mapping: dict[str, Any],
    dry_run: bool,
    run_id: int,
) -> None:
    f = await asyncio.to_thread(open, path, "rb")
    state, error, answer = "failed", "", None
    try:
        answer = await import_sheet(
            record=record,
            f=f,
            filename=filename,
            raw_mapping=mapping,
            dry_run=dry_run,
            writer=writer,
            store=rt.imports,
            cfg=rt.settings.imports,
            now_ms=rt.clock.now_ms,
            timeout_s=rt.settings.warroom_dependency_timeout_s,
            run_id=run_id,
        )
        state = "done"
        if not dry_run:
            detail = audit_detail(run_id, filename, answer)
            await asyncio.to_thread(rt.store.audit, record.id, rt.clock.now_ms(), "import", detail)
    except ApiError as exc:
        error = exc.message
    except asyncio.CancelledError:
        error = "服务器停止，导入中断：请重新导入（已写入的行会算作重复）"
        raise
    except Exception as exc:  # recorded on the run, for the page; logged with its stack
        log.exception("import run %s failed", run_id)
        error = f"{type(exc).__name__}: {exc}"
    finally:
        f.close()
        if state == "done" and not dry_run:
            with contextlib.suppress(OSError):
                path.unlink()
        figures: dict[str, Any] = {"state": state, "error": error, "finished_ms": rt.clock.now_ms()}
        if answer is not None:
            figures.update(rejected=answer["rejected"], stopped=answer["stopped"])
        with contextlib.suppress(Exception):
            await asyncio.shield(asyncio.to_thread(rt.imports.progress, run_id, **figures))


@router.get("/admin/c/{slug}/imports/runs/{run_id}", response_class=HTMLResponse)
async def run_status(
    request: Request, slug: str, run_id: int, session: ConsoleSession, record: ConsoleCampaign
) -> HTMLResponse:
    rt = deps.runtime(request)
    run = await asyncio.to_thread(rt.imports.get, record.id, run_id)
    if run is None:
        raise ConsoleError(404, "没有这次导入")
    ctx = {"record": record, "run": run, "state_labels": STATE_LABELS}
    return page(request, session, "admin/_import_status.html", ctx)


def _chinese(message: str) -> str:
    if message.startswith("file larger than"):
        return "文件过大：" + message
    if message.startswith("file: required"):
        return "请选择一个 .xlsx 或 .csv 文件"
    return message
