"""The typed shapes of battle reports: what a due report carries (`extra`), what a
report remembers for the next one (its memo) and what a template may show (the
report context). TypedDicts: plain dicts at run time, stored and sent as JSON.
"""

from __future__ import annotations

from typing import TypedDict

from warroom.core.live.shapes import FiguresView


class NextStimulus(TypedDict):
    at_ms: int
    text: str


class ReportExtra(TypedDict, total=False):
    """`DueReport.extra`: the parts of one report beyond the snapshot (every one
    optional; which ones a report has depends on its kind)."""

    milestone_fen: int  # milestone
    target_fen: int  # target_base, target_stretch
    slot: int  # scheduled
    hour_index: int  # top
    # stimulus: the fire it announces
    rule: str
    action_kind: str
    amount_fen: int
    text: str
    fire_key: str
    # added by the announcer or the operator
    at_ms: int  # the moment the report names (default: the snapshot's now)
    next_stimulus: NextStimulus
    milestones_fen: list[int]  # the final's timeline
    record_fen: int  # the best previous total (the final claims a record above it)


class ReportMemo(TypedDict):
    """What a report stores for the next one of its kind (`memo.report_memo`)."""

    figures: FiguresView
    at: str
    gmv_fen: int
    orders: int
    buyers: int
    seller_ranks: dict[str, int]


class PrevMemo(TypedDict):
    """The previous report as a new one compares with it (`memo.memo_of`)."""

    at: str
    gmv_fen: int
    orders: int
    buyers: int
    seller_ranks: dict[str, int] | None


class BoardLine(TypedDict):
    rank: int
    medal: str
    name: str
    gmv: str
    orders: int
    move: str
    climb: int


class Climber(TypedDict):
    name: str
    rank: int
    move: str


class PeakMinute(TypedDict):
    time: str
    gmv: str
    orders: int


class TimelineMark(TypedDict):
    time: str
    label: str


class BestStimulus(TypedDict):
    title: str
    emoji: str  # its kind's (context.ACTION_EMOJI): 🧧 only for a red-packet rain
    rule: str
    time: str
    effect: str  # effect_view.effect_text: the increment with its interval, or pending
    count: int  # fired stimuli in the campaign
    uplift: str  # the old velocity ratio ("—" unknown), for templates written against it


class StimulusLine(TypedDict):
    title: str
    emoji: str
    rule: str
    amount: str | None
    text: str


class NextStimulusLine(TypedDict):
    time: str
    text: str


class Delta(TypedDict):
    gmv: str
    orders: str
    buyers: str
    since: str


class Honour(TypedDict):
    sellers: str
    groups: str
    products: str


class ReportContext(TypedDict):
    """Everything a report template may show (`context.CONTEXT_KEYS` names the same
    keys): values already formatted, None or empty when not true."""

    kind: str
    campaign_name: str
    now_time: str
    as_of: str
    start_time: str
    end_time: str
    elapsed: str
    remaining: str
    gmv: str
    net_gmv: str
    refund: str
    has_refund: bool
    orders: int
    item_count: int
    buyers: int
    aov: str
    members: int
    messages: int
    conversion: str
    has_base: bool
    has_stretch: bool
    target_base: str
    target_stretch: str
    progress_base: str
    progress_stretch: str
    gap_base: str | None
    gap_stretch: str | None
    base_reached: bool
    stretch_reached: bool
    projected: str | None
    base_eta: str | None
    stretch_eta: str | None
    next_milestone: str | None
    next_milestone_eta: str | None
    speed: str
    orders_per_min: float
    peak_speed: str
    top3: list[BoardLine]
    top5: list[BoardLine]
    groups: list[BoardLine]
    products: list[BoardLine]
    top_group: BoardLine | None
    top_product: BoardLine | None
    climber: Climber | None
    thanks: str
    honour: Honour
    window: str
    delta: Delta | None
    milestone: str | None
    target: str | None
    slot: int | None
    hour_index: int | None
    stimulus: StimulusLine | None
    next_stimulus: NextStimulusLine | None
    peak_minute: PeakMinute | None
    timeline: list[TimelineMark]
    best_stimulus: BestStimulus | None
    record: bool
    raw: ReportMemo
