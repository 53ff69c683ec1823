"""Load a campaign's snapshot: hot state from Redis, shaped by the pure core."""

from __future__ import annotations

from dataclasses import dataclass

from warroom.core.live.shapes import RawState, ReportItem, Snapshot, StimulusItem
from warroom.core.live.snapshot import build_snapshot, recent_from
from warroom.core.records import CampaignRecord
from warroom.services.campaigns import clock_of
from warroom.services.ports import LiveState


@dataclass
class LoadedState:
    snapshot: Snapshot
    raw: RawState
    now_ms: int  # campaign clock


async def load_state(
    hot: LiveState,
    record: CampaignRecord,
    real_now_ms: int,
    reports: list[ReportItem] | None = None,
    stimuli: list[StimulusItem] | None = None,
) -> LoadedState:
    slug = record.settings.slug
    if reports is None:
        reports = await hot.read_feed(slug, "reports", 10)
    if stimuli is None:
        stimuli = await hot.read_feed(slug, "stimuli")
    now_ms = clock_of(record).now_ms(real_now_ms)
    raw = await hot.read(slug, recent_from(now_ms), top=record.settings.leaderboard_size)
    snap = build_snapshot(record.settings, raw, now_ms, reports, stimuli)
    # While figures are restored the zeros above are not true: say so (contract v2).
    snap["restoring"] = raw.restoring
    return LoadedState(snap, raw, now_ms)


async def load_snapshot(
    hot: LiveState,
    record: CampaignRecord,
    real_now_ms: int,
    reports: list[ReportItem] | None = None,
    stimuli: list[StimulusItem] | None = None,
) -> Snapshot:
    return (await load_state(hot, record, real_now_ms, reports, stimuli)).snapshot
