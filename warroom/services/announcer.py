"""Post battle reports and record stimulus fires, exactly once each: render from settled
figures, claim a unique SQL row (which queues the report's webhook deliveries in the
same transaction), then push it to the live feed. A poster that dies after the claim
leaves nothing lost: the deliveries are rows already, and the trigger worker's next
tick puts the report on the feed (services/feeds.py).

A report describes one instant (`DueReport.figures_as_of`): the announcer reads hot
state and rebuilds the snapshot as it stood then (core/snapshot.snapshot_as_of), so its
`figures` and its text are the ledger's totals at that instant, however late it is
written. The final alone takes the settled snapshot's totals.

Shared by the trigger worker (automatic) and the API (an operator's manual fire)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from functools import partial
from typing import Any, cast

import orjson

from warroom.adapters.clock import SYSTEM_CLOCK, Clock
from warroom.adapters.metrics import catalogue as metrics
from warroom.adapters.sql.report_store import report_view
from warroom.adapters.sql.store import oldest_unrelayed_many, oldest_unrelayed_ts
from warroom.core.campaign import StimulusAction
from warroom.core.ingest.clock import minute_floor, rfc3339
from warroom.core.live.figures import Figures, figures_of_totals
from warroom.core.live.shapes import ReportItem, Snapshot, StimulusItem
from warroom.core.live.snapshot import recent_from, snapshot_as_of
from warroom.core.records import CampaignRecord
from warroom.core.reports.context import report_memo
from warroom.core.reports.render import render_report, report_context
from warroom.core.reports.schedule import DueReport, stimulus_report
from warroom.core.reports.shapes import ReportExtra
from warroom.services import snapshots, treatment
from warroom.services.campaigns import clock_of
from warroom.services.ports import LiveState, ReportRecords
from warroom.services.watermark import Watermark

log = logging.getLogger(__name__)


def fire_view(row: Any, tz: str) -> StimulusItem:
    return {
        "id": row.id,
        "rule": row.rule,
        "kind": row.kind,
        "at": rfc3339(row.at_ms, tz),
        "amount_fen": row.amount_fen,
        "text": row.text,
        "uplift": row.uplift,
        "manual": row.manual,
        # contract v3: proposed | dismissed | expired | fired, and the effect (null
        # until its window has passed)
        "status": row.status,
        "effect": orjson.loads(row.effect) if row.effect else None,
    }


def holdout_groups(assignment_json: str | None, fire_key: str = "") -> tuple[str, ...]:
    """The groups a fire held out, from its row's `assignment` JSON ({"treated": [...],
    "holdout": [...], ...}; None: nobody held out). An assignment that cannot be read
    holds nobody out, loudly: the stimulus still reaches every robot."""
    if not assignment_json:
        return ()
    try:
        data = orjson.loads(assignment_json)
        return tuple(str(g) for g in data.get("holdout") or ())
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        log.error("fire %s: unreadable assignment, announced to every robot", fire_key)
        return ()


class Announcer:
    def __init__(
        self,
        hot: LiveState,
        reports: ReportRecords,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.hot = hot
        self.reports = reports
        self.clock = clock
        self.watermark = Watermark(
            hot,
            partial(oldest_unrelayed_ts, reports.engine),
            partial(oldest_unrelayed_many, reports.engine),
            clock=clock,
        )
        self._templates: dict[int, tuple[float, dict[str, str]]] = {}

    async def _overrides(self, campaign_id: int) -> dict[str, str]:
        hit = self._templates.get(campaign_id)
        if hit and time.monotonic() - hit[0] < 2.0:
            return hit[1]
        found = await asyncio.to_thread(self.reports.templates, campaign_id)
        self._templates[campaign_id] = (time.monotonic(), found)
        return found

    async def view_as_of(self, record: CampaignRecord, due: DueReport) -> tuple[Snapshot, Figures]:
        """The snapshot a report is written from, and its figures."""
        s = record.settings
        stimuli = await self.hot.read_feed(s.slug, "stimuli")
        if due.from_totals:
            state = await snapshots.load_state(self.hot, record, self.clock.now_ms(), [], stimuli)
            return state.snapshot, figures_of_totals(state.snapshot["totals"], due.figures_as_of)
        as_of = due.figures_as_of
        raw = await self.hot.read(s.slug, recent_from(as_of))
        return snapshot_as_of(s, raw, as_of, stimuli)

    async def post_report(
        self, record: CampaignRecord, due: DueReport, *, skip_groups: Collection[str] = ()
    ) -> ReportItem | None:
        """Render and claim one report from the figures as of its instant; returns it
        if this call won the claim. Robots bound to one of `skip_groups` (a stimulus's
        held-out groups) get no delivery of it."""
        s = record.settings
        previous = await asyncio.to_thread(self.reports.last_report, record.id, (due.kind,))
        prev_memo = orjson.loads(previous.memo_json) if previous is not None else None
        extra = cast(ReportExtra, dict(due.extra))  # a copy, still a ReportExtra
        extra.setdefault("at_ms", due.due_at_ms)
        if due.kind == "final":
            extra.setdefault("milestones_fen", list(s.milestones_fen))
        view, figures = await self.view_as_of(record, due)
        figs = figures.as_dict(s.timezone)
        context = report_context(view, due.kind, extra, prev_memo, figs)
        override = (await self._overrides(record.id)).get(due.kind)
        text = render_report(due.kind, context, override)
        memo = orjson.dumps(report_memo(view, figs)).decode()
        claim = await asyncio.to_thread(
            partial(self.reports.claim_report, skip_groups=skip_groups),
            record.id,
            due.key,
            due.kind,
            due.due_at_ms,
            text,
            memo,
        )
        if not claim.won:
            return None
        # Written (with its deliveries) by this claim: counted here, once, by the winner.
        metrics.REPORTS.labels(metrics.campaign_label(s.slug), due.kind).inc()
        row = await asyncio.to_thread(self.reports.report, claim.id)
        item = report_view(row, lambda ms: rfc3339(ms, s.timezone))
        await self.hot.push_feed(s.slug, "reports", item)
        log.info("report %s posted for %s", due.key, s.slug)
        return item

    async def announce_fire(
        self,
        record: CampaignRecord,
        fire_key: str,
        rule: str,
        action: StimulusAction,
        at_ms: int,
        settled_ms: int | None,
    ) -> ReportItem | None:
        """Post a fire's `stimulus` report, with the figures of the last settled minute
        boundary before the fire; None (and nothing posted) while nothing is settled:
        the trigger worker announces it once figures are back. Robots bound to a group
        the fire held out hear nothing of it (the fire row's `assignment`)."""
        if settled_ms is None:
            return None
        due = stimulus_report(fire_key, rule, action, at_ms)
        due = DueReport(
            due.key, due.kind, due.due_at_ms, due.extra, minute_floor(min(at_ms, settled_ms))
        )
        fires = await asyncio.to_thread(self.reports.fires, record.id)
        fire = next((f for f in fires if f.key == fire_key), None)
        held = holdout_groups(fire.assignment if fire is not None else None, fire_key)
        return await self.post_report(record, due, skip_groups=held)

    async def record_fire(
        self,
        record: CampaignRecord,
        key: str,
        rule: str,
        action: StimulusAction,
        at_ms: int,
        *,
        metric: str = "gmv_per_min",
        window_minutes: int = 10,
        manual: bool = False,
        holdout_share: float = 0.0,
        effect_minutes: int | None = None,
        max_fires: int | None = None,
    ) -> StimulusItem | None:
        """Claim one fire; if won, refresh the stimuli feed and post its report (from
        settled figures; while figures restore, the trigger worker posts it later).

        The claim counts the campaign's budget (and `max_fires` of the rule, when
        given) in its own statement: over either, nothing is written and None is
        answered, as for a claim another process won. With `holdout_share` > 0 the
        groups are drawn now (services/treatment.py) and the seed and assignment are
        written by the claim itself; share 0 records none (everyone is treated)."""
        extra: dict[str, Any] = {
            "holdout_share": float(holdout_share),
            "effect_minutes": effect_minutes or window_minutes,
        }
        if holdout_share > 0:
            drawn = await treatment.draw(self.hot, record.settings.slug, holdout_share)
            extra.update(seed=drawn.seed, assignment=orjson.dumps(drawn.as_dict()).decode())
        claim = await asyncio.to_thread(
            partial(
                self.reports.claim_fire,
                budget_fen=record.settings.stimulus_budget_fen,
                max_fires=max_fires,
            ),
            campaign_id=record.id,
            key=key,
            rule=rule,
            kind=action.kind,
            metric=metric,
            window_minutes=window_minutes,
            at_ms=at_ms,
            amount_fen=action.amount_fen,
            text=action.text,
            manual=manual,
            **extra,
        )
        if not claim.won:
            return None
        return await self.fired(record, claim.id, key, rule, action, at_ms)

    async def fired(
        self,
        record: CampaignRecord,
        fire_id: int,
        key: str,
        rule: str,
        action: StimulusAction,
        at_ms: int,
    ) -> StimulusItem:
        """What follows a fire once its row is `fired` (a won claim, an approved
        proposal): counted, on the stimuli feed, and its report posted."""
        # Automatic (trigger worker), manual (the API) and approved fires all pass here.
        metrics.FIRES.labels(metrics.campaign_label(record.settings.slug)).inc()
        # the fires as just claimed: the feed's and the caller's view of this one
        views = await self.refresh_stimuli(record)
        now_real = self.clock.now_ms()
        settled = await self.watermark.settled_ms(record, now_real)
        if settled is not None:
            settled = min(settled, clock_of(record).now_ms(now_real))
        await self.announce_fire(record, key, rule, action, at_ms, settled)
        log.info("stimulus %s fired for %s", key, record.settings.slug)
        return next(v for v in views if v["id"] == fire_id)

    async def refresh_stimuli(self, record: CampaignRecord) -> list[StimulusItem]:
        fires = await asyncio.to_thread(self.reports.fires, record.id)
        items = [fire_view(r, record.settings.timezone) for r in fires]
        await self.hot.replace_feed(record.settings.slug, "stimuli", items)
        return items

    async def restore_feeds(self, record: CampaignRecord) -> None:
        """Rewrite both live feeds from SQL (after a restore or a rebuild)."""
        rows = await asyncio.to_thread(self.reports.reports, record.id)
        tz = record.settings.timezone
        items = [report_view(r, lambda ms: rfc3339(ms, tz)) for r in rows]
        await self.hot.replace_feed(record.settings.slug, "reports", items)
        await self.refresh_stimuli(record)
