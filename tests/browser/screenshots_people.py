"""Screenshots of the console's people and keys page and its audit (issue 18).

    .venv/bin/python -m tests.browser.screenshots_people [out_dir]   (default: docs/screens)

Starts its own embedded Redis (or uses REDIS_URL), a SQLite file in a temp dir and one
`warroom web` process; an owner adds people and a key, an operator and the key change
a campaign, then the owner's console is photographed: the people page (with a new
person's one-time password, shown once) and the audit, filtered and not.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from tests.browser.browser import launch
from tests.browser.live import ROOT, live_stack, shots_settings
from tests.conftest import ADMIN

OWNER = {"Authorization": f"Bearer {ADMIN}"}


async def sign_in(page: object, base: str, email: str, password: str) -> None:
    await page.goto(base + "/admin")  # type: ignore[attr-defined]
    await page.fill("input[name=email]", email)  # type: ignore[attr-defined]
    await page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    await page.click("#password-login button[type=submit]")  # type: ignore[attr-defined]
    await page.wait_for_selector("#me")  # type: ignore[attr-defined]


async def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with shots_settings("wr-people-") as (settings, tmp):
        async with live_stack(settings, tmp) as stack:
            base = stack.web.url
            await stack.create_campaign(slug="double11", name="双十一社群快闪")
            await stack.create_campaign(slug="618", name="618 年中大促")
            async with httpx.AsyncClient(base_url=base, timeout=30) as c:
                pw = "王姐的密码-2026"
                await c.post(
                    "/api/v1/users",
                    json={"email": "wangjie@example.com", "role": "owner", "password": pw},
                    headers=OWNER,
                )
                op = (
                    await c.post(
                        "/api/v1/users",
                        json={"email": "xiaoli@example.com", "role": "operator"},
                        headers=OWNER,
                    )
                ).json()
                await c.post(
                    "/api/v1/users",
                    json={"email": "analyst.chen@example.com", "role": "analyst"},
                    headers=OWNER,
                )
                key = (
                    await c.post(
                        "/api/v1/keys",
                        json={"name": "ERP 同步 (prod)", "role": "operator"},
                        headers=OWNER,
                    )
                ).json()["key"]
                await c.post(
                    "/api/v1/keys", json={"name": "BI 看板", "role": "analyst"}, headers=OWNER
                )
                kb = {"Authorization": f"Bearer {key}"}
                await c.patch(
                    "/api/v1/campaigns/double11", json={"target_base_fen": 120_000_000}, headers=kb
                )
                await c.post(
                    "/api/v1/campaigns/double11/webhooks",
                    json={"url": "https://example.com/hook", "format": "json"},
                    headers=kb,
                )
            async with launch() as browser:
                # the operator changes a setting in the console
                opage = await browser.new_page(viewport={"width": 1440, "height": 900})
                await sign_in(opage, base, "xiaoli@example.com", op["password"])
                await opage.goto(base + "/admin/c/double11")
                await opage.click("text=暂停自动规则")
                await opage.wait_for_timeout(800)
                await opage.close()
                # the owner's console
                page = await browser.new_page(viewport={"width": 1440, "height": 1000})
                await sign_in(page, base, "wangjie@example.com", pw)
                await page.goto(base + "/admin/people")
                await page.fill("#person-form input[name=email]", "zhao.host@example.com")
                await page.select_option("#person-form select[name=role]", "analyst")
                await page.click("#person-form button[type=submit]")
                await page.wait_for_selector("#one-time-password")
                await page.screenshot(path=str(out_dir / "console-people.png"), full_page=True)
                await page.goto(base + "/admin/audit")
                await page.wait_for_selector("#audit")
                await page.screenshot(path=str(out_dir / "console-audit.png"), full_page=True)
                await page.goto(base + "/admin/audit?actor=key%3AERP+同步+%28prod%29")
                await page.wait_for_selector("#audit")
                await page.screenshot(
                    path=str(out_dir / "console-audit-filtered.png"), full_page=True
                )
                await page.goto(base + "/admin/account")
                await page.screenshot(path=str(out_dir / "console-account.png"))
                login = await browser.new_page(viewport={"width": 1440, "height": 900})
                await login.goto(base + "/admin")
                await login.screenshot(path=str(out_dir / "console-login.png"))
    print(f"screenshots in {out_dir}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens"
    asyncio.run(main(target))
