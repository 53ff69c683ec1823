"""In Chromium: orders and no member events, so members are unknown: the wall's 转化率
and 互动率 read "—" with their hint (also after live frames), and the host's own group
reads 在群 "—". WARROOM_SHOTS=1 saves the wall as docs/screens/unknown-ratios.png."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_page, wait_js
from tests.browser.live import Stack, order

pytestmark = pytest.mark.asyncio(loop_scope="module")
SCREEN = {"viewport": {"width": 1920, "height": 1080}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2}
SHOT = Path(__file__).resolve().parents[2] / "docs" / "screens" / "unknown-ratios.png"
NAMES = ["王姐社区团", "阿强团长", "小美团长", "丽丽的小铺", "陈哥优选"]


async def test_unknown_members_read_as_a_dash_on_the_wall_and_host(
    stack: Stack, browser: Any
) -> None:
    c = await stack.create_campaign(slug="nomembers")
    first = [order(f"n{i}", 9_900 + 1_000 * (i % 7), f"s{i % 5 + 1}", seller_name=NAMES[i % 5])
             for i in range(300)]  # fmt: skip
    await stack.post("nomembers", c["ingest_token"], first)
    await stack.settle("nomembers", c["viewer_token"], sum(e["amount_fen"] for e in first))
    url = f"{stack.web.url}/c/nomembers?token={c['viewer_token']}"
    context, w = await open_page(browser, url, **SCREEN)
    try:
        page = w.page
        await stack.post("nomembers", c["ingest_token"], [order("late", 19_900, "s1")])
        await wait_js(page, "document.querySelector('#kpis [data-k=orders]').textContent === '301'")
        for key in ("conversion", "interaction"):
            el = f"#kpis [data-k={key}]"
            assert await page.inner_text(el) == "—"
            assert await page.get_attribute(el, "title") == "无成员数据"
        hints = await page.eval_on_selector_all(
            "#kpis .kpi-hint", "hs => hs.map(h => h.hidden ? '' : h.textContent)"
        )
        assert hints == ["无成员数据", "无成员数据"]
        assert "0.0%" not in await page.inner_text("#kpis")
        if os.environ.get("WARROOM_SHOTS"):
            await page.wait_for_selector("#chart .main-svg")
            await page.wait_for_timeout(1500)  # the rolling digits settle
            await page.screenshot(path=str(SHOT))
        w.assert_clean()
    finally:
        await context.close()
    host = f"{stack.web.url}/c/nomembers/host?token={c['viewer_token']}"
    context, w = await open_page(browser, host, **PHONE)
    try:
        page = w.page
        await wait_js(page, "document.querySelectorAll('#mg-pick option').length > 1")
        await page.select_option("#mg-pick", "g1")
        await page.wait_for_selector("#my-group [data-f=body]:not([hidden])")
        members = "#my-group [data-f=members]"
        await wait_js(page, f"document.querySelector('{members}').textContent === '—'")
        assert await page.get_attribute(members, "title") == "无成员数据"
        w.assert_clean()
    finally:
        await context.close()
