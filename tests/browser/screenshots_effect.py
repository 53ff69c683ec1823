"""The review page's stimulus effects (issue 21): `review-effect.png`.

    .venv/bin/python -m tests.browser.screenshots_effect [out_dir]   (default: docs/screens)

Three hours of a sale over 24 groups; a red-packet rain at 2:00 with a quarter of the
groups held out (a known lift of 30% in the treated groups for its 10 minutes), a
buy-one-get-one at 2:40 with no holdout (the trend method), and a fire three minutes
ago whose window is not over. The real trigger tick computes the effects from the
ledger (services/effects.py); then the review page is photographed.
"""

from __future__ import annotations

import asyncio
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from tests.browser.browser import launch
from tests.browser.live import ROOT, iso, live_stack, order, shots_settings
from warroom.core.reports.holdout import assign
from warroom.workers.triggers import Triggers

MIN = 60_000
GROUPS = [f"g{i:02d}" for i in range(1, 25)]
NAMES = {g: f"阳光花园 {i} 群" for i, g in enumerate(GROUPS, 1)}


def sale(
    starts: datetime, minutes: int, rng: random.Random, lift: tuple[int, int, set[str]]
) -> list[dict[str, Any]]:
    """Each group's orders minute by minute: its own level, the 13:00-style slump in
    the middle, and +30% in the lifted groups during the lifted minutes."""
    events = []
    level = {g: rng.randint(6, 14) * 1_000 for g in GROUPS}
    lo, hi, lifted = lift
    for m in range(minutes):
        shape = 1.0 if m < 100 else 0.6 + 0.004 * (m - 100)
        for g in GROUPS:
            amount = level[g] * shape * rng.uniform(0.8, 1.2)
            if lo <= m < hi and g in lifted:
                amount *= 1.3
            ts = iso(starts + timedelta(minutes=m, seconds=rng.randint(0, 59)))
            events.append(
                order(f"{g}-{m}", int(amount), f"s{g}", group=g, group_name=NAMES[g], ts=ts)
            )
    return events


async def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(21)
    with shots_settings("wr-effect-") as (settings, tmp):
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        starts = now - timedelta(minutes=180)
        async with live_stack(settings, tmp) as stack:
            created = await stack.create_campaign(
                slug="double11",
                name="双十一社群快闪 · 宠粉专场",
                starts_at=iso(starts),
                ends_at=iso(starts + timedelta(hours=7)),
                milestones_fen=[],
                report_every_minutes=60,
            )
            drawn = assign({g: 1 for g in GROUPS}, 0.25, 7)
            events = sale(starts, 180, rng, (120, 130, set(drawn.treated)))
            for i in range(0, len(events), 500):
                await stack.post("double11", created["ingest_token"], events[i : i + 500])
            await stack.settle(
                "double11", created["viewer_token"], sum(e["amount_fen"] for e in events), 30.0
            )
            rt = stack.runtime
            record = await rt.campaigns.get("double11")
            start_ms = int(starts.timestamp() * 1000)
            base = {"campaign_id": record.id, "metric": "gmv_per_min", "window_minutes": 10,
                    "manual": False, "status": "fired", "effect_minutes": 10}  # fmt: skip
            rt.reports.claim_fire(
                **base, key="fire:午后红包雨:1", rule="午后红包雨", kind="red_packet_rain",
                at_ms=start_ms + 120 * MIN, amount_fen=300_000, text="整点红包雨！",
                seed=7, holdout_share=0.25, assignment=orjson.dumps(drawn.as_dict()).decode(),
            )  # fmt: skip
            rt.reports.claim_fire(
                **base, key="fire:买一送一:1", rule="买一送一", kind="buy_n_gift",
                at_ms=start_ms + 160 * MIN, amount_fen=100_000, text="车厘子买一送一",
            )  # fmt: skip
            rt.reports.claim_fire(
                **{**base, "manual": True}, key="fire:manual:1", rule="manual", kind="announcement",
                at_ms=start_ms + 177 * MIN, amount_fen=0, text="最后一小时",
            )  # fmt: skip
            trig = Triggers(rt.store, rt.hot, rt.reports, rt.announcer)
            for _ in range(3):
                await trig.tick()
            async with launch() as browser:
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                await page.goto(
                    f"{stack.web.url}/c/double11/review?token={created['viewer_token']}"
                )
                await page.wait_for_selector("#curve .main-svg", timeout=10_000)
                card = page.locator("section.card:has(#stimuli)")
                await card.scroll_into_view_if_needed()
                await card.screenshot(path=str(out_dir / "review-effect.png"))
    print(f"screenshot in {out_dir}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens"
    asyncio.run(main(target))
