"""A masked wall link in Chromium: while orders flow, the rendered page never shows an
amount (the server sends none); the same sale on the full screen does."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from tests.browser.conftest import open_page, wait_js
from tests.browser.live import Stack, order
from tests.conftest import ADMIN

pytestmark = pytest.mark.asyncio(loop_scope="module")
SCREEN = {"viewport": {"width": 1920, "height": 1080}}
MONEY = re.compile(r"[¥￥]\s?\d|\d\s*万|\d\s*元")


async def test_masked_wall_shows_no_amount_while_orders_flow(stack: Stack, browser: Any) -> None:
    c = await stack.create_campaign(slug="maskedwall", milestones_fen=[2_000_000, 5_000_000])
    assert stack.client is not None
    res = await stack.client.post(
        "/api/v1/campaigns/maskedwall/links",
        json={"kind": "wall", "masked": True},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert res.status_code == 201
    url = res.json()["url"]
    context, w = await open_page(browser, url, **SCREEN)
    try:
        page = w.page
        await page.wait_for_selector("#chart .main-svg")
        assert await page.get_attribute("#gmv", "data-fen") == ""
        for i in range(6):
            await stack.post(
                "maskedwall",
                c["ingest_token"],
                [order(f"m{i}", 1_234_500 + i, f"s{i % 3}", seller_name=f"团长{i % 3}")],
            )
            await asyncio.sleep(0.4)
            text = await page.inner_text("body")
            assert not MONEY.search(text), MONEY.search(text)
        await wait_js(page, "document.querySelector('#kpis [data-k=orders]').textContent === '6'")
        await page.wait_for_selector("#board-sellers li[data-id=s0]")
        text = await page.inner_text("body")
        assert not MONEY.search(text), MONEY.search(text)
        assert "%" in await page.inner_text("#gmv")
        html = await page.content()
        assert "1234500" not in html and "7407015" not in html
        w.assert_clean()
    finally:
        await context.close()
    full_ctx, full = await open_page(
        browser, f"{stack.web.url}/c/maskedwall?token={c['viewer_token']}", **SCREEN
    )
    try:
        await full.page.wait_for_selector("#board-sellers li[data-id=s0]")
        assert MONEY.search(await full.page.inner_text("body"))
    finally:
        await full_ctx.close()
