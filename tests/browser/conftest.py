"""Browser tests: Playwright driving Debian's Chromium against a live stack (a real
`warroom web` process, Redis, database, aggregator). If chromium is missing they fail
with instructions; they never skip."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.browser.browser import launch
from tests.browser.live import Stack, fresh_settings, live_stack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    redis_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("browser")
    settings = fresh_settings(redis_url, database_url, tmp)
    async with live_stack(settings, tmp) as s:
        yield s


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    async with launch() as b:
        yield b


class Watched:
    """A page plus everything that must never happen on it: a dialog (a name that
    executed), an uncaught error, a console error (e.g. a CSP violation)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on(
            "console",
            lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None,
        )

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        import asyncio

        asyncio.ensure_future(dialog.dismiss())

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.errors == [], self.errors


async def open_page(browser: Any, url: str, **context_kw: Any) -> tuple[Any, Watched]:
    context = await browser.new_context(**context_kw)
    page = await context.new_page()
    watched = Watched(page)
    await page.goto(url)
    await page.wait_for_selector("html[data-conn=live]", state="attached", timeout=10_000)
    return context, watched


async def wait_js(page: Any, expression: str, timeout: float = 5.0) -> None:
    """Poll a JS expression until truthy. (page.wait_for_function evaluates strings with
    eval, which the screens' Content-Security-Policy rightly refuses.)"""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not await page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {expression}")
        await asyncio.sleep(0.02)
