"""Campaign settings as the operator writes them: strict, with clear errors."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic.functional_validators import BeforeValidator

from warroom.core.ingest.clock import parse_instant
from warroom.core.ingest.money import MAX_AMOUNT_FEN

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

Instant = Annotated[int, BeforeValidator(parse_instant)]
NonNegFen = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT_FEN * 1000)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class StimulusAction(_Strict):
    kind: Literal["red_packet_rain", "buy_n_gift", "announcement"]
    amount_fen: NonNegFen = 0
    text: Annotated[StrictStr, Field(max_length=500)] = ""


class StimulusRule(_Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    metric: Literal["gmv_per_min", "orders_per_min"] = "gmv_per_min"
    window_minutes: Annotated[StrictInt, Field(ge=1, le=240)] = 10
    below_peak_ratio: Annotated[StrictFloat | StrictInt, Field(ge=0, le=1)] = 0.5
    floor: Annotated[StrictInt, Field(ge=0)] = 0
    sustain_minutes: Annotated[StrictInt, Field(ge=0, le=240)] = 5
    cooldown_minutes: Annotated[StrictInt, Field(ge=0, le=1440)] = 30
    max_fires: Annotated[StrictInt, Field(ge=1, le=1000)] = 3
    action: StimulusAction
    # Contract v3, "Stimulus that proves itself". `propose`: a fire waits for an
    # operator's approval (expiring after propose_ttl_minutes of campaign time).
    mode: Literal["auto", "propose"] = "auto"
    propose_ttl_minutes: Annotated[StrictInt, Field(ge=1, le=1440)] = 10
    # The share of groups held out at each fire (stratified, seeded, recorded).
    holdout_share: Annotated[StrictFloat | StrictInt, Field(ge=0, le=0.5)] = 0
    # The window after the fire its effect is measured over (default: window_minutes).
    effect_minutes: Annotated[StrictInt, Field(ge=1, le=240)] | None = None

    @property
    def effect_window(self) -> int:
        return self.effect_minutes or self.window_minutes


class CampaignSettings(_Strict):
    slug: StrictStr
    name: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    starts_at: Instant
    ends_at: Instant
    timezone: StrictStr = "Asia/Shanghai"
    target_base_fen: NonNegFen = 0
    target_stretch_fen: NonNegFen = 0
    milestones_fen: list[Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT_FEN * 1000)]] = Field(
        default_factory=list, max_length=100
    )
    report_every_minutes: Annotated[StrictInt, Field(ge=1, le=1440)] = 30
    leaderboard_size: Annotated[StrictInt, Field(ge=1, le=100)] = 10
    time_scale: Annotated[StrictFloat | StrictInt, Field(ge=1, le=3600)] = 1
    stimulus_rules: list[StimulusRule] = Field(default_factory=list, max_length=50)
    stimulus_budget_fen: NonNegFen | None = None
    # The console's pause switch: the trigger worker fires no rule while set (manual
    # fires still work).
    rules_paused: StrictBool = False
    # Real seconds the final report waits after `ends_at` (and after every event with
    # `ts` before it has been aggregated): stragglers from the last seconds count.
    final_grace_seconds: Annotated[StrictInt, Field(ge=0, le=3600)] = 30
    # Group health (群健康): quiet = no message for this long; cold = no order and at
    # most `health_cold_max_messages` messages over `health_cold_minutes`.
    health_quiet_minutes: Annotated[StrictInt, Field(ge=1, le=1440)] = 10
    health_cold_minutes: Annotated[StrictInt, Field(ge=1, le=1440)] = 30
    health_cold_max_messages: Annotated[StrictInt, Field(ge=0, le=100_000)] = 5

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG_RE.match(v):
            raise ValueError("slug must be 1-63 lowercase letters, digits or dashes")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("milestones_fen")
    @classmethod
    def _milestones(cls, v: list[int]) -> list[int]:
        return sorted(set(v))

    @model_validator(mode="after")
    def _order(self) -> CampaignSettings:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.target_stretch_fen and self.target_stretch_fen < self.target_base_fen:
            raise ValueError("target_stretch_fen must not be below target_base_fen")
        names = [r.name for r in self.stimulus_rules]
        if len(names) != len(set(names)):
            raise ValueError("stimulus rule names must be unique")
        return self

    @property
    def velocity_window_minutes(self) -> int:
        return self.stimulus_rules[0].window_minutes if self.stimulus_rules else 10


def settings_error(exc: Exception) -> str:
    """One readable line from a pydantic ValidationError."""
    errors = getattr(exc, "errors", None)
    if errors is None:
        return str(exc)
    first: dict[str, Any] = errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    msg = "is required" if first["type"] == "missing" else first["msg"]
    return f"{where}: {msg}" if where else msg
