"""Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from playwright.async_api import async_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if not path:
        raise RuntimeError(
            "chromium is not installed: the browser tests drive Debian's Chromium; "
            "run `apt-get install -y chromium chromium-driver` (scripts/test does it as root)"
        )
    return path


@asynccontextmanager
async def launch() -> AsyncIterator[Any]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium_path(), args=ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()
