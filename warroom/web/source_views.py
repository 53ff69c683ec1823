"""What the sources API and the console page share: a source's config checked by kind,
its URL, its secrets masked, its deliveries shown, and the mapping preview."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from warroom.adapters.sql.source_store import Delivery, Source
from warroom.core.ingest.clock import rfc3339
from warroom.core.records import CampaignRecord
from warroom.core.sources.mapping import (
    MappedConfig,
    PayloadError,
    apply,
    config_error,
    parse_payload,
)
from warroom.core.sources.wecom import WeComConfig
from warroom.services.campaigns import clock_of
from warroom.web import deps
from warroom.web.errors import ApiError
from warroom.web.intake import validate

KINDS = ("wecom", "mapped")
MAX_SOURCES_PER_CAMPAIGN = 50
MAX_SAMPLE_BYTES = 256 * 1024


class NewSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["wecom", "mapped"]
    name: str = Field(min_length=1, max_length=100)
    config: dict[str, Any]


def checked_config(kind: str, config: Any) -> dict[str, Any]:
    """The config, valid for its kind (ApiError 422 with one readable line if not),
    as it will be stored."""
    try:
        if kind == "wecom":
            return WeComConfig.model_validate(config).model_dump()
        if kind == "mapped":
            return MappedConfig.model_validate(config).model_dump()
    except ValidationError as exc:
        raise ApiError(422, f"config.{config_error(exc)}") from None
    raise ApiError(422, "kind: must be wecom or mapped")


def base_url(request: Request) -> str:
    base = str(request.base_url).rstrip("/")
    if request.headers.get("x-forwarded-proto", "").lower() == "https":
        base = "https://" + base.split("://", 1)[1]
    return base


def hook_url(request: Request, source_id: str) -> str:
    return f"{base_url(request)}/hooks/{source_id}"


def mask(secret: str) -> str:
    """Enough to tell two secrets apart, never enough to use one."""
    return "****" + secret[-2:] if len(secret) >= 12 else "****"


def masked(source: Source) -> dict[str, Any]:
    config = dict(source.config)
    if source.kind == "wecom":
        for k in ("token", "encoding_aes_key"):
            if k in config:
                config[k] = mask(str(config[k]))
    else:
        sig = dict(config.get("signature", {}))
        sig["secrets"] = [mask(str(s)) for s in sig.get("secrets", [])]
        config["signature"] = sig
    return config


def view(request: Request, source: Source) -> dict[str, Any]:
    return {
        "id": source.id,
        "kind": source.kind,
        "name": source.name,
        "url": hook_url(request, source.id),
        "config": masked(source),
        "created_at_ms": source.created_at_ms,
    }


def delivery_view(d: Delivery, tz: str) -> dict[str, Any]:
    return {
        "at": rfc3339(d.at_ms, tz),
        "at_ms": d.at_ms,
        "status": d.status,
        "outcome": d.outcome,
        "accepted": d.accepted,
        "duplicates": d.duplicates,
        "rejected": list(d.rejected),
        "note": d.note,
    }


@dataclass
class Preview:
    events: list[dict[str, Any]]  # {"index", "event"}: what would be recorded
    errors: list[dict[str, Any]]  # {"index", "error"}: what would be rejected


def preview(request: Request, record: CampaignRecord, config: Any, sample: bytes) -> Preview:
    """The events a sample payload would become under `config`, validated as a delivery
    would be (identities and duplicates aside: nothing is recorded)."""
    cfg = MappedConfig.model_validate(checked_config("mapped", config))
    try:
        payload = parse_payload(sample)
    except PayloadError as exc:
        raise ApiError(400, f"sample: {exc}") from None
    produced = apply(cfg, payload)
    rt = deps.runtime(request)
    arrival = clock_of(record).now_ms(rt.clock.now_ms())
    good, where, _stamped, rejected = validate(
        record, arrival, [(p.event, p.error) for p in produced]
    )
    events = [
        {"index": i, "event": {k: v for k, v in e.items() if k != "key"}}
        for i, e in zip(where, good, strict=True)
    ]
    return Preview(events, rejected)
