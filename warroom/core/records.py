"""What the SQL stores hand back: plain core values, not database rows.

The stores (adapters/sql) read rows and return these, so services, workers, templates
and tests see one shape whatever the database. Named tuples where a row was a tuple
before (a target's fields compare as a tuple), a frozen dataclass for the campaign."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from warroom.core.campaign import CampaignSettings


@dataclass(frozen=True)
class CampaignRecord:
    id: int
    settings: CampaignSettings
    ingest_token_hash: str
    viewer_token_hash: str
    created_at_ms: int


class ReportRecord(NamedTuple):
    """A battle report as written: its text and the figures it was rendered from."""

    id: int
    campaign_id: int
    key: str
    kind: str
    at_ms: int
    text: str
    memo_json: str


class FireRecord(NamedTuple):
    """A stimulus fire as claimed (a rule's or an operator's)."""

    id: int
    campaign_id: int
    key: str
    rule: str
    kind: str
    metric: str
    window_minutes: int
    at_ms: int
    amount_fen: int
    text: str
    manual: bool
    uplift: float | None
    status: str = "fired"  # proposed | dismissed | expired | fired
    proposed_at_ms: int | None = None
    expires_at_ms: int | None = None
    decided_at_ms: int | None = None
    decided_by: str = ""
    holdout_share: float = 0.0
    effect_minutes: int = 10
    seed: int | None = None
    assignment: str | None = None  # JSON {"treated": [...], "holdout": [...]}
    effect: str | None = None  # JSON core/reports/effect.Effect.as_dict()


class WebhookTarget(NamedTuple):
    """Where a campaign's reports are posted, and how."""

    id: int
    campaign_id: int
    url: str
    format: str
    secret: str
    enabled: bool
    group_id: str | None = None  # the group its robot lives in (holdouts skip it)
