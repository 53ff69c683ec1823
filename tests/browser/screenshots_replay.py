"""Screenshots of a replay (time travel) on the big screen: mid-replay, during the
red-packet rain, and at its end.

    .venv/bin/python -m tests.browser.screenshots_replay [out_dir]   (default: docs/screens)

Runs `warroom demo` at 420x (the 10:00-17:00 day in about a minute, its reports and
its red-packet rain written by the real trigger worker, so every figure on the
screen and in the feed is the product's own), waits for the sale to end, then
replays it at 600x (about 45 s) in headless Chromium.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.browser.browser import launch
from tests.browser.live import ROOT
from tests.e2e.test_serve import free_port

SCREEN = re.compile(r"大屏\s+(\S+)")


def run_demo(tmp: Path, port: int) -> tuple[subprocess.Popen[bytes], Path, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "DATABASE_URL") and not k.startswith("WARROOM_")
    }
    env["WARROOM_DATA_DIR"] = str(tmp / "data")
    log = tmp / "demo.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "warroom.cli", "demo", "--port", str(port), "--time-scale", "420"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = SCREEN.search(log.read_text(errors="replace"))
        if found:
            return proc, log, found.group(1)
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("the demo printed no screen link:\n" + log.read_text(errors="replace"))


def wait_ended(log: Path, limit_s: float = 600) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if "收官数据" in log.read_text(errors="replace"):  # the final report is written
            return
        time.sleep(1)
    raise RuntimeError("the demo sale did not end:\n" + log.read_text(errors="replace")[-3000:])


async def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="wr-replay-"))
    proc, log, screen = run_demo(tmp, free_port())
    try:
        wait_ended(log)
        async with launch() as browser:
            page = await browser.new_page(viewport={"width": 1920, "height": 1080})
            await page.goto(screen + "&replay=600")
            # mid-replay: once the third report is in the feed
            await page.wait_for_selector("#reports li:nth-child(3)", timeout=120_000)
            await page.wait_for_timeout(800)
            await page.screenshot(path=str(out_dir / "replay-mid.png"))
            await page.wait_for_selector("#banner:not([hidden])", timeout=120_000)
            await page.wait_for_timeout(1800)  # the rain is falling
            await page.screenshot(path=str(out_dir / "replay-rain.png"))
            await page.wait_for_selector("html[data-replay=ended]", timeout=120_000)
            await page.wait_for_selector("#rain:empty", state="attached", timeout=30_000)
            await page.wait_for_timeout(1500)  # the counters roll in
            await page.screenshot(path=str(out_dir / "replay-end.png"))
    finally:
        proc.terminate()
        proc.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"screenshots in {out_dir}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens"
    asyncio.run(main(target))
