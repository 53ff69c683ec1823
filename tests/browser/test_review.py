"""The retrospective page and the 冷群提醒 panel in Chromium: charts drawn under the
page's Content-Security-Policy, names inert, no console error."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser.conftest import Watched, open_page, wait_js
from tests.browser.live import Stack, order

pytestmark = pytest.mark.asyncio(loop_scope="module")
MIN = 60_000
HOSTILE = "<img src=x onerror=alert(1)>冷群"


async def test_cold_groups_panel_lists_the_coldest_groups(stack: Stack, browser: Any) -> None:
    c = await stack.create_campaign(slug="chill")
    now = int(time.time() * 1000)
    cold = order("c1", 10_000, group="gcold", group_name=HOSTILE)
    cold["ts"] = now - 50 * MIN
    warm = order("w1", 20_000, group="gwarm", group_name="热闹群")
    talk = {"type": "message", "message_id": "t1", "group_id": "gwarm", "member_id": "u1"}
    await stack.post("chill", c["ingest_token"], [cold, warm, talk])
    await stack.settle("chill", c["viewer_token"], 30_000)
    context, w = await open_page(browser, f"{stack.web.url}/c/chill?token={c['viewer_token']}",
                                 viewport={"width": 1920, "height": 1080})  # fmt: skip
    try:
        page = w.page
        await page.wait_for_selector("#cold-groups:not([hidden])", timeout=10_000)
        names = await page.eval_on_selector_all(
            "#cold-groups .cg-name", "ls => ls.map(l => [l.tagName, l.textContent])"
        )
        assert ["BDI", HOSTILE] in names
        assert "热闹群" not in [n for _, n in names]
        since = await page.inner_text("#cold-groups .cg-row.cold .cg-since")
        assert since.startswith("冷了 ") and since.endswith(" 分钟")
        assert await page.is_hidden("#review-link")  # the sale is on
        assert await page.evaluate("document.querySelectorAll('#stage img').length") == 0
        w.assert_clean()
    finally:
        await context.close()


async def test_review_page_draws_its_charts_cleanly(stack: Stack, browser: Any) -> None:
    c = await stack.create_campaign(slug="recap")
    await stack.post("recap", c["ingest_token"], [order(f"r{i}", 5_000 + i) for i in range(20)])
    await stack.settle("recap", c["viewer_token"], sum(5_000 + i for i in range(20)))
    context = await browser.new_context(viewport={"width": 1440, "height": 1200})
    page = await context.new_page()
    w = Watched(page)
    try:
        await page.goto(f"{stack.web.url}/c/recap/review?token={c['viewer_token']}")
        await page.wait_for_selector("#curve .main-svg", timeout=10_000)
        await page.wait_for_selector("#members-chart .main-svg", timeout=10_000)
        await wait_js(page, "document.querySelector('#kpi-orders').textContent === '20'")
        assert await page.is_visible("#print")
        w.assert_clean()
    finally:
        await context.close()
