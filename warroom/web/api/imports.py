"""`POST /api/v1/campaigns/{slug}/imports` (admin): a spreadsheet, mapped to v1 events.

Multipart: `file` (.xlsx or .csv), `mapping` (JSON), `dry_run` (`true`/`false`). The
body may be up to WARROOM_IMPORT_MAX_BYTES (413 beyond it, before it is read); the
file is spooled to disk by the multipart parser, never held whole in memory.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from warroom.services.imports import audit_detail, import_sheet, parse_mapping_json
from warroom.web import deps
from warroom.web.errors import ApiError, JSONBytes

router = APIRouter(prefix="/api/v1")

# The routes whose bodies may be larger than BodyLimit's 1 MiB (web/app.py).
UPLOAD_PATH = re.compile(r"^/(api/v1/campaigns|admin/c)/[^/]+/imports(/preview)?$")
TRUE = {"true", "1", "yes", "on"}
FALSE = {"false", "0", "no", "off", ""}


def flag(value: Any, name: str) -> bool:
    text = value.strip().lower() if isinstance(value, str) else ""
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ApiError(422, f"{name}: must be true or false")


async def upload_form(request: Request, max_bytes: int) -> tuple[UploadFile, dict[str, str]]:
    """The multipart form with its one file; 413 above `max_bytes`, 422 without a file."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(
            413,
            f"file larger than {max_bytes} bytes (WARROOM_IMPORT_MAX_BYTES)",
            limit="import_bytes",
        )
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise ApiError(415, "send multipart/form-data with `file`, `mapping` and `dry_run`")
    try:
        form = await request.form(max_files=1, max_fields=20, max_part_size=1024 * 1024)
    except ApiError:
        raise
    except Exception as exc:  # a malformed multipart body
        raise ApiError(400, f"unreadable multipart body: {exc}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "file: required (an .xlsx or .csv file)")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return upload, fields


@router.post("/campaigns/{slug}/imports")
async def import_file(
    request: Request, record: deps.OperatorCampaign, rt: deps.RuntimeDep
) -> JSONBytes:
    """Rows numbered from 1 after the header. Answers `{rows, accepted, duplicates,
    rejected: [{row, error}], rejected_count, stopped}`; a dry run changes nothing."""
    cfg = rt.settings.imports
    upload, fields = await upload_form(request, cfg.max_bytes)
    try:
        dry_run = flag(fields.get("dry_run", "false"), "dry_run")
        raw_mapping = parse_mapping_json(fields.get("mapping"))
        name = upload.filename or "upload"
        run_id = await asyncio.to_thread(
            rt.imports.start, record.id, name, dry_run, rt.clock.now_ms()
        )
        try:
            answer = await import_sheet(
                record=record,
                f=upload.file,
                filename=name,
                raw_mapping=raw_mapping,
                dry_run=dry_run,
                writer=request.app.state.writer,
                store=rt.imports,
                cfg=cfg,
                now_ms=rt.clock.now_ms,
                timeout_s=rt.settings.warroom_dependency_timeout_s,
                run_id=run_id,
            )
        except BaseException as exc:  # the run is never left "running"
            error = exc.message if isinstance(exc, ApiError) else f"{type(exc).__name__}: {exc}"
            await asyncio.shield(
                asyncio.to_thread(
                    rt.imports.progress,
                    run_id,
                    state="failed",
                    error=error,
                    finished_ms=rt.clock.now_ms(),
                )
            )
            raise
        await asyncio.to_thread(
            rt.imports.progress,
            run_id,
            state="done",
            finished_ms=rt.clock.now_ms(),
            rejected=answer["rejected"],
            stopped=answer["stopped"],
        )
        if not dry_run:
            detail = audit_detail(run_id, name, answer)
            await asyncio.to_thread(rt.store.audit, record.id, rt.clock.now_ms(), "import", detail)
    finally:
        await upload.close()
    return JSONBytes({**answer, "run": run_id, "dry_run": dry_run})
