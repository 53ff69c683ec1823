"""The console after the close (issue 23, point 5): the actions of the sale are gone,
the page says the sale has ended and links the review, and the server refuses a manual
fire, an announcement and a pause (API and console routes) with a 409 that changes
nothing. During and after the sale no box covers another at 1920×1080 or 390×844."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import Watched
from tests.browser.live import Stack, console_sign_in, iso, order
from tests.browser.overlap_review import overlaps
from tests.conftest import ADMIN

pytestmark = pytest.mark.asyncio(loop_scope="module")
WALL = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
RULE = {
    "name": "午后提神",
    "action": {"kind": "red_packet_rain", "amount_fen": 50_000, "text": "整点红包雨！"},
}
ACTIONS = ("[data-fire]", "#announce", "#pause", "#resume", "#end-now")
ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
BLOCKS = ".f-bar, .bar-track"

# A console change from inside the signed-in page: its session cookie and CSRF token.
POST_JS = """async ([path, fields]) => {
  const csrf = JSON.parse(document.querySelector('.shell').getAttribute('hx-headers:inherited'))['X-CSRF-Token'];
  const res = await fetch(path, {method: 'POST', headers: {'X-CSRF-Token': csrf},
                                 body: new URLSearchParams(fields)});
  return [res.status, await res.text()];
}"""


async def signed_in(browser: Any, stack: Stack, viewport: dict[str, int]) -> tuple[Any, Watched]:
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    watched = Watched(page)
    await console_sign_in(page, stack.web.url)
    return context, watched


async def overview(page: Any, stack: Stack, slug: str) -> None:
    await page.goto(f"{stack.web.url}/admin/c/{slug}")
    await page.wait_for_selector("#actions")


async def state_of(stack: Stack, slug: str, viewer: str) -> tuple[Any, ...]:
    """What a refused action must not change: the stimuli, the pause flag, the audit."""
    assert stack.client is not None
    stimuli = await stack.client.get(f"/api/v1/campaigns/{slug}/stimuli", params={"token": viewer})
    listed = await stack.client.get("/api/v1/campaigns", headers=ADMIN_H)
    (mine,) = [c for c in listed.json() if c["slug"] == slug]
    record = await stack.runtime.campaigns.get(slug)
    audit = await asyncio.to_thread(stack.runtime.store.audit_log, record.id, 100)
    return stimuli.json(), mine["rules_paused"], [a["action"] for a in audit]


async def test_console_during_the_sale_then_ended(stack: Stack, browser: Any) -> None:
    now = datetime.now(UTC)
    c = await stack.create_campaign(
        slug="closing",
        name="双十二社群快闪 · 年终宠粉大促专场",
        starts_at=iso(now - timedelta(hours=2)),
        ends_at=iso(now + timedelta(hours=2)),
        stimulus_rules=[RULE],
        stimulus_budget_fen=500_000,
    )
    await stack.post("closing", c["ingest_token"], [order(f"e{i}", 8_800) for i in range(12)])
    await stack.settle("closing", c["viewer_token"], 12 * 8_800)
    assert stack.client is not None
    fired = await stack.client.post(
        "/api/v1/campaigns/closing/stimuli", json={"rule": "午后提神"}, headers=ADMIN_H
    )
    assert fired.status_code == 201, fired.text

    # during the sale: every action offered, nothing covered, on a laptop wall and a phone
    for viewport in (WALL, PHONE):
        context, w = await signed_in(browser, stack, viewport)
        try:
            await overview(w.page, stack, "closing")
            for sel in ACTIONS[:3] + ("#end-now",):
                assert await w.page.is_visible(sel), sel
            assert await w.page.query_selector("#ended") is None
            assert await overlaps(w.page, BLOCKS) == [], viewport
            w.assert_clean()
        finally:
            await context.close()

    # the operator ends the sale from the console (confirming its dialog, which a
    # Watched page would count as a failure): the panel turns into the ended note
    context = await browser.new_context(viewport=WALL)
    try:
        page = await context.new_page()
        page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
        await console_sign_in(page, stack.web.url)
        await overview(page, stack, "closing")
        await page.click("#end-now")
        await page.wait_for_selector("#ended", timeout=10_000)
        before = await state_of(stack, "closing", c["viewer_token"])

        # refused by the console's own routes: 409, and the ended panel again
        for path, fields in (
            ("/admin/c/closing/fire", {"rule": "午后提神"}),
            ("/admin/c/closing/fire", {"kind": "announcement", "text": "加场秒杀！"}),
            ("/admin/c/closing/pause", {"paused": "1"}),
        ):
            status, body = await page.evaluate(POST_JS, [path, fields])
            assert status == 409, (path, fields, status)
            assert "活动已收官" in body and 'id="ended"' in body and "data-fire" not in body
        # and by the API: the same 409 with its reason, for a rule and an announcement
        for body in ({"rule": "午后提神"}, {"kind": "announcement", "text": "加场秒杀！"}):
            res = await stack.client.post(
                "/api/v1/campaigns/closing/stimuli", json=body, headers=ADMIN_H
            )
            assert res.status_code == 409, res.text
            assert "ended" in res.json()["error"]
        assert await state_of(stack, "closing", c["viewer_token"]) == before  # nothing changed
    finally:
        await context.close()

    # after the close, on the wall and on a phone: no action, the note, the review link
    for viewport in (WALL, PHONE):
        context, w = await signed_in(browser, stack, viewport)
        try:
            page = w.page
            await overview(page, stack, "closing")
            for sel in ACTIONS:
                assert await page.query_selector(sel) is None, sel
            labels = await page.eval_on_selector_all(
                "#actions button, #actions a, #actions textarea, #actions form",
                "els => els.map(e => e.textContent.trim())",
            )
            assert labels == ["📊 查看复盘", "复盘链接（分享给团长）"]
            assert "活动已收官" in await page.inner_text("#actions")
            assert await overlaps(page, BLOCKS) == [], viewport
            w.assert_clean()
        finally:
            await context.close()

    # the review link opens the retrospective for the signed-in operator
    context, w = await signed_in(browser, stack, WALL)
    try:
        page = w.page
        await overview(page, stack, "closing")
        await page.click("#review-link")
        await page.wait_for_selector("#curve .main-svg", timeout=10_000)
        assert "已收官" in await page.inner_text(".rv-sub")
        assert await page.inner_text("#kpi-orders") == "12"
        assert await page.query_selector(".exports") is None  # no viewer token to export with
        assert await page.is_visible("#console-back")
        w.assert_clean()
    finally:
        await context.close()
