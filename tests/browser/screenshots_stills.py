"""Screenshots of the wall and the host view at the sale's moments (issue 23): the
opening, mid-sale (冷群提醒 and a 红包雨 banner up), after the end (查看复盘), each at
1920x1080 and 390x844.

    .venv/bin/python -m tests.browser.screenshots_stills [out_dir]   (default: docs/screens)

Writes stills-{wall,host}-{opening,midsale,closed}-{1920,390}.png."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.browser import moments
from tests.browser.browser import launch
from tests.browser.live import ROOT, live_stack, shots_settings

SLUG = {"opening": "opening", "midsale": "double11", "closed": "closed"}


async def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with shots_settings("wr-stills-") as (settings, tmp):
        async with live_stack(settings, tmp) as stack:
            sale = {
                "opening": await moments.opening(stack),
                "midsale": await moments.midsale(stack),
                "closed": await moments.closed(stack),
            }
            async with launch() as browser:
                for moment, c in sale.items():
                    base = f"{stack.web.url}/c/{SLUG[moment]}"
                    token = c["viewer_token"]
                    for width, height in moments.SIZES.values():
                        page = await browser.new_page(viewport={"width": width, "height": height})
                        await page.goto(f"{base}?token={token}")
                        await page.wait_for_selector("#chart .main-svg", timeout=30_000)
                        if moment == "midsale":
                            await page.wait_for_selector("#cold-groups:not([hidden])")
                            await page.wait_for_selector("#banner:not([hidden])")
                        if moment == "closed":
                            await page.wait_for_selector("#review-link:not([hidden])")
                        await page.wait_for_timeout(1500)
                        await page.screenshot(
                            path=str(out_dir / f"stills-wall-{moment}-{width}.png")
                        )
                        await page.goto(f"{base}/host?token={token}&seller=s3")
                        await page.wait_for_selector("html[data-conn=live]", state="attached")
                        await page.wait_for_timeout(1500)
                        await page.screenshot(
                            path=str(out_dir / f"stills-host-{moment}-{width}.png"), full_page=True
                        )
                        await page.close()
    print(f"screenshots in {out_dir}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens"
    asyncio.run(main(target))
