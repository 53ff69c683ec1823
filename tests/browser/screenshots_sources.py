"""Screenshots of the console's sources page (issue 19): a WeCom source and a mapped
webhook with their last deliveries, and the mapping editor's preview.

    .venv/bin/python -m tests.browser.screenshots_sources [out_dir]   (default: docs/screens)

Writes `console-sources.png` and `console-sources-preview.png`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from tests.browser.browser import launch
from tests.browser.live import ROOT, console_sign_in, iso, live_stack, shots_settings
from tests.conftest import ADMIN
from warroom.core.sources import wecom
from warroom.core.sources.signature import sign

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
SECRET = "yz-webhook-secret-2026"
MAPPED = {
    "signature": {
        "scheme": "hmac-sha256",
        "header": "X-Signature",
        "timestamp_header": "X-Timestamp",
        "tolerance_s": 300,
        "secrets": [SECRET, "yz-webhook-secret-2025"],
    },
    "events": [
        {
            "when": {"path": "$.event", "equals": "order.paid"},
            "each": "$.data.items[*]",
            "type": "order",
            "fields": {
                "order_id": "@.tid",
                "amount_fen": {"path": "@.payment", "scale": 100},
                "seller_id": "$.data.seller_id",
                "seller_name": "$.data.seller_name",
                "group_id": "$.data.group_id",
                "buyer_id": "$.data.buyer_id",
                "product_id": "@.sku",
            },
        }
    ],
}
WECOM = {
    "corp_id": "ww5823bf96d3bd56c7",
    "token": "QDG6eKx9",
    "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
}


def paid(n: int, payment: str) -> bytes:
    return orjson.dumps(
        {
            "event": "order.paid",
            "data": {
                "seller_id": "s1",
                "seller_name": "王姐团购",
                "group_id": "g1",
                "buyer_id": f"b{n}",
                "items": [{"tid": f"YZ{n:05d}", "payment": payment, "sku": "crab-8"}],
            },
        }
    )


async def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with shots_settings("wr-sources-") as (settings, tmp):
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        async with live_stack(settings, tmp) as stack:
            await stack.create_campaign(
                slug="double11",
                name="双十一社群快闪 · 宠粉专场",
                starts_at=iso(now - timedelta(hours=1)),
                ends_at=iso(now + timedelta(hours=6)),
                target_base_fen=100_000_000,
            )
            c = stack.client
            w = await c.post(
                "/api/v1/campaigns/double11/sources",
                json={"kind": "wecom", "name": "企业微信 · 客户群进退群", "config": WECOM},
                headers=ADMIN_H,
            )
            m = await c.post(
                "/api/v1/campaigns/double11/sources",
                json={"kind": "mapped", "name": "有赞商城 <订单推送> 🛒", "config": MAPPED},
                headers=ADMIN_H,
            )
            wurl = w.json()["url"].split("://", 1)[1].split("/", 1)[1]
            murl = m.json()["url"].split("://", 1)[1].split("/", 1)[1]
            cfg = wecom.WeComConfig.model_validate(WECOM)
            created = int(time.time()) - 120
            for detail, members in (
                ("add_member", ["wmJack", "wmRose", "wmLee"]),
                ("del_member", ["wmRose"]),
            ):
                xml = (
                    f"<xml><CreateTime>{created}</CreateTime><MsgType>event</MsgType>"
                    "<Event>change_external_chat</Event><ChatId>wrOgQhDgAAcwMTB7</ChatId>"
                    f"<ChangeType>update</ChangeType><UpdateDetail>{detail}</UpdateDetail>"
                    "<MemChangeList>"
                    + "".join(f"<Item>{x}</Item>" for x in members)
                    + "</MemChangeList></xml>"
                ).encode()
                enc = wecom.encrypt(cfg, xml, os.urandom(16))
                ts = str(int(time.time()))
                sig = wecom.msg_signature(WECOM["token"], ts, "1372623149", enc)
                await c.post(
                    f"/{wurl}?msg_signature={sig}&timestamp={ts}&nonce=1372623149",
                    content=f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode(),
                )
            for n, payment in enumerate(["268.00", "199.00", "59.9", "12.345"]):
                body = paid(n, payment)
                ts = str(int(time.time()))
                await c.post(
                    f"/{murl}",
                    content=body,
                    headers={"X-Timestamp": ts, "X-Signature": sign(SECRET, body, ts)},
                )
            await c.post(f"/{murl}", content=paid(9, "1"), headers={"X-Signature": "forged"})
            async with launch() as browser:
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                base = stack.web.url
                await console_sign_in(page, base)
                await page.goto(f"{base}/admin/c/double11/sources")
                await page.screenshot(path=str(out_dir / "console-sources.png"), full_page=True)
                await page.fill("#i-name", "拼多多 · 快团团")
                sample = (
                    '{"event": "order.paid", "data": {"seller_id": "s2", "group_id": "g3",'
                    ' "buyer_id": "b77", "items": [{"tid": "K001", "payment": "12.50", "sku": "p1"},'
                    ' {"tid": "K002", "payment": "9.999", "sku": "p2"}]}}'
                )
                await page.fill("#i-sample", sample)
                await page.click("#preview-btn")
                await page.wait_for_selector("[data-preview-count]")
                form = page.locator("#source-form")
                await form.screenshot(path=str(out_dir / "console-sources-preview.png"))
    print(f"screenshots in {out_dir}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens"
    asyncio.run(main(target))
