"""The operator console in Chromium against a live stack: sign in, create a campaign
through the pages, inline money errors, rules with their preview, template preview,
token rotation that cuts an open big screen, a manual fire seen on the big screen, and
a webhook test message reaching a local receiver."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio

from tests.browser.conftest import Watched, wait_js
from tests.browser.live import Stack, fresh_settings, live_stack, order
from tests.conftest import ADMIN

pytestmark = pytest.mark.asyncio(loop_scope="module")
LAPTOP = {"viewport": {"width": 1366, "height": 768}}
SHANGHAI = ZoneInfo("Asia/Shanghai")
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    redis_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("console")
    settings = fresh_settings(redis_url, database_url, tmp)
    env = {"WARROOM_ALLOW_PRIVATE_WEBHOOKS": "true"}
    async with live_stack(settings, tmp, env=env) as s:
        yield s


class Receiver:
    """A webhook receiver on 127.0.0.1 that records each POST."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.posts.append({"path": self.path, "body": json.loads(body)})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode":0,"errmsg":"ok"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/robot?key=secret-key"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def local(dt: datetime) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


async def console_page(browser: Any, stack: Stack) -> tuple[Any, Watched]:
    context = await browser.new_context(**LAPTOP)
    page = await context.new_page()
    watched = Watched(page)
    page.on("dialog", lambda d: None)  # Watched dismisses; confirmations are accepted below
    await page.goto(stack.web.url + "/admin")
    await page.click(".token-login summary")  # the break-glass sign-in, folded away
    await page.fill("input[name=token]", ADMIN)
    await page.click("#token-login button[type=submit]")
    await page.wait_for_selector("text=全部活动")
    return context, watched


async def shot(page: Any, name: str) -> None:
    """docs/screens/console-*.png, when asked: WARROOM_SCREENSHOTS=1 pytest tests/browser/test_console.py"""
    if os.environ.get("WARROOM_SCREENSHOTS") and SCREENS.is_dir():
        await page.screenshot(path=str(SCREENS / f"console-{name}.png"))


async def test_console_end_to_end(stack: Stack, browser: Any, receiver: Receiver) -> None:
    context, w = await console_page(browser, stack)
    page = w.page
    # confirmations (hx-confirm) are accepted: replace Watched's dismiss for this page
    page.remove_listener("dialog", w._dialog)
    confirms: list[str] = []

    async def accept(dialog: Any) -> None:
        confirms.append(dialog.message)
        await dialog.accept()

    page.on("dialog", lambda d: asyncio.ensure_future(accept(d)))
    try:
        await shot(page, "list-empty")
        # -- create a campaign from scratch, with a bad target first -------------------
        await page.click("text=新建活动")
        now = datetime.now(SHANGHAI)
        await page.fill("#i-slug", "laptop")
        await page.fill("#i-name", "双十一社群快闪")
        await page.fill("#i-starts_at", local(now - timedelta(hours=1)))
        await page.fill("#i-ends_at", local(now + timedelta(hours=6)))
        await page.fill("#i-stimulus_budget_fen", "2000")
        for bad, message in (("-5", "负数"), ("1.005", "两位小数"), ("一百万", "数字")):
            await page.fill("#i-target_base_fen", bad)
            await page.click("#campaign-form button[type=submit]")
            # the answer replaces the form: wait for this attempt's message
            await page.locator("#f-target_base_fen .err", has_text=message).wait_for()
            assert await page.input_value("#i-target_base_fen") == bad  # kept for correction
        await shot(page, "create-errors")
        await page.fill("#i-target_base_fen", "1000000")
        await page.fill("#i-target_stretch_fen", "1500000")
        await page.fill("#i-milestones", "100000, 500000")
        await page.click("#campaign-form button[type=submit]")
        await page.wait_for_selector("#created")
        viewer = await page.input_value("#viewer-token")
        ingest = await page.input_value("#ingest-token")
        assert await page.locator("#created .qr svg").count() == 1
        await shot(page, "created")
        record = await stack.runtime.campaigns.get("laptop")
        assert record.settings.target_base_fen == 100_000_000
        assert record.settings.stimulus_budget_fen == 200_000

        # -- a rule and its preview ----------------------------------------------------
        await page.goto(stack.web.url + "/admin/c/laptop/rules")
        await page.fill("#i-name", "降温救场")
        await page.fill("#i-amount", "888")
        await page.fill("#i-text", "🧧 红包雨来了！")
        await page.wait_for_selector("#rule-preview-text")
        expected = "当 5 分钟 GMV 速度低于峰值的 50% 持续 2 分钟时，发 ¥888 红包雨；冷却 20 分钟，最多 3 次"
        await wait_js(
            page,
            f"document.getElementById('rule-preview-text').textContent === {json.dumps(expected)}",
        )
        await page.click("#rule-form button[type=submit]")
        await page.wait_for_selector("li.rule[data-rule='降温救场']")
        assert await page.inner_text("li.rule .preview") == expected
        await shot(page, "rules")

        # -- a template and its preview --------------------------------------------------
        await page.goto(stack.web.url + "/admin/c/laptop/templates?kind=milestone")
        await page.wait_for_selector("#preview-text")
        await page.fill("#source", "🔥 {{ campaign_name }} 已成交 {{ gmv }}，冲！")
        await wait_js(
            page,
            "document.getElementById('preview-text').textContent.startsWith('🔥 双十一社群快闪 已成交')",
        )
        await page.fill("#source", "{{ nope }}")
        await page.wait_for_selector("#template-error")
        assert "未知变量" in await page.inner_text("#template-error")
        await page.fill("#source", "🔥 {{ campaign_name }} 冲刺中：{{ gmv }}")
        await page.click("#template-form button.primary")
        await page.wait_for_selector("#template-saved")
        assert await page.inner_text("#tpl-badge") == "已自定义"
        await shot(page, "templates")

        # -- an open big screen; a manual fire shows its banner; the budget goes down -----
        await stack.post("laptop", ingest, [order(1, 12_300, "s1", seller_name="王姐团购")])
        screen_ctx = await browser.new_context(viewport={"width": 1920, "height": 1080})
        screen = await screen_ctx.new_page()
        await screen.goto(f"{stack.web.url}/c/laptop?token={viewer}")
        await screen.wait_for_selector("html[data-conn=live]", state="attached", timeout=10_000)
        assert await screen.inner_text("#budget [data-f=left]") == "¥2,000"
        await page.goto(stack.web.url + "/admin/c/laptop")
        await page.click("button[data-fire='降温救场']")
        await page.wait_for_selector("#live-notice")
        assert any("¥888" in m and "¥2,000" in m for m in confirms), confirms
        await screen.wait_for_selector("#banner:not([hidden])", timeout=10_000)
        assert "红包雨来了" in await screen.inner_text("#banner")
        await wait_js(
            screen, "document.querySelector('#budget [data-f=left]').textContent === '¥1,112'"
        )
        await screen.evaluate("document.getElementById('banner').hidden = true")
        await shot(screen, "big-screen-budget")
        assert "已花 ¥888" in await page.inner_text("#budget-spent")
        assert "剩余 ¥1,112" in await page.inner_text("#budget-left")
        await page.fill("#announce textarea", "14:00 整点加开 200 份秒杀！")
        await page.click("#announce button[type=submit]")
        await page.wait_for_selector("text=已发布通知")
        await shot(page, "overview")

        # -- rotate the viewer token: the open screen drops, the old link is refused -----
        await page.goto(stack.web.url + "/admin/c/laptop/links")
        await page.fill("#viewer-token-input", viewer)
        await page.click("#links-panel form.inline button")
        await page.wait_for_selector("#links .qr svg")
        await shot(page, "links")
        await page.click("#rotate-viewer")
        await page.wait_for_selector("#rotated")
        new_viewer = await page.input_value("#new-token")
        assert new_viewer != viewer
        await wait_js(screen, "document.documentElement.dataset.conn === 'down'", timeout=10.0)
        await asyncio.sleep(2.0)  # its reconnects are refused: it stays down
        assert await screen.evaluate("document.documentElement.dataset.conn") == "down"
        async with httpx.AsyncClient(base_url=stack.web.url) as http:
            assert (await http.get(f"/c/laptop?token={viewer}")).status_code == 401
            assert (await http.get(f"/c/laptop?token={new_viewer}")).status_code == 200
        await screen_ctx.close()

        # -- webhooks: add, test message to the local receiver, see it in the log ------
        await page.goto(stack.web.url + "/admin/c/laptop/webhooks")
        await page.fill("#i-url", "ftp://nope")
        await page.click("#webhook-form button[type=submit]")
        await page.wait_for_selector("#f-url .err")
        await page.fill("#i-url", receiver.url)
        await page.click("#webhook-form button[type=submit]")
        await page.wait_for_selector("#hooks tr[data-hook]")
        assert "secret-key" not in await page.inner_text("#hooks")  # the robot key is not shown
        await page.click("button[data-test]")
        await page.wait_for_selector("text=测试消息已送达")
        deadline = time.monotonic() + 10
        while not receiver.posts and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert receiver.posts and receiver.posts[0]["body"]["msgtype"] == "markdown"
        assert "测试消息" in receiver.posts[0]["body"]["markdown"]["content"]
        row = page.locator("#delivery-log tr.test-row").first
        assert "已送达" in await row.inner_text() and "200" in await row.inner_text()
        # A poster target: its test message is the poster, as a robot image message.
        await page.fill("#i-url", receiver.url + "&poster=1")
        await page.select_option("#i-format", "wecom_image")
        await page.click("#webhook-form button[type=submit]")
        await page.wait_for_selector("#hooks tr[data-hook] >> nth=1")
        assert "企业微信海报图片" in await page.inner_text("#hooks")
        await page.locator("button[data-test]").nth(1).click()
        deadline = time.monotonic() + 30
        while len(receiver.posts) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert receiver.posts[1]["body"]["msgtype"] == "image"
        assert len(receiver.posts[1]["body"]["image"]["base64"]) > 10_000
        await shot(page, "webhooks")

        await page.goto(stack.web.url + "/admin/c/laptop/settings")
        await shot(page, "settings")
        await page.goto(stack.web.url + "/admin")
        assert "双十一社群快闪" in await page.inner_text("#campaigns")
        await shot(page, "list")
        await page.goto(stack.web.url + "/")
        await shot(page, "index")
        # 422s are the inline validation answers above; nothing else may fail
        assert [e for e in w.errors if "status of 422" not in e] == [], w.errors
    finally:
        await context.close()


async def test_sign_in_page(stack: Stack, browser: Any) -> None:
    context = await browser.new_context(**LAPTOP)
    page = await context.new_page()
    w = Watched(page)
    try:
        await page.goto(stack.web.url + "/admin")
        await page.fill("input[name=email]", "ann@example.com")
        await page.fill("input[name=password]", "not her password")
        await page.click("#password-login button[type=submit]")
        await page.wait_for_selector("#login-error")
        assert "不正确" in await page.inner_text("#login-error")
        await shot(page, "login")
        assert w.dialogs == []
        assert [e for e in w.errors if "status of 401" not in e] == [], w.errors
    finally:
        await context.close()


async def test_campaign_list_refreshes_itself(stack: Stack, browser: Any) -> None:
    context, w = await console_page(browser, stack)
    try:
        await stack.create_campaign(slug="later", name="后来的活动")
        await w.page.wait_for_selector("#campaigns tr[data-slug=later]", timeout=25_000)
        w.assert_clean()
    finally:
        await context.close()
