"""Legible stills (issue 23, points 1, 3, 5): the wall and the host view photographed at
the sale's moments show no element over another, whole digits while numbers change,
rows that never slide over each other, and after the end a final figure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.browser import moments
from tests.browser.conftest import Watched, wait_js
from tests.browser.live import Stack, order
from tests.browser.overlaps import clipped, overlaps

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(600)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sale(stack: Stack) -> AsyncIterator[dict[str, dict[str, str]]]:
    yield {
        "opening": await moments.opening(stack),
        "midsale": await moments.midsale(stack),
        "closed": await moments.closed(stack),
    }


SLUG = {"opening": "opening", "midsale": "double11", "closed": "closed"}


async def open_page(
    browser: Any, url: str, live: bool = True, **context_kw: Any
) -> tuple[Any, Watched]:
    """conftest's, with a longer wait (the mid-sale campaign's pages carry three hours).
    `live=False`: the server-rendered page is enough (the host view's layout is the
    server's; its socket, after the walls of the same campaigns, has not come up within
    90 s in this module: left to test_host.py, noted in the report)."""
    context = await browser.new_context(**context_kw)
    page = await context.new_page()
    watched = Watched(page)
    await page.goto(url)
    ready = "html[data-conn=live]" if live else "#app"
    await page.wait_for_selector(ready, state="attached", timeout=30_000)
    return context, watched


async def ready_wall(page: Any, moment: str) -> None:
    await page.wait_for_selector("#chart .main-svg", timeout=10_000)
    if moment == "midsale":
        await page.wait_for_selector("#cold-groups:not([hidden])", timeout=15_000)
        await page.wait_for_selector("#banner:not([hidden])", timeout=10_000)
    if moment == "closed":
        await page.wait_for_selector("#review-slot #review-link:not([hidden])", timeout=15_000)
    await page.wait_for_timeout(1200)  # the chart redrawn to its box, glows over


@pytest.mark.parametrize("size", sorted(moments.SIZES))
@pytest.mark.parametrize("moment", ["opening", "midsale", "closed"])
async def test_nothing_on_the_wall_covers_anything_else(
    stack: Stack, browser: Any, sale: dict[str, dict[str, str]], moment: str, size: str
) -> None:
    width, height = moments.SIZES[size]
    c = sale[moment]
    url = f"{stack.web.url}/c/{SLUG[moment]}?token={c['viewer_token']}"
    context, w = await open_page(browser, url, viewport={"width": width, "height": height})
    try:
        page = w.page
        await ready_wall(page, moment)
        scale = await page.evaluate(
            "document.getElementById('stage').getBoundingClientRect().width / 1920"
        )
        found = await overlaps(page, blocks=moments.WALL, slack=max(0.5, 3 * scale))
        assert found == [], "\n".join(found)
        # the headline is whole and nothing is cut in the banner or the 战报 column
        assert await clipped(page, "#gmv, #banner [data-f=text], #reports .report-text") == []
        cards = await page.evaluate(
            """(() => { const box = document.getElementById('reports').getBoundingClientRect();
            return [...document.querySelectorAll('#reports > li:not([hidden])')]
              .map(li => li.getBoundingClientRect())
              .filter(r => r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5).length; })()"""
        )
        assert cards == 0, "a 战报 card is cut by the column's edge"
        forecast = await page.inner_text("#forecast")
        if moment == "closed":
            assert "预计收官" not in forecast and "最终成交" in forecast, forecast
            gmv = await page.get_attribute("#gmv", "aria-label")
            assert gmv in forecast, (gmv, forecast)
            assert await page.is_hidden(".bar-proj")
        if moment == "midsale":
            assert "预计收官" in forecast and " – " in forecast, forecast
            assert moments.RAIN_TEXT in await page.inner_text("#banner")
        w.assert_clean()
    finally:
        await context.close()


@pytest.mark.parametrize("size", sorted(moments.SIZES))
@pytest.mark.parametrize("moment", ["opening", "midsale", "closed"])
async def test_nothing_on_the_host_view_covers_anything_else(
    stack: Stack, browser: Any, sale: dict[str, dict[str, str]], moment: str, size: str
) -> None:
    width, height = moments.SIZES[size]
    c = sale[moment]
    url = f"{stack.web.url}/c/{SLUG[moment]}/host?token={c['viewer_token']}&seller=s3"
    context, w = await open_page(
        browser, url, live=False, viewport={"width": width, "height": height}
    )
    try:
        page = w.page
        await page.wait_for_timeout(1200)
        # the whole page, not only the first screen: photographed scrolled too
        tall = await page.evaluate("document.documentElement.scrollHeight")
        await page.set_viewport_size({"width": width, "height": max(height, tall)})
        await page.wait_for_timeout(300)
        found = await overlaps(page, blocks=moments.HOST)
        assert found == [], "\n".join(found)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        w.assert_clean()
    finally:
        await context.close()


SAMPLER = """
(() => {
  const out = window.__stills = [];
  const stage = document.getElementById('stage');
  function frame() {
    const gmv = document.getElementById('gmv');
    const moved = [];
    stage.querySelectorAll('*').forEach(function (el) {
      if (el.closest('#rain, #chart')) return; // decoration; Plotly's own (static) svg
      const cs = getComputedStyle(el);
      if (cs.transform !== 'none') moved.push(el.tagName + '.' + el.className);
    });
    const boards = {};
    document.querySelectorAll('.board').forEach(function (ol) {
      const rows = [...ol.children].map(function (li) {
        const r = li.getBoundingClientRect();
        return [li.dataset.id, r.top, r.bottom, parseFloat(getComputedStyle(li).opacity)];
      });
      boards[ol.id] = rows;
    });
    out.push({ text: gmv.textContent, label: gmv.getAttribute('aria-label'),
               kids: gmv.children.length, moved: moved, boards: boards });
    if (out.length < 100000) requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
})()
"""


async def test_a_still_at_any_instant_shows_whole_digits_and_rows(
    stack: Stack, browser: Any
) -> None:
    """Every animation frame while the headline and the boards change: the headline is
    its whole text (no digit strips, nothing moved by a transform), every row is fully
    opaque and none overlaps another."""
    c = await stack.create_campaign(slug="stills")
    await stack.post("stills", c["ingest_token"], [order("st0", 100_000, "s1", seller_name="老周")])
    await stack.settle("stills", c["viewer_token"], 100_000)
    url = f"{stack.web.url}/c/stills?token={c['viewer_token']}"
    context, w = await open_page(browser, url, viewport={"width": 1920, "height": 1080})
    try:
        page = w.page
        await page.wait_for_selector("#board-sellers li[data-id=s1]")
        await page.evaluate(SAMPLER)
        total = 100_000
        shots = []
        for i in range(1, 9):
            # each post overtakes: the seller behind jumps ahead, the headline changes
            amount = 123_457 * i
            await stack.post(
                "stills",
                c["ingest_token"],
                [order(f"st{i}", amount, f"s{i % 3 + 1}", seller_name=f"团长{i % 3 + 1}")],
            )
            total += amount
            for _ in range(3):
                await asyncio.sleep(0.1)
                shots.append(
                    await page.screenshot(clip={"x": 0, "y": 100, "width": 1920, "height": 980})
                )
        await stack.settle("stills", c["viewer_token"], total)
        await wait_js(
            page, f"document.getElementById('gmv').dataset.fen === '{total}'", timeout=5.0
        )
        await page.wait_for_timeout(500)
        frames = await page.evaluate("window.__stills")
        assert len(frames) > 60, len(frames)
        assert len({f["text"] for f in frames}) >= 5, "the headline did not change"
        for f in frames:
            assert f["kids"] == 0 and f["text"] == f["label"], f
            assert f["moved"] == [], f["moved"]
            for board, rows in f["boards"].items():
                assert all(op == 1 for _, _, _, op in rows), (board, rows)
                spans = sorted((top, bottom) for _, top, bottom, _ in rows)
                for (_, b1), (t2, _) in zip(spans, spans[1:], strict=False):
                    assert t2 >= b1 - 0.5, (board, rows)
        assert len(shots) == 24
        w.assert_clean()
    finally:
        await context.close()


async def test_reduced_motion_stills_nothing(stack: Stack, browser: Any) -> None:
    c = await stack.create_campaign(slug="calm")
    url = f"{stack.web.url}/c/calm?token={c['viewer_token']}"
    context, w = await open_page(
        browser, url, viewport={"width": 1920, "height": 1080}, reduced_motion="reduce"
    )
    try:
        page = w.page
        await stack.post("calm", c["ingest_token"], [order("c1", 500_000, "s1")])
        await wait_js(page, "document.getElementById('gmv').dataset.fen === '500000'")
        assert (
            await page.evaluate("getComputedStyle(document.getElementById('gmv')).animationName")
            == "none"
        )
        assert (
            await page.evaluate(
                "getComputedStyle(document.querySelector('.board .row')).transitionDuration"
            )
            == "0s"
        )
        assert (
            await page.evaluate("getComputedStyle(document.getElementById('rain')).display")
            == "none"
        )
        w.assert_clean()
    finally:
        await context.close()
