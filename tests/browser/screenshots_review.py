"""The review page on a wall and on a phone, and the console during and after the sale
(issue 23, points 4 and 5).

    .venv/bin/python -m tests.browser.screenshots_review [out_dir]   (default: docs/screens)

The same sale as `screenshots.py` (three hours in, a rule fired, battle reports); the
console is photographed live, then the sale is ended early from the console itself
(its own button), and the console, the review page (1920×1080 and 390×844, the whole
page) and the console's review are photographed after the close. Every page is also
checked for sideways scrolling and covered boxes (tests/browser/overlap_review.py), so
a bad still fails here before anyone looks at it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from tests.browser.browser import launch
from tests.browser.live import ROOT, console_sign_in, live_stack, shots_settings
from tests.browser.overlap_review import h_overflow, overlaps
from tests.browser.screenshots import populate

WALL = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
BLOCKS = ".f-bar, .bar-track"
WIDE_JS = """[...document.body.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right
  > innerWidth + 0.5 && ![...e.children].some(c => c.getBoundingClientRect().right > innerWidth + 0.5))
  .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


async def checked(page: Any, label: str) -> None:
    covered = await overlaps(page, BLOCKS)
    width, inner = await h_overflow(page)
    print(f"{label}: scrollWidth {width} / {inner}, overlaps {covered}")
    if width > inner:  # name the culprits: the innermost boxes past the right edge
        wide = await page.evaluate(WIDE_JS)
        raise AssertionError(f"{label} scrolls sideways: {wide}")
    assert covered == [], f"{label}: {covered}"


async def review(browser: Any, url: str, out: Path, name: str, viewport: dict[str, int]) -> None:
    scale = 2 if viewport["width"] < 500 else 1
    page = await browser.new_page(viewport=viewport, device_scale_factor=scale)
    page.on("pageerror", lambda e: print("pageerror:", e))
    page.on("console", lambda m: print("console:", m.text) if m.type == "error" else None)
    await page.goto(url)
    await page.wait_for_selector("#curve .main-svg")
    await page.wait_for_selector("#members-chart .main-svg")
    await page.wait_for_timeout(500)
    await checked(page, name)
    await page.screenshot(path=str(out / name), full_page=True)
    await page.close()


async def console(browser: Any, base: str, out: Path, name: str, viewport: dict[str, int]) -> Any:
    scale = 2 if viewport["width"] < 500 else 1
    context = await browser.new_context(viewport=viewport, device_scale_factor=scale)
    page = await context.new_page()
    await console_sign_in(page, base)
    await page.goto(f"{base}/admin/c/double11")
    await page.wait_for_selector("#actions")
    await page.wait_for_timeout(400)
    await checked(page, name)
    await page.screenshot(path=str(out / name), full_page=viewport["width"] < 500)
    return context


async def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with shots_settings("wr-shots-review-") as (settings, tmp):
        async with live_stack(settings, tmp) as stack:
            created = await populate(stack)
            base = stack.web.url
            url = f"{base}/c/double11/review?token={created['viewer_token']}"
            async with launch() as browser:
                live = await console(browser, base, out_dir, "console-live.png", WALL)
                phone = await console(browser, base, out_dir, "console-live-phone.png", PHONE)
                await phone.close()
                page = live.pages[0]
                page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
                await page.click("#end-now")
                await page.wait_for_selector("#ended")
                await live.close()
                for name, viewport in (
                    ("console-ended.png", WALL),
                    ("console-ended-phone.png", PHONE),
                ):
                    await (await console(browser, base, out_dir, name, viewport)).close()
                await review(browser, url, out_dir, "review-wall.png", WALL)
                await review(browser, url, out_dir, "review-phone.png", PHONE)
    print(f"screenshots in {out_dir}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens"
    asyncio.run(main(target))
