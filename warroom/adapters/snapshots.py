"""Load a campaign's snapshot: hot state from Redis, shaped by the pure core."""

from __future__ import annotations

from typing import Any

from warroom.adapters.campaigns import clock_of
from warroom.adapters.hotstate import HotState
from warroom.adapters.store import CampaignRecord
from warroom.core.snapshot import build_snapshot, recent_from


async def load_snapshot(
    hot: HotState,
    record: CampaignRecord,
    real_now_ms: int,
    reports: list[dict[str, Any]] | None = None,
    stimuli: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if reports is None:
        reports = await hot.read_feed(record.settings.slug, "reports", 10)
    if stimuli is None:
        stimuli = await hot.read_feed(record.settings.slug, "stimuli")
    now_ms = clock_of(record).now_ms(real_now_ms)
    raw = await hot.read(record.settings.slug, recent_from(now_ms))
    return build_snapshot(
        record.settings,
        raw.totals,
        raw.minutes,
        raw.boards,
        raw.board_orders,
        raw.board_names,
        raw.board_minutes,
        now_ms,
        reports,
        stimuli,
    )
