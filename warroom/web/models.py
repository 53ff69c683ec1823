"""Request and response models of the admin API (so /api/docs documents them), and the
campaign summary the list and the console share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from warroom.core.campaign import CampaignSettings, StimulusRule, settings_error
from warroom.core.ingest.clock import MINUTE_MS, rfc3339
from warroom.core.ingest.events import MAX_ID_LEN, Id, Ts, WireEvent
from warroom.core.records import CampaignRecord
from warroom.services.campaigns import clock_of
from warroom.services.snapshots import load_snapshot
from warroom.web.errors import ApiError

if TYPE_CHECKING:
    from warroom.services.runtime import Runtime

State = Literal["upcoming", "live", "ended"]


class CreatedCampaign(BaseModel):
    slug: str
    ingest_token: str
    viewer_token: str


class CampaignSummary(BaseModel):
    slug: str
    name: str
    state: State
    timezone: str
    starts_at: str
    ends_at: str
    now: str
    gmv_fen: int
    target_base_fen: int
    target_stretch_fen: int
    progress_base: float
    next_report_at: str | None = Field(description="the next scheduled or final report")
    next_report_kind: Literal["scheduled", "final"] | None
    rules: int
    rules_paused: bool
    stimulus_budget_fen: int | None


class CampaignPatch(BaseModel):
    """Any settings but the slug; absent fields stay as they are. Validated as a whole
    (with the unchanged fields) by the same rules as creation."""

    model_config = ConfigDict(strict=True, extra="forbid")

    name: Annotated[StrictStr, Field(min_length=1, max_length=100)] | None = None
    starts_at: StrictStr | StrictInt | None = None
    ends_at: StrictStr | StrictInt | None = None
    timezone: StrictStr | None = None
    target_base_fen: StrictInt | None = None
    target_stretch_fen: StrictInt | None = None
    milestones_fen: list[StrictInt] | None = None
    report_every_minutes: StrictInt | None = None
    leaderboard_size: StrictInt | None = None
    time_scale: float | StrictInt | None = None
    stimulus_rules: list[StimulusRule] | None = None
    stimulus_budget_fen: StrictInt | None = Field(default=None, description="null: no budget")
    rules_paused: StrictBool | None = None


class RotateBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    which: Literal["ingest", "viewer"]


class RotatedToken(BaseModel):
    which: Literal["ingest", "viewer"]
    token: str


class WebhookView(BaseModel):
    id: int
    url: str
    format: str
    signed: bool
    enabled: bool
    group_id: str | None = None  # the group its robot lives in (holdouts skip it)


class Deleted(BaseModel):
    id: int
    deleted: bool


class Rejection(BaseModel):
    index: int = Field(
        description="the event's position in the request, from 0: in the JSON array, or "
        "among the non-blank NDJSON lines (a single JSON object is index 0)"
    )
    error: str = Field(description="why this event was refused, one readable line")


class IngestAnswer(BaseModel):
    """The answer to every ingest request that was read: `202` even when every event was
    rejected (then `accepted` and `duplicates` are 0 and `rejected` names each one)."""

    accepted: int = Field(description="events recorded now")
    duplicates: int = Field(description="events recorded before (the same id and fields)")
    rejected: list[Rejection] = Field(
        description="events refused, sorted by index; they count nothing"
    )


# The ingest body's schema, generated from the very models `normalize` validates with
# (core/ingest/events.py), so /api/docs cannot drift from what is accepted. Two field
# types validate through a function pydantic cannot describe; they are described here.
_ID_SCHEMA: JsonSchemaValue = {
    "anyOf": [
        {"type": "string", "minLength": 1, "maxLength": MAX_ID_LEN},
        {"type": "integer", "description": "stored as its decimal string"},
    ],
    "description": f"an id: a string or an integer, 1..{MAX_ID_LEN} characters",
}
_TS_SCHEMA: JsonSchemaValue = {
    "anyOf": [
        {"type": "string", "format": "date-time", "minLength": 10, "maxLength": 40},
        {"type": "integer", "minimum": 0, "maximum": 10**14 - 1},
        {"type": "null"},
    ],
    "description": "RFC 3339 with an offset (2026-11-11T10:00:00+08:00) or integer epoch "
    "milliseconds; absent or null: the arrival on the campaign clock. A given ts must lie "
    "from starts_at - 1 day to ends_at + 1 day and at most 5 minutes ahead of the "
    "campaign clock",
}


def _validator(annotated: Any) -> Any:
    return get_args(annotated)[1].func  # Annotated[T, BeforeValidator(func)]


_ID_CHECK, _TS_CHECK = _validator(Id), _validator(Ts)


class _WireJsonSchema(GenerateJsonSchema):
    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        func = schema["function"]["function"]
        if func is _ID_CHECK:
            return dict(_ID_SCHEMA)
        if func is _TS_CHECK:
            return dict(_TS_SCHEMA)
        return super().function_before_schema(schema)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Replace `#/$defs/X` references by X itself: the schema sits inside an operation
    of the OpenAPI document, where a `#/$defs` pointer would not resolve."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def wire_event_schema() -> JsonSchemaValue:
    """One event: a union of the four types, discriminated by `type`."""
    raw = TypeAdapter(WireEvent).json_schema(schema_generator=_WireJsonSchema)
    event: dict[str, Any] = _inline(raw, raw.get("$defs", {}))
    # The mapping named `$defs` entries; with the variants inline, `type` alone decides.
    event["discriminator"] = {"propertyName": "type"}
    event["title"] = "Event"
    return event


def ingest_openapi() -> dict[str, Any]:
    """The ingest route's request body for OpenAPI (`openapi_extra`): the route reads its
    body itself (web/fastpath.py), so FastAPI never parses it."""
    event = wire_event_schema()
    one = {
        "type": "order",
        "order_id": "o-20261111-0001",
        "amount_fen": 12900,
        "seller_id": "s01",
        "group_id": "g01",
        "buyer_id": "u1001",
        "product_id": "p-apple-5kg",
    }
    member = {
        "type": "member",
        "event_id": "m-1",
        "group_id": "g01",
        "member_id": "u1001",
        "action": "join",
    }
    return {
        "requestBody": {
            "required": True,
            "description": "Events: a JSON array of events (or one event object), or NDJSON "
            "(one event per line). Money in integer fen (¥1 = 100 fen). Each event is checked "
            "on its own; a bad one is listed in `rejected` and the others are still recorded.",
            "content": {
                "application/json": {
                    "schema": {
                        "title": "Events",
                        "anyOf": [
                            {"type": "array", "items": event, "title": "EventArray"},
                            event,
                        ],
                    },
                    "example": [one, member],
                },
                "application/x-ndjson": {
                    "schema": {
                        **event,
                        "description": "NDJSON: one event per line, each of these types; "
                        "blank lines are skipped, a line that is not JSON is one `rejected` "
                        "entry",
                    },
                    "example": "\n".join(orjson.dumps(e).decode() for e in (one, member)) + "\n",
                },
            },
        },
    }


def merge_patch(current: CampaignSettings, changes: dict[str, Any]) -> CampaignSettings:
    if "slug" in changes:
        raise ApiError(422, "slug: cannot change")
    data = current.model_dump(mode="json") | changes
    if "starts_at" not in changes:
        data["starts_at"] = current.starts_at
    if "ends_at" not in changes:
        data["ends_at"] = current.ends_at
    try:
        return CampaignSettings.model_validate(data, strict=False)
    except ValidationError as exc:
        raise ApiError(422, settings_error(exc)) from None


def campaign_state(s: CampaignSettings, now_ms: int) -> State:
    if now_ms < s.starts_at:
        return "upcoming"
    return "live" if now_ms < s.ends_at else "ended"


def next_report(s: CampaignSettings, now_ms: int) -> tuple[str, int] | None:
    """The next scheduled slot after `now_ms`, else the final at `ends_at`."""
    if now_ms >= s.ends_at:
        return None
    every = s.report_every_minutes * MINUTE_MS
    if now_ms < s.starts_at:
        slot_at = s.starts_at + every
    else:
        slot_at = s.starts_at + ((now_ms - s.starts_at) // every + 1) * every
    if slot_at < s.ends_at:
        return "scheduled", slot_at
    return "final", s.ends_at


async def summarize(rt: Runtime, record: CampaignRecord) -> dict[str, Any]:
    s = record.settings
    snap = await load_snapshot(rt.hot, record, rt.clock.now_ms())
    now = clock_of(record).now_ms(rt.clock.now_ms())
    nxt = next_report(s, now)
    return {
        "slug": s.slug,
        "name": s.name,
        "state": campaign_state(s, now),
        "timezone": s.timezone,
        "starts_at": rfc3339(s.starts_at, s.timezone),
        "ends_at": rfc3339(s.ends_at, s.timezone),
        "now": rfc3339(now, s.timezone),
        "gmv_fen": snap["totals"]["gmv_fen"],
        "target_base_fen": s.target_base_fen,
        "target_stretch_fen": s.target_stretch_fen,
        "progress_base": snap["target"]["progress_base"],
        "next_report_at": rfc3339(nxt[1], s.timezone) if nxt else None,
        "next_report_kind": nxt[0] if nxt else None,
        "rules": len(s.stimulus_rules),
        "rules_paused": s.rules_paused,
        "stimulus_budget_fen": s.stimulus_budget_fen,
    }
