"""The host view on a 390 px phone in Chromium: one-tap copy (clipboard API and the
plain-HTTP fallback), live reports, the seller picker (htmx), inert names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import open_page, wait_js
from tests.browser.live import Stack, order

pytestmark = pytest.mark.asyncio(loop_scope="module")
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
CLIPBOARD = ["clipboard-read", "clipboard-write"]
# Emoji, blank-padded lines, markup and a bidi override: all must survive the copy.
TEXT = "🎉 双十一快闪突破 ¥50万！\n🥇 <b>王姐</b>  ¥12万 ▲1\n\u202eevil\u202c 第 3\n👉 冲鸭！ "
# Over plain HTTP on a LAN address the clipboard API is missing: simulate that.
NO_CLIPBOARD_API = (
    "Object.defineProperty(Navigator.prototype, 'clipboard', {get: () => undefined});"
)


def host_url(stack: Stack, slug: str, token: str) -> str:
    return f"{stack.web.url}/c/{slug}/host?token={token}"


async def clipboard(browser: Any, stack: Stack) -> str:
    """Read the browser's clipboard from a separate page that may (a secure context)."""
    context = await browser.new_context(permissions=CLIPBOARD)
    try:
        page = await context.new_page()
        await page.goto(stack.web.url + "/healthz")
        return await page.evaluate("navigator.clipboard.readText()")
    finally:
        await context.close()


async def test_copy_button_puts_the_exact_report_on_the_clipboard(
    stack: Stack, browser: Any
) -> None:
    c = await stack.create_campaign(slug="copy")
    await stack.push_report("copy", 1, "📣 第一份战报")
    await stack.push_report("copy", 2, TEXT)
    context, w = await open_page(
        browser, host_url(stack, "copy", c["viewer_token"]), permissions=CLIPBOARD, **PHONE
    )
    try:
        page = w.page
        assert await page.inner_text("#newest-text") == TEXT  # visible for a long press
        await page.tap("text=一键复制战报")
        await page.wait_for_selector("button.copy.big.ok")
        assert await clipboard(browser, stack) == TEXT
        # A report posted now replaces the newest one, live, and copies as exactly.
        live = "⏰ 11:00 战报\n💰 累计 ¥60万\n\n🙏 感谢大家"
        await stack.push_report("copy", 3, live, kind="scheduled")
        await wait_js(page, "document.getElementById('newest-text').dataset.id === '3'")
        await page.tap("text=一键复制战报")
        await wait_js(page, "document.querySelector('button.copy.big').classList.contains('ok')")
        assert await clipboard(browser, stack) == live
        # Earlier reports keep their own copy buttons.
        await page.tap("#older li[data-id='2'] button.copy")
        await wait_js(
            page,
            "document.querySelector(\"#older li[data-id='2'] button\").classList.contains('ok')",
        )
        assert await clipboard(browser, stack) == TEXT
        w.assert_clean()
    finally:
        await context.close()


async def test_copy_works_without_the_clipboard_api(stack: Stack, browser: Any) -> None:
    c = await stack.create_campaign(slug="plainhttp")
    await stack.push_report("plainhttp", 1, TEXT)
    context = await browser.new_context(**PHONE)
    await context.add_init_script(NO_CLIPBOARD_API)
    try:
        page = await context.new_page()
        await page.goto(host_url(stack, "plainhttp", c["viewer_token"]))
        await page.wait_for_selector("html[data-conn=live]", state="attached")
        assert await page.evaluate("navigator.clipboard === undefined")
        await page.tap("text=一键复制战报")
        await page.wait_for_selector("button.copy.big.ok")
        assert await page.inner_text("#toast") == "已复制 ✓ 去群里粘贴吧"
        assert await clipboard(browser, stack) == TEXT
    finally:
        await context.close()


async def test_stimulus_announcement_and_seller_rank(stack: Stack, browser: Any) -> None:
    c = await stack.create_campaign(slug="mine")
    await stack.post(
        "mine",
        c["ingest_token"],
        [
            order("m1", 500_000, "s1", seller_name="老周水果"),
            order("m2", 320_000, "s2", seller_name="阿芳生鲜"),
            order("m3", 100_000, "s3", seller_name="<img src=x onerror=alert(1)>"),
        ],
    )
    await stack.settle("mine", c["viewer_token"], 920_000)
    context, w = await open_page(
        browser, host_url(stack, "mine", c["viewer_token"]), permissions=CLIPBOARD, **PHONE
    )
    try:
        page = w.page
        assert await page.is_hidden("#stim")
        await stack.push_stimulus("mine", 1, "整点红包雨，5000 元红包马上开抢！")
        await page.wait_for_selector("#stim:not([hidden])")
        want = "🧧 红包雨｜整点红包雨，5000 元红包马上开抢！"
        assert await page.inner_text("#stim-text") == want
        await page.tap("text=复制福利通知")
        await page.wait_for_selector("#stim button.ok")
        assert await clipboard(browser, stack) == want
        # The host picks their name (htmx swaps in the server-rendered card).
        options = await page.eval_on_selector_all(
            "#seller option", "os => os.map(o => o.textContent)"
        )
        assert options[1:] == ["1. 老周水果", "2. 阿芳生鲜", "3. <img src=x onerror=alert(1)>"]
        await page.select_option("#seller", "s2")
        await page.wait_for_selector("#seller-card .my-rank")
        card = await page.inner_text("#seller-card")
        assert "第 2 名" in card and "还差 ¥1,800" in card and "老周水果" in card
        await page.select_option("#seller", "s3")
        await page.wait_for_selector("#seller-card:has-text('第 3 名')")
        assert "<img src=x onerror=alert(1)>" in await page.inner_text("#seller-card")
        # Remembered on this phone: a reload shows the same card.
        await page.reload()
        await page.wait_for_selector("#seller-card:has-text('第 3 名')")
        await page.wait_for_timeout(300)
        assert await page.evaluate("document.querySelectorAll('img').length") == 0
        w.assert_clean()
    finally:
        await context.close()
