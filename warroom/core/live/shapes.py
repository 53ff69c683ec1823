"""The typed shapes of the live path: raw hot-state figures in, the public snapshot
(contract v1/v2) and the WebSocket frames out.

TypedDicts, not classes: these values are built as plain dicts and serialized with
orjson as they are, so a shape costs nothing at run time and the wire stays exactly
what it was. Field order on the wire is the order the producers write, not this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, Required, TypedDict

# Per-minute series by metric (gmv, orders, messages, buyers, refund, newbuyers):
# minute (epoch ms) -> value. Open on purpose: hot state may hold more metrics.
Minutes = Mapping[str, Mapping[int, int]]


class RawTotals(TypedDict, total=False):
    """The campaign's counters as hot state keeps them (a Redis hash: any may be
    missing, and the apply script may add bookkeeping fields such as `applied_at`)."""

    gmv: int
    refund: int
    orders: int
    items: int
    buyers: int
    members: int
    messages: int
    active_members: int
    last_ts: int  # newest event `ts` of any kind (epoch ms)
    applied_at: int


@dataclass
class RawState:
    """What a snapshot is computed from: the raw figures as hot state holds them
    (adapters/redis/hotstate.py reads them; the replay and the report sample build
    them from the ledger or from fixtures)."""

    totals: RawTotals
    minutes: Minutes
    boards: Mapping[str, Mapping[str, int]]  # board -> entity -> net gmv
    board_orders: Mapping[str, Mapping[str, int]]
    board_names: Mapping[str, Mapping[str, str]]
    # board -> minute -> entity -> gmv of that minute (the recent ones, or all of them)
    board_minutes: Mapping[str, Mapping[int, Mapping[str, int]]] = field(default_factory=dict)
    # True when the campaign's hot state is lost and being restored: every figure
    # above is then empty and must not be shown, reported or ruled on.
    restoring: bool = False
    generation: int | None = None
    # Ranks before the recent minutes of the rows in `boards` (a bounded read only).
    board_prev: Mapping[str, Mapping[str, int | None]] = field(default_factory=dict)


class FiguresView(TypedDict):
    """Settled figures as a report stores and shows them (`Figures.as_dict`)."""

    as_of: str
    gmv_fen: int
    refund_fen: int
    net_gmv_fen: int
    orders: int
    buyers: int


class CampaignView(TypedDict):
    slug: str
    name: str
    timezone: str
    starts_at: str
    ends_at: str
    now: str
    time_scale: float
    stimulus_budget_fen: int | None


class TotalsView(TypedDict):
    gmv_fen: int
    refund_fen: int
    net_gmv_fen: int
    orders: int
    items: int
    buyers: int
    aov_fen: int
    members: int
    messages: int
    active_members: int
    conversion_rate: float
    interaction_rate: float


class TargetView(TypedDict):
    base_fen: int
    stretch_fen: int
    progress_base: float
    progress_stretch: float
    projected_fen: int | None
    projected_low_fen: int | None
    projected_high_fen: int | None
    base_reached_at: str | None
    stretch_reached_at: str | None
    base_eta_at: str | None
    stretch_eta_at: str | None
    next_milestone_fen: int | None
    next_milestone_eta_at: str | None


class MinuteRow(TypedDict):
    minute: str
    gmv_fen: int
    orders: int
    buyers: int
    messages: int


class VelocityView(TypedDict):
    window_minutes: int
    gmv_per_min_fen: int
    orders_per_min: float
    peak_gmv_per_min_fen: int
    peak_orders_per_min: float


class BoardRow(TypedDict):
    id: str
    name: str
    net_gmv_fen: int
    orders: int
    rank: int
    prev_rank: int | None


class RuleView(TypedDict):
    name: str
    state: str  # armed, held or done (rules.rule_state)
    reason: str


class ReportItem(TypedDict):
    """A posted report as the feeds, the API and the frames show it (written by the
    SQL adapter's `report_view`)."""

    id: int
    kind: str
    at: str
    text: str
    figures: FiguresView | None  # None: a report older than contract v2
    n: int | None  # its number within the campaign


class StimulusItem(TypedDict, total=False):
    """A recorded fire as the feeds and the frames show it (the announcer's
    `fire_view`). Only `at` is relied on; the core reads the rest defensively."""

    id: Required[int | str]
    at: Required[str]
    rule: str
    kind: str
    amount_fen: int | None
    text: str
    uplift: float | None  # None until the after-window is complete
    manual: bool
    status: str  # proposed | dismissed | expired | fired (contract v3)
    effect: dict[str, Any] | None  # core/reports/effect.Effect.as_dict(), None until known


Leaderboards = dict[str, list[BoardRow]]  # board name (aggregate.BOARDS) -> rows


class LiteSnapshot(TypedDict):
    """The snapshot for phones (`frames.lite`): the snapshot without `per_minute`."""

    campaign: CampaignView
    totals: TotalsView
    target: TargetView
    velocity: VelocityView
    leaderboards: Leaderboards
    reports: list[ReportItem]
    reports_total: int
    stimuli: list[StimulusItem]
    rules: list[RuleView]
    last_event_at: str | None
    # set by the loader (services/snapshots.py) and the replay, not by build_snapshot
    restoring: NotRequired[bool]


class Snapshot(LiteSnapshot):
    """The public snapshot (`snapshot.build_snapshot`)."""

    per_minute: list[MinuteRow]


# Freshness figures the hub adds to every frame (built in the hub adapter): open.
Fresh = dict[str, Any]

UpdatableKey = Literal["target", "velocity", "last_event_at", "restoring", "rules", "reports_total"]


class UpdateBody(TypedDict, total=False):
    """What an `update` frame carries (`frames.diff`): totals and the clock always,
    the rest only when it changed. A part the snapshot lost since shows as None."""

    totals: Required[TotalsView]
    now: Required[str]
    target: TargetView | None
    velocity: VelocityView | None
    last_event_at: str | None
    restoring: bool | None
    rules: list[RuleView] | None
    reports_total: int | None
    campaign: CampaignView
    per_minute: list[MinuteRow]
    leaderboards: Leaderboards
    stimuli: list[StimulusItem]


class UpdateFrame(UpdateBody, total=False):
    """An `update` frame on the wire (the hub adds `seq` and `fresh`)."""

    type: Required[Literal["update"]]
    seq: int
    fresh: Fresh


class SnapshotFrame(LiteSnapshot, total=False):
    """A `snapshot` frame (the hub's and the replay's): the snapshot or its lite view,
    tagged; the hub adds `seq` and `fresh`."""

    type: Required[Literal["snapshot"]]
    seq: int
    fresh: Fresh
    per_minute: list[MinuteRow]  # absent in the lite view


class ReportFrame(TypedDict, total=False):
    type: Required[Literal["report"]]
    seq: int
    report: Required[ReportItem]


class StimulusFrame(TypedDict, total=False):
    type: Required[Literal["stimulus"]]
    seq: int
    stimulus: Required[StimulusItem]


# Every frame the dashboard socket sends (docs: the public contract).
Frame = SnapshotFrame | UpdateFrame | ReportFrame | StimulusFrame
