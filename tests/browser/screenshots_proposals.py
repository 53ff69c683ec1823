"""Screenshots of a human in the loop (contract v3): the console's proposal card and
the host's task with its 完成 button.

    .venv/bin/python -m tests.browser.screenshots_proposals [out_dir]   (default: docs/screens)

Starts its own embedded Redis (or uses REDIS_URL), a SQLite file in a temp dir and one
`warroom web` process; a campaign sells briskly in eight groups, then slumps; its rule
in mode "propose" proposes a red-packet rain (claimed as the trigger worker would);
the console's campaign page is photographed with the card, then the proposal is
approved and the host page of one treated host is photographed on a 390 × 844 phone.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.browser.browser import launch
from tests.browser.live import ROOT, console_sign_in, live_stack, order, shots_settings
from tests.conftest import ADMIN
from warroom.services import proposals

OWNER = {"Authorization": f"Bearer {ADMIN}"}
RULE = {
    "name": "午后回暖",
    "window_minutes": 3,
    "below_peak_ratio": 0.5,
    "sustain_minutes": 2,
    "cooldown_minutes": 20,
    "max_fires": 3,
    "mode": "propose",
    "propose_ttl_minutes": 10,
    "holdout_share": 0.25,
    "action": {
        "kind": "red_packet_rain",
        "amount_fen": 200_000,
        "text": "🧧 14:00 整点红包雨，群里抢！满 99 元再减 10 元",
    },
}
NAMES = ["王姐", "李阿姨", "小周", "陈哥", "赵姐", "孙妹", "周叔", "吴姐"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


async def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with shots_settings("wr-propose-") as (settings, tmp):
        async with live_stack(settings, tmp) as stack:
            base = stack.web.url
            c = await stack.create_campaign(
                slug="double11", stimulus_rules=[RULE], stimulus_budget_fen=1_500_000
            )
            now = int(time.time() * 1000)
            minute0 = now - now % 60_000
            events, n = [], 0
            for back in range(16, 0, -1):  # brisk until 5 minutes ago, then a slump
                per = 12 if back > 4 else 2
                for k in range(per):
                    g = (n + k) % 8
                    events.append(
                        order(n, 8_800 + 700 * g, f"s{g + 1}", seller_name=NAMES[g],
                              group=f"g{g + 1}", ts=iso(minute0 - back * 60_000 + k * 1000))
                    )  # fmt: skip
                    n += 1
            await stack.post("double11", c["ingest_token"], events)
            total = sum(e["amount_fen"] for e in events)
            await stack.settle("double11", c["viewer_token"], total)
            rt = stack.runtime
            record = await rt.campaigns.get("double11")
            rule = record.settings.stimulus_rules[0]
            await proposals.propose(rt.reports, record, "fire:午后回暖:1:p1", rule, now - 90_000)
            (proposal,) = rt.reports.proposals(record.id)

            async with launch() as browser:
                ctx = await browser.new_context(viewport={"width": 1320, "height": 900})
                page = await ctx.new_page()
                await console_sign_in(page, base)
                await page.goto(f"{base}/admin/c/double11")
                await page.wait_for_selector("#proposals .proposal")
                card = page.locator("#live")
                await card.screenshot(path=str(out_dir / "console-proposal.png"))
                await ctx.close()

                async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                    res = await client.post(
                        f"/api/v1/campaigns/double11/stimuli/{proposal.id}/approve",
                        headers=OWNER,
                    )
                    assert res.status_code == 200, res.text
                fired = rt.reports.fire(record.id, proposal.id)
                tasks = rt.reports.tasks(record.id)
                seller = tasks[0]["seller_id"]
                _, token = await rt.links.create(
                    record, kind="host", masked=False, seller_id=seller, label="团长"
                )
                assert fired.status == "fired"
                ctx = await browser.new_context(**PHONE)
                page = await ctx.new_page()
                await page.goto(f"{base}/c/double11/host?token={token}")
                await page.wait_for_selector("#tasks:not([hidden]) .task")
                await page.wait_for_timeout(600)  # the socket's first frame
                await page.screenshot(path=str(out_dir / "host-task.png"))
                await ctx.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens"))
