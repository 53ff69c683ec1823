"""Post battle reports and record stimulus fires, exactly once each: render from true
figures, claim a unique SQL row, then push to the live feed and queue webhooks.

Shared by the trigger worker (automatic) and the API (an operator's manual fire)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from warroom.adapters.hotstate import HotState
from warroom.adapters.report_store import ReportStore, report_view
from warroom.adapters.store import CampaignRecord
from warroom.adapters.webhook import WebhookStore
from warroom.core.campaign import StimulusAction
from warroom.core.clock import rfc3339
from warroom.core.render import render_report, report_context
from warroom.core.report_context import report_memo
from warroom.core.reports import DueReport, stimulus_report

log = logging.getLogger(__name__)


def fire_view(row: Any, tz: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "rule": row.rule,
        "kind": row.kind,
        "at": rfc3339(row.at_ms, tz),
        "amount_fen": row.amount_fen,
        "text": row.text,
        "uplift": row.uplift,
        "manual": row.manual,
    }


class Announcer:
    def __init__(self, hot: HotState, reports: ReportStore, webhooks: WebhookStore) -> None:
        self.hot = hot
        self.reports = reports
        self.webhooks = webhooks
        self._templates: dict[int, tuple[float, dict[str, str]]] = {}

    async def _overrides(self, campaign_id: int) -> dict[str, str]:
        hit = self._templates.get(campaign_id)
        if hit and time.monotonic() - hit[0] < 2.0:
            return hit[1]
        found = await asyncio.to_thread(self.reports.templates, campaign_id)
        self._templates[campaign_id] = (time.monotonic(), found)
        return found

    async def post_report(
        self, record: CampaignRecord, snapshot: dict[str, Any], due: DueReport
    ) -> dict[str, Any] | None:
        """Render and claim one report; returns it if this call won the claim."""
        s = record.settings
        previous = await asyncio.to_thread(self.reports.last_report, record.id, (due.kind,))
        prev_memo = orjson.loads(previous.memo_json) if previous is not None else None
        extra = dict(due.extra)
        if due.kind == "final":
            extra.setdefault("milestones_fen", list(s.milestones_fen))
        context = report_context(snapshot, due.kind, extra, prev_memo)
        override = (await self._overrides(record.id)).get(due.kind)
        text = render_report(due.kind, context, override)
        memo = orjson.dumps(report_memo(snapshot)).decode()
        claim = await asyncio.to_thread(
            self.reports.claim_report, record.id, due.key, due.kind, due.due_at_ms, text, memo
        )
        if not claim.won:
            return None
        item = {
            "id": claim.id,
            "kind": due.kind,
            "at": rfc3339(due.due_at_ms, s.timezone),
            "text": text,
        }
        await self.hot.push_feed(s.slug, "reports", item)
        await asyncio.to_thread(self.webhooks.enqueue, record.id, claim.id)
        log.info("report %s posted for %s", due.key, s.slug)
        return item

    async def record_fire(
        self,
        record: CampaignRecord,
        snapshot: dict[str, Any],
        key: str,
        rule: str,
        action: StimulusAction,
        at_ms: int,
        *,
        metric: str = "gmv_per_min",
        window_minutes: int = 10,
        manual: bool = False,
    ) -> dict[str, Any] | None:
        """Claim one fire; if won, refresh the stimuli feed and post its report."""
        claim = await asyncio.to_thread(
            self.reports.claim_fire,
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
        )
        if not claim.won:
            return None
        await self.refresh_stimuli(record)
        await self.post_report(record, snapshot, stimulus_report(key, rule, action, at_ms))
        fires = await asyncio.to_thread(self.reports.fires, record.id)
        row = next(r for r in fires if r.id == claim.id)
        log.info("stimulus %s fired for %s", key, record.settings.slug)
        return fire_view(row, record.settings.timezone)

    async def refresh_stimuli(self, record: CampaignRecord) -> list[dict[str, Any]]:
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
