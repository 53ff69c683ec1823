"""Request and response models of the admin API (so /api/docs documents them), and the
campaign summary the list and the console share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from warroom.core.campaign import CampaignSettings, StimulusRule, settings_error
from warroom.core.ingest.clock import MINUTE_MS, rfc3339
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
