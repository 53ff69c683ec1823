"""A made-up but consistent campaign for checking and previewing report templates.

`validate_template` renders a candidate template against `sample_context(kind)`; the
operator pages can show the same text as a preview. The figures come from
`build_snapshot`, so the sample always has the real snapshot's shape.
"""

from __future__ import annotations

from functools import lru_cache

from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import MINUTE_MS
from warroom.core.live.shapes import RawState, RawTotals, Snapshot, StimulusItem
from warroom.core.live.snapshot import build_snapshot
from warroom.core.reports.context import report_context
from warroom.core.reports.shapes import PrevMemo, ReportContext, ReportExtra

_START = 1_716_170_400_000  # 2024-05-20 10:00 Asia/Shanghai
_NOW = _START + 210 * MINUTE_MS  # 13:30
_SELLERS = {"s1": ("小美", 9_000_000), "s2": ("阿强", 7_500_000), "s3": ("花姐", 6_000_000),
            "s4": ("老王", 4_000_000), "s5": ("丽丽", 3_000_000), "s6": ("阿杰", 2_000_000)}  # fmt: skip
_GROUPS = {"g1": ("宝妈团1群", 20_000_000), "g2": ("吃货联盟", 11_500_000)}
_PRODUCTS = {"p1": ("蓝莓鲜果 2 盒", 18_000_000), "p2": ("有机牛奶 12 瓶", 13_500_000)}

_EXTRA: dict[str, ReportExtra] = {
    "milestone": {"milestone_fen": 30_000_000},
    "target_base": {"target_fen": 100_000_000},
    "target_stretch": {"target_fen": 150_000_000},
    "scheduled": {
        "slot": 7,
        "next_stimulus": {"at_ms": _NOW + 30 * MINUTE_MS, "text": "整点红包雨"},
    },
    "top": {"hour_index": 3},
    "stimulus": {
        "rule": "午后回暖",
        "action_kind": "red_packet_rain",
        "amount_fen": 200_000,
        "text": "红包雨 3 分钟后开始，准备好手速！",
        "fire_key": "fire:午后回暖:1",
    },
    "final": {"milestones_fen": [10_000_000, 30_000_000], "record_fen": 20_000_000},
}


def _board(
    rows: dict[str, tuple[str, int]],
) -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
    gmv = {k: v for k, (_, v) in rows.items()}
    orders = {k: v // 20_000 for k, v in gmv.items()}
    names = {k: n for k, (n, _) in rows.items()}
    return gmv, orders, names


@lru_cache(maxsize=1)
def sample_snapshot() -> Snapshot:
    settings = CampaignSettings(
        slug="sample",
        name="520 宠粉节",
        starts_at=_START,
        ends_at=_START + 7 * 60 * MINUTE_MS,
        target_base_fen=100_000_000,
        target_stretch_fen=150_000_000,
        milestones_fen=[10_000_000, 30_000_000, 50_000_000],
    )
    per_min = {_START + i * MINUTE_MS: 150_000 for i in range(210)}
    minutes = {
        "gmv": per_min,
        "orders": {m: 8 for m in per_min},
        "buyers": {m: 6 for m in per_min},
        "messages": {m: 40 for m in per_min},
    }
    boards = {"sellers": _board(_SELLERS), "groups": _board(_GROUPS), "products": _board(_PRODUCTS)}
    recent = {_NOW - MINUTE_MS: {"s4": 3_000_000}}  # 老王 climbed in the last minutes
    totals: RawTotals = {"gmv": 31_500_000, "refund": 500_000, "orders": 1_680, "items": 2_100,
              "buyers": 1_050, "members": 1_500, "active_members": 600,
              "messages": 8_400, "last_ts": _NOW - 5_000}  # fmt: skip
    stimuli: list[StimulusItem] = [
        {"id": "fire:午后回暖:1", "rule": "午后回暖", "kind": "red_packet_rain",
         "at": "2024-05-20T13:00:00+08:00", "amount_fen": 200_000, "text": "", "uplift": 1.8,
         "status": "fired",
         "effect": {"method": "holdout", "treated_groups": 36, "holdout_groups": 12,
                    "incremental_gmv_fen": 1_800_000, "ci90_fen": [900_000, 2_700_000],
                    "roi": 9.0, "roi_ci90": [4.5, 13.5], "overlaps": [], "pre_minutes": 10}}
    ]  # fmt: skip
    raw = RawState(
        totals,
        minutes,
        {b: v[0] for b, v in boards.items()},
        {b: v[1] for b, v in boards.items()},
        {b: v[2] for b, v in boards.items()},
        {"sellers": recent},
    )
    return build_snapshot(settings, raw, _NOW, stimuli=stimuli)


def sample_extra(kind: str | None) -> ReportExtra:
    """The `extra` of a report of `kind`; for None every kind's parts at once."""
    if kind is None:
        merged: ReportExtra = {}
        for extra in _EXTRA.values():
            merged.update(extra)
        return merged
    return _EXTRA.get(kind, {}).copy()


def sample_context(kind: str | None = None) -> ReportContext:
    snapshot = sample_snapshot()
    previous: PrevMemo = {
        "at": "2024-05-20T13:00:00+08:00",
        "gmv_fen": 27_000_000,
        "orders": 1_440,
        "buyers": 900,
        "seller_ranks": {"s1": 1, "s3": 2, "s2": 3, "s5": 4},
    }
    return report_context(snapshot, kind or "scheduled", sample_extra(kind), previous)
