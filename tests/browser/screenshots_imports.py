"""Screenshot of the console's import page (issue 19): a 接龙 sheet uploaded, its header
and first rows, the guessed column mapping, and a dry run's result with the rows it
would reject.

    .venv/bin/python -m tests.browser.screenshots_imports [out_dir]   (default: docs/screens)
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.browser.browser import launch
from tests.browser.live import ROOT, console_sign_in, iso, live_stack, shots_settings

HEADER = ["订单号", "金额(元)", "团长", "群", "买家", "商品", "下单时间"]


def sheet(starts: datetime) -> bytes:
    local = starts.astimezone(ZoneInfo("Asia/Shanghai"))
    rows = []
    people = ["王姐团购", "小李优选", "花花生活馆", "阿芳生鲜", "<b>老周</b>水果"]
    goods = ["阳澄湖大闸蟹", "智利车厘子", "赣南脐橙", "五常大米"]
    for i in range(40):
        when = (local + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S")
        amount = f"{(i * 37) % 300 + 9}.{(i * 13) % 100:02d}"
        rows.append([f"JL{1000 + i}", amount, people[i % 5], f"阳光花园{i % 3 + 1}群",
                     f"买家{i}", goods[i % 4], when])  # fmt: skip
    rows[6][1] = "-20"
    rows[11][1] = "12.345"
    rows[17][4] = ""
    rows[23][6] = "昨天晚上"
    text = ",".join(HEADER) + "\n" + "".join(",".join(r) + "\n" for r in rows)
    return text.encode("gb18030")


async def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with shots_settings("wr-imports-") as (settings, tmp):
        starts = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=90)
        path = tmp / "双十一接龙表.csv"
        path.write_bytes(sheet(starts))
        async with live_stack(settings, tmp) as stack:
            await stack.create_campaign(
                slug="double11",
                name="双十一社群快闪 · 宠粉专场",
                starts_at=iso(starts),
                ends_at=iso(starts + timedelta(hours=7)),
                target_base_fen=10_000_000,
            )
            async with launch() as browser:
                base = stack.web.url
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                await console_sign_in(page, base)
                await page.goto(f"{base}/admin/c/double11/imports")
                await page.set_input_files("#i-file", str(path))
                await page.click("#import-upload button[type=submit]")
                await page.wait_for_selector("#import-preview")
                await page.click("#import-mapping button[value=true]")
                await page.wait_for_selector('#run-status[data-state="done"]')
                await page.wait_for_timeout(300)
                await page.screenshot(path=str(out_dir / "console-import.png"), full_page=True)
    print(f"screenshot in {out_dir}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens"
    asyncio.run(main(target))
