"""Screenshots of scoped links (issue 18):

- `console-scoped-links.png`: the console's links page right after a masked wall link
  was created (its URL and QR code shown once) with a few links in the list, one of
  them revoked.
- `masked-wall.png`: the big screen opened with a masked wall link: percent of target,
  ranks, counts and names, no amount.

    .venv/bin/python -m tests.browser.screenshots_links [out_dir]   (default: docs/screens)
"""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.browser.browser import launch
from tests.browser.live import ROOT, console_sign_in, live_stack, shots_settings
from tests.browser.screenshots_trust import campaign
from tests.conftest import ADMIN

AUTH = {"Authorization": f"Bearer {ADMIN}"}


async def link(stack: Any, slug: str, **body: Any) -> dict[str, Any]:
    res = await stack.client.post(f"/api/v1/campaigns/{slug}/links", json=body, headers=AUTH)
    res.raise_for_status()
    out: dict[str, Any] = res.json()
    return out


async def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with shots_settings("wr-links-") as (settings, tmp):
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        async with live_stack(settings, tmp) as stack:
            await campaign(stack, "double11", now - timedelta(minutes=60), 60)
            await asyncio.sleep(1.5)  # the aggregator drains
            await link(stack, "double11", kind="wall", label="大厅 LED")
            await link(stack, "double11", kind="host", seller_id="s2", label="团长2号")
            old = await link(stack, "double11", kind="review", label="老板复盘")
            await stack.client.delete(f"/api/v1/campaigns/double11/links/{old['id']}", headers=AUTH)
            masked = await link(stack, "double11", kind="wall", masked=True, label="直播间")
            base = stack.web.url
            async with launch() as browser:
                wall = await browser.new_page(viewport={"width": 1920, "height": 1080})
                await wall.goto(masked["url"])
                await wall.wait_for_selector("html[data-seq]", state="attached")
                await wall.wait_for_selector("#chart .main-svg")
                await wall.wait_for_timeout(2500)
                text = await wall.inner_text("body")
                assert not re.search(r"[¥￥]\s?\d|\d万", text), "a masked wall shows an amount"
                await wall.screenshot(path=str(out_dir / "masked-wall.png"))

                page = await browser.new_page(viewport={"width": 1280, "height": 1100})
                await console_sign_in(page, base)
                await page.goto(f"{base}/admin/c/double11/links")
                await page.select_option("#link-kind", "wall_masked")
                await page.fill("#link-label", "直播间大屏（对外）")
                await page.click("#link-create")
                await page.wait_for_selector("#created-link .qr svg")
                await page.screenshot(
                    path=str(out_dir / "console-scoped-links.png"), full_page=True
                )
    print(f"screenshots in {out_dir}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens"
    asyncio.run(main(target))
