"""Screenshots of a replay (time travel) on the big screen: mid-replay, during the
red-packet rain, and at its end.

    .venv/bin/python -m tests.browser.screenshots_replay [out_dir]   (default: docs/screens)

Records a finished sale (the scripted day of screenshots.py, ended two hours ago)
through the ingest API, writes a few battle reports and the rain's fire into SQL, then
replays it at 240x (about 50 s) in headless Chromium.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from tests.browser.browser import launch
from tests.browser.live import ROOT, iso, live_stack
from tests.browser.screenshots import sale_events
from tests.conftest import ADMIN
from warroom.settings import Settings

MINUTES = 190
REPORTS = [
    (
        31,
        "milestone",
        "🎉 开场 31 分钟突破 ¥10万！\n🥇王姐团购 🥈小李优选 🥉🌸花花🌸\n冲鸭，下一站 ¥30万！",
    ),
    (
        60,
        "scheduled",
        "⏰ 11:00 战报\n累计成交 ¥26.4万 · 订单 3,120\n距基础目标还差 ¥73.6万，加油！",
    ),
    (120, "scheduled", "⏰ 12:00 战报\n累计成交 ¥45.8万\nTOP3 稳住，阿芳生鲜 ▲2 冲进前三！"),
    (176, "stimulus", "🧧 整点红包雨，5000 元现金红包马上开抢！"),
]


async def record_day(stack: object) -> dict[str, str]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    starts = now - timedelta(minutes=MINUTES + 120)
    created = await stack.create_campaign(  # type: ignore[attr-defined]
        slug="double11",
        name="双十一社群快闪 · 宠粉专场",
        starts_at=iso(starts),
        ends_at=iso(starts + timedelta(minutes=MINUTES + 5)),
        target_base_fen=60_000_000,
        target_stretch_fen=90_000_000,
        milestones_fen=[10_000_000, 30_000_000],
        stimulus_budget_fen=1_000_000,
    )
    events = sale_events(starts, MINUTES, random.Random(11))
    for i in range(0, len(events), 2000):
        await stack.post("double11", created["ingest_token"], events[i : i + 2000])  # type: ignore[attr-defined]
    rt = stack.runtime  # type: ignore[attr-defined]
    record = rt.store.get_campaign("double11")
    start_ms = int(starts.timestamp() * 1000)
    for n, (minute, kind, text) in enumerate(REPORTS, 1):
        memo = orjson.dumps({"n": n}).decode()
        rt.reports.claim_report(
            record.id, f"shot:{n}", kind, start_ms + minute * 60_000 + 5_000, text, memo
        )
    rt.reports.claim_fire(campaign_id=record.id, key="rule:午后提神:1", rule="午后提神",
                          kind="red_packet_rain", at_ms=start_ms + 175 * 60_000,
                          amount_fen=500_000, text="整点红包雨，5000 元现金红包马上开抢！")  # fmt: skip
    return created


async def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="wr-replay-"))
    embedded = None
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        from warroom.adapters.embedded_redis import EmbeddedRedis

        embedded = EmbeddedRedis(tmp / "redis")
        redis_url = embedded.start()
    settings = Settings(
        redis_url=redis_url,
        database_url=f"sqlite:///{tmp}/shots.db",
        warroom_admin_token=ADMIN,
        warroom_data_dir=tmp / "data",
    )
    try:
        async with live_stack(settings, tmp) as stack:
            token = (await record_day(stack))["viewer_token"]
            async with launch() as browser:
                page = await browser.new_page(viewport={"width": 1920, "height": 1080})
                await page.goto(f"{stack.web.url}/c/double11?token={token}&replay=240")
                # mid-replay: once the third report (12:00 slot) is in the feed
                await page.wait_for_selector("#reports li:nth-child(3)", timeout=120_000)
                await page.wait_for_timeout(800)
                await page.screenshot(path=str(out_dir / "replay-mid.png"))
                await page.wait_for_selector("#banner:not([hidden])", timeout=120_000)
                await page.wait_for_timeout(1800)  # the rain is falling
                await page.screenshot(path=str(out_dir / "replay-rain.png"))
                await page.wait_for_selector("html[data-replay=ended]", timeout=120_000)
                await page.wait_for_selector("#rain:empty", state="attached", timeout=30_000)
                await page.wait_for_timeout(1500)  # the counters roll in
                await page.screenshot(path=str(out_dir / "replay-end.png"))
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"screenshots in {out_dir}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens"
    asyncio.run(main(target))
