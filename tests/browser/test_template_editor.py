"""The report-template editor in Chromium against a live stack: switch to the simple
view, pick a placeholder chip, see the live preview show the campaign's own figure,
be told about a bad placeholder, save, and find the simple text again on reload.

Screenshots (docs/screens/console-template-editor*.png, 1920×1080 and 390×844) when
asked: WARROOM_SCREENSHOTS=1 pytest tests/browser/test_template_editor.py"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Watched, wait_js
from tests.browser.live import Stack, console_sign_in, order

pytestmark = pytest.mark.asyncio(loop_scope="module")
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
TEXT = (
    "📣 {活动名称} {当前时间} 战报\n"
    "💰 累计成交 {累计销售额}\n"
    "⏱ 本时段新增 {本时段增量}\n"
    "📦 {订单数} 单 ｜ 👥 {下单人数} 人下单\n"
    "🎯 基础目标完成 {基础目标进度}，还差 {距基础目标}\n"
    "🏆 团长 TOP：\n{团长榜}\n"
    "🙏 感谢 {感谢名单} 的全力冲刺！\n"
    "📈 今日冠军："
)


async def shot(page: Any, name: str) -> None:
    if os.environ.get("WARROOM_SCREENSHOTS") and SCREENS.is_dir():
        await page.screenshot(path=str(SCREENS / f"{name}.png"))


async def preview_has(page: Any, text: str) -> None:
    await wait_js(
        page,
        "(document.getElementById('preview-text') || {textContent: ''})"
        f".textContent.includes({json.dumps(text)})",
        timeout=10.0,
    )


async def test_pick_a_placeholder_preview_it_and_save(stack: Stack, browser: Any) -> None:
    c = await stack.create_campaign(milestones_fen=[100_000])
    sellers = [("s1", "王姐团购", 98_000), ("s2", "阿强优选", 60_000), ("s3", "花姐好物", 42_000)]
    events = [
        order(f"{sid}-{k}", amount, sid, seller_name=name)
        for sid, name, amount in sellers
        for k in range(3)
    ]
    await stack.post("sale", c["ingest_token"], events)
    await stack.settle("sale", c["viewer_token"], 600_000)  # ¥6,000 from 9 orders

    context = await browser.new_context(viewport={"width": 1920, "height": 1080})
    page = await context.new_page()
    w = Watched(page)
    try:
        await console_sign_in(page, stack.web.url)
        await page.goto(stack.web.url + "/admin/c/sale/templates?kind=scheduled")
        await page.wait_for_selector("#preview-text")
        # the default template uses loops: it opens on the Jinja view
        assert await page.is_visible("#source") and not await page.is_visible("#simple")
        await page.click("#tab-simple")
        assert await page.is_visible("#simple") and await page.is_visible("#simple-note")

        await page.fill("#simple", "📣 本场已成交 ")
        await page.focus("#simple")
        await page.press("#simple", "End")
        await page.click("#placeholder-picker [data-insert='累计销售额']")
        assert await page.input_value("#simple") == "📣 本场已成交 {累计销售额}"
        await preview_has(page, "📣 本场已成交 ¥6,000")
        assert await page.inner_text("#preview-source") == "活动实时数据"
        # the Jinja view has followed, out of band
        assert await page.input_value("#source") == "📣 本场已成交 {{ gmv }}"

        await page.fill("#simple", "成交 {销量}")
        await page.wait_for_selector("#template-error")
        assert "未知占位符「销量」" in await page.inner_text("#template-error")
        await page.click("#template-form button.primary")
        await page.wait_for_selector("#template-error")
        assert stack.runtime.reports.templates(1) == {}  # nothing saved

        await page.fill("#simple", TEXT)
        await page.press("#simple", "End")
        await page.click("#placeholder-picker [data-insert='冠军团长']")
        await preview_has(page, "📈 今日冠军：王姐团购")
        preview = await page.inner_text("#preview-text")
        assert "💰 累计成交 ¥6,000" in preview and "📦 9 单" in preview
        assert "🥇 王姐团购 ¥2,940" in preview
        assert "本时段新增" not in preview  # no previous report: its line is left out
        await shot(page, "console-template-editor")

        await page.click("#template-form button.primary")
        await page.wait_for_selector("#template-saved")
        assert await page.inner_text("#tpl-badge") == "已自定义"
        stored = stack.runtime.reports.templates(1)["scheduled"]
        assert "{{ top5[0].name }}" in stored and "{% if delta %}" in stored

        await page.reload()
        await page.wait_for_selector("#preview-text")
        assert await page.is_visible("#simple") and not await page.is_visible("#source")
        assert await page.input_value("#simple") == TEXT + "{冠军团长}"
        assert not await page.is_visible("#simple-note")
        # the 422 is the refused save above; nothing else may fail
        assert w.dialogs == [] and [e for e in w.errors if "status of 422" not in e] == []
    finally:
        await context.close()

    phone = await browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    page = await phone.new_page()
    w = Watched(page)
    try:
        await console_sign_in(page, stack.web.url)
        await page.goto(stack.web.url + "/admin/c/sale/templates?kind=scheduled")
        await page.wait_for_selector("#preview-text")
        assert await page.is_visible("#simple")
        # the editor itself fits the phone's width (the console's header bar is the
        # layout's, not the editor's)
        offenders = await page.evaluate(
            "[...document.querySelectorAll('.subtabs, .editor, .editor *')]"
            ".filter(e => e.getClientRects().length && e.getBoundingClientRect().right > 391)"
            ".map(e => e.tagName + '#' + e.id + '.' + e.className)"
        )
        assert offenders == [], f"the editor is wider than the phone: {offenders}"
        await page.evaluate("document.querySelector('#template-form h2').scrollIntoView()")
        await shot(page, "console-template-editor-phone")
        w.assert_clean()
    finally:
        await phone.close()
