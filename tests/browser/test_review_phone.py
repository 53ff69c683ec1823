"""The review page on a phone and on a wall (issue 23, point 4): hosts receive review
links, so at 390×844 the page never scrolls sideways, its title reads as a title (not a
character a line), wide tables scroll inside their card, the charts fit their boxes;
at 1920×1080 and 390×844 no box covers another (tests/browser/overlap_review.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import Watched
from tests.browser.live import Stack, iso, order
from tests.browser.overlap_review import h_overflow, overlaps
from tests.conftest import ADMIN

pytestmark = pytest.mark.asyncio(loop_scope="module")
WALL = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
NAME = "双十一社群快闪 · 宠粉专场 · 年终大促第二波"
BLOCKS = ".f-bar"


async def a_day(stack: Stack) -> dict[str, str]:
    """Four hours of a sale with several sellers, groups and products, members and
    messages, and a stimulus fired by hand: every card and table of the page filled
    (17 sellers whose ranks move: two-digit rank histories, the widest board rows)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    starts = now - timedelta(hours=4)
    c = await stack.create_campaign(
        slug="phone",
        name=NAME,
        starts_at=iso(starts),
        ends_at=iso(now + timedelta(hours=1)),
        milestones_fen=[100_000, 300_000],
        stimulus_rules=[
            {"name": "午后提神", "action": {"kind": "red_packet_rain", "amount_fen": 50_000,
                                         "text": "整点红包雨！"}}
        ],
    )  # fmt: skip
    events: list[dict[str, Any]] = []
    for i in range(120):
        ts = iso(starts + timedelta(minutes=2 * i))
        events.append(order(f"p{i}", 3_000 + 37 * i, f"s{i * i % 17}", seller_name=f"团长{i * i % 17}号·社区优选",
                            group=f"g{i % 5}", group_name=f"阳光花园 {i % 5} 群",
                            product=f"k{i % 6}", product_name=f"赣南脐橙 {i % 6} 斤装", ts=ts))  # fmt: skip
        events.append({"type": "message", "message_id": f"m{i}", "group_id": f"g{i % 5}",
                       "member_id": f"b{i}", "ts": ts})  # fmt: skip
        events.append({"type": "member", "event_id": f"j{i}", "group_id": f"g{i % 5}",
                       "member_id": f"b{i}", "action": "join", "ts": ts})  # fmt: skip
    await stack.post("phone", c["ingest_token"], events)
    await stack.settle("phone", c["viewer_token"], sum(3_000 + 37 * i for i in range(120)))
    assert stack.client is not None
    res = await stack.client.post(
        "/api/v1/campaigns/phone/stimuli",
        json={"rule": "午后提神"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert res.status_code == 201, res.text
    return c


async def open_review(browser: Any, url: str, viewport: dict[str, int]) -> tuple[Any, Watched]:
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    watched = Watched(page)
    await page.goto(url)
    await page.wait_for_selector("#curve .main-svg", timeout=15_000)
    await page.wait_for_selector("#members-chart .main-svg", timeout=15_000)
    return context, watched


async def test_the_review_fits_a_phone_and_a_wall_with_nothing_covered(
    stack: Stack, browser: Any
) -> None:
    c = await a_day(stack)
    url = f"{stack.web.url}/c/phone/review?token={c['viewer_token']}"

    context, w = await open_review(browser, url, PHONE)
    try:
        page = w.page
        width, inner = await h_overflow(page)
        assert width <= inner, f"the page scrolls sideways: {width} > {inner}"
        title = await page.eval_on_selector(".rv-top h1", "h => h.getBoundingClientRect()")
        # the bug: 1,200 px wide, the title a character or two a line
        assert title["width"] >= 0.8 * (inner - 24), title
        assert title["height"] <= 3 * 32, title  # at most three lines
        # each chart drawn at its box's width, inside the screen
        for chart in ("#curve", "#members-chart"):
            box = await page.eval_on_selector(
                chart + " .main-svg",
                "s => { const r = s.getBoundingClientRect(); return [r.left, r.right]; }",
            )
            assert box[0] >= 0 and box[1] <= inner, (chart, box)
        # the hours table scrolls inside its card, and the card stays inside the screen
        wrap = await page.eval_on_selector(
            "#hours", "t => [t.parentElement.clientWidth, t.parentElement.scrollWidth]"
        )
        assert wrap[0] <= inner
        # the stimulus table stacks: each cell on its own line, labelled
        cells = await page.eval_on_selector_all(
            "#stimuli tbody tr:first-child td",
            "tds => tds.map(td => [td.getBoundingClientRect().top, td.dataset.label])",
        )
        tops = [t for t, _ in cells]
        assert tops == sorted(tops) and len(set(tops)) == len(tops) == 6, cells
        covered = await overlaps(page, BLOCKS)
        assert covered == [], covered
        w.assert_clean()
    finally:
        await context.close()

    # a narrower phone (many Androids are 360 px): still no sideways scroll, the wide
    # boards scroll inside their cards rather than widen the grid
    context, w = await open_review(browser, url, {"width": 360, "height": 740})
    try:
        width, inner = await h_overflow(w.page)
        assert width <= inner, f"the page scrolls sideways: {width} > {inner}"
        assert await overlaps(w.page, BLOCKS) == []
    finally:
        await context.close()

    context, w = await open_review(browser, url, WALL)
    try:
        page = w.page
        width, inner = await h_overflow(page)
        assert width <= inner
        covered = await overlaps(page, BLOCKS)
        assert covered == [], covered
        # the wall keeps its table: the stimulus cells side by side
        tops = await page.eval_on_selector_all(
            "#stimuli tbody tr:first-child td",
            "tds => tds.map(td => td.getBoundingClientRect().top)",
        )
        assert len(set(tops)) == 1, tops
        w.assert_clean()
    finally:
        await context.close()


async def test_the_overlap_check_sees_a_covered_block(stack: Stack, browser: Any) -> None:
    """The check itself: a card pushed over the next is found (it would be a false
    comfort if it found nothing anywhere)."""
    c = await stack.create_campaign(slug="covered")
    await stack.post("covered", c["ingest_token"], [order("x1", 9_900)])
    await stack.settle("covered", c["viewer_token"], 9_900)
    context, w = await open_review(
        browser, f"{stack.web.url}/c/covered/review?token={c['viewer_token']}", PHONE
    )
    try:
        page = w.page
        assert await overlaps(page, BLOCKS) == []
        await page.evaluate(
            "document.querySelector('.kpis').style.marginBottom = '-160px';"
            "document.querySelector('.kpis').style.position = 'relative';"
            "document.querySelector('.kpis').style.zIndex = '2'"
        )
        assert await overlaps(page, BLOCKS) != []
    finally:
        await context.close()
