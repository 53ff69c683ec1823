"""Screenshot of the console's engineers' page (工程, issue 20) during a sale.

    .venv/bin/python -m tests.browser.screenshots_engineers [out_dir]   (default: docs/screens)

Starts its own embedded Redis (or uses REDIS_URL), a SQLite file in a temp dir and one
`warroom web` process with an aggregator beside it; three live campaigns take orders
(with some duplicates and rejects) from a feeder, dashboards are open on two of them,
one request is refused by a limit, and the owner's console is photographed once the
page has measured its rates. Writes `engineers.png`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.browser.browser import launch
from tests.browser.live import (
    ROOT,
    Stack,
    WsClient,
    console_sign_in,
    iso,
    live_stack,
    order,
    shots_settings,
    ws_url,
)

CAMPAIGNS = (
    # slug, name, orders per tick (a tick is 0.25 s)
    ("double12", "双十二社群快闪 · 宠粉专场", 9),
    ("crab-night", "阳澄湖大闸蟹 · 夜场直播", 4),
    ("new-year", "年货节 · 团长内购", 1),
)


async def feed(stack: Stack, made: dict[str, dict[str, Any]], stop: asyncio.Event) -> None:
    """Orders on every campaign until `stop`: mostly new, some sent twice, a few bad."""
    assert stack.client is not None
    rng = random.Random(12)
    n = itertools.count(1)
    sent: dict[str, list[dict[str, Any]]] = {slug: [] for slug, _, _ in CAMPAIGNS}
    while not stop.is_set():
        for slug, _, per_tick in CAMPAIGNS:
            batch = [
                order(
                    f"{slug}-{next(n)}",
                    rng.choice([1990, 2990, 8800, 26800]),
                    f"s{rng.randint(1, 6)}",
                )
                for _ in range(rng.randint(max(1, per_tick - 2), per_tick + 2))
            ]
            if sent[slug] and rng.random() < 0.2:
                batch.append(rng.choice(sent[slug]))  # a retry: a duplicate
            if rng.random() < 0.05:
                batch.append({**batch[0], "order_id": "bad", "amount_fen": -1})  # rejected
            sent[slug].extend(batch[:3])
            await stack.client.post(
                f"/api/v1/campaigns/{slug}/events",
                json=batch,
                headers={"Authorization": f"Bearer {made[slug]['ingest_token']}"},
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with shots_settings("wr-engineers-") as (settings, tmp):
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        async with live_stack(settings, tmp) as stack:
            assert stack.client is not None
            made = {}
            for slug, name, _ in CAMPAIGNS:
                made[slug] = await stack.create_campaign(
                    slug=slug,
                    name=name,
                    starts_at=iso(now - timedelta(minutes=50)),
                    ends_at=iso(now + timedelta(hours=3)),
                )
            # one request over a limit: the refusals panel has something to say
            too_many = [
                order(f"x{i}", 100) for i in range(settings.warroom_max_events_per_request + 1)
            ]
            await stack.client.post(
                "/api/v1/campaigns/new-year/events",
                json=too_many,
                headers={"Authorization": f"Bearer {made['new-year']['ingest_token']}"},
            )
            stop = asyncio.Event()
            feeder = asyncio.create_task(feed(stack, made, stop))
            web = stack.web
            viewers = [
                WsClient(ws_url(web, "double12", made["double12"]["viewer_token"])),
                WsClient(ws_url(web, "double12", made["double12"]["viewer_token"])),
                WsClient(ws_url(web, "double12", made["double12"]["viewer_token"])),
                WsClient(ws_url(web, "crab-night", made["crab-night"]["viewer_token"])),
            ]
            try:
                async with contextlib.AsyncExitStack() as sockets:
                    for v in viewers:
                        await sockets.enter_async_context(v)
                    async with launch() as browser:
                        page = await browser.new_page(viewport={"width": 1440, "height": 900})
                        await console_sign_in(page, web.url)
                        await page.goto(f"{web.url}/admin/engineers")
                        # let the partial poll a few times: the rates span several seconds
                        await page.wait_for_timeout(9000)
                        await page.wait_for_selector("#engineers-campaigns [data-rate]")
                        await page.screenshot(path=str(out_dir / "engineers.png"), full_page=True)
            finally:
                stop.set()
                await feeder
    print(f"screenshot in {out_dir / 'engineers.png'}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens"
    asyncio.run(main(target))
