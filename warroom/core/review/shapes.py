"""The typed shape of the retrospective model (`view.build_review`): one model that the
page, the JSON API and the CSV exports all read. TypedDicts: plain dicts at run time.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class ReviewCampaign(TypedDict):
    slug: str
    name: str
    timezone: str
    starts_ms: int
    ends_ms: int
    target_base_fen: int
    target_stretch_fen: int


class ReviewTotals(TypedDict):
    gmv_fen: int
    refund_fen: int
    net_gmv_fen: int
    orders: int
    items: int
    buyers: int
    messages: int
    active_members: int
    members: int
    events: int
    progress_base: float
    progress_stretch: float


class MinuteRecord(TypedDict):
    minute: str
    minute_ms: int
    gmv_fen: int
    orders: int
    refund_fen: int
    messages: int
    joins: int
    leaves: int
    cumulative_gmv_fen: int


class HourRow(TypedDict):
    hour: str
    start_ms: int
    gmv_fen: int
    orders: int
    refund_fen: int
    messages: int
    joins: int
    leaves: int
    # added once the hour's sums are complete
    cumulative_gmv_fen: NotRequired[int]
    net_gmv_fen: NotRequired[int]
    progress_base: NotRequired[float]
    pace_fen: NotRequired[int]
    vs_pace_fen: NotRequired[int | None]


class MilestoneRow(TypedDict):
    fen: int
    label: str
    crossed_ms: int | None
    elapsed_minutes: int | None
    report_ms: int | None


class StimulusRow(TypedDict):
    id: int
    rule: str
    kind: str
    at_ms: int
    amount_fen: int
    window_minutes: int
    text: str
    before_gmv_per_min_fen: int
    after_gmv_per_min_fen: int
    complete: bool
    uplift: float | None
    incremental_gmv_fen: int | None
    gmv_per_yuan: float | None
    overlaps: list[int]
    # The effect (services/effects.py; docs/stimulus.md): the stored dict, or None
    # until its window is settled; its one line with the interval; the fires whose
    # effect windows meet its span; the window's length in campaign minutes.
    effect_minutes: int
    effect: dict[str, Any] | None
    effect_text: str
    effect_overlaps: list[int]


class ReviewBoardRow(TypedDict):
    rank: int
    id: str
    name: str
    net_gmv_fen: int
    gmv_fen: int
    refund_fen: int
    orders: int


class TopRow(ReviewBoardRow):
    history: list[int | None]  # rank at each checkpoint (None: not on the board yet)


class PeakView(TypedDict):
    at_ms: int | None
    gmv_fen: int
    minutes: NotRequired[int]


class PaceView(TypedDict):
    target_fen: int
    expected_now_fen: int
    actual_fen: int


class FunnelView(TypedDict):
    ever_joined: int
    members: int
    writers: int
    buyers: int
    writer_rate: float
    buyer_rate: float


class MembershipView(TypedDict):
    joins: int
    leaves: int
    leavers: int
    left_pairs: int
    churn_rate: float


class LateRow(TypedDict):
    lid: int
    type: str
    key: str
    ts: int
    received_ms: int
    amount_fen: int | None


class LateView(TypedDict):
    count: int
    by_type: dict[str, int]
    rows: list[LateRow]


class ReviewReport(TypedDict):
    id: int
    kind: str
    at_ms: int
    text: str


class Review(TypedDict):
    campaign: ReviewCampaign
    ended: bool
    now_ms: int
    totals: ReviewTotals
    minutes: list[MinuteRecord]
    hours: list[HourRow]
    peak_minute: PeakView
    peak_10: PeakView
    pace: PaceView
    milestones: list[MilestoneRow]
    stimuli: list[StimulusRow]
    boards: dict[str, list[ReviewBoardRow]]
    top: dict[str, list[TopRow]]
    marks: list[int]
    funnel: FunnelView
    membership: MembershipView
    late: LateView
    reports: list[ReviewReport]
