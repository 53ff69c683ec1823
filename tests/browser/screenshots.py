"""Screenshots of the big screen (1920x1080) and the host view (390x844), mid-sale.

    .venv/bin/python -m tests.browser.screenshots [out_dir]     (default: docs/screens)

Starts its own embedded Redis (or uses REDIS_URL), a SQLite file in a temp dir, one
`warroom web` process and an aggregator; posts three hours of a flash sale (opening
rush, the 13:00 slump, a red-packet rain that revives it), lets the real trigger
worker write the battle reports, fires a stimulus by hand, then photographs.
"""

from __future__ import annotations

import asyncio
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.browser.browser import launch
from tests.browser.live import ROOT, iso, live_stack, order, shots_settings
from tests.conftest import ADMIN

SELLERS = [
    "王姐团购", "小李优选", "🌸花花🌸", "阿芳生鲜", "老周水果", "宝妈严选", "陈记土特产", "甜甜小铺",
    "社区张阿姨", "果园直送·阿强", "优选小七", "美美家", "鲜多多", "邻里惠", "晨曦团长",
]  # fmt: skip
GROUPS = [
    "阳光花园 1 群", "阳光花园 2 群", "万科城宝妈群", "翠苑邻里福利群", "滨江壹号团购群",
    "星河湾吃货群", "东方名都 3 群", "金色家园福利社",
]  # fmt: skip
PRODUCTS = [
    ("阳澄湖大闸蟹 8 只礼盒", 26800), ("智利车厘子 JJ 级 5 斤", 19900), ("赣南脐橙 10 斤", 5990),
    ("五常大米 10kg", 8990), ("有机鲜鸡蛋 30 枚", 3680), ("云南蓝莓 4 盒", 6990),
    ("内蒙古羔羊肉卷 2kg", 12800), ("洞庭湖小龙虾 3 斤", 9900), ("丹东草莓 3 斤", 8800),
    ("低温鲜牛奶 12 瓶", 7200),
]  # fmt: skip


def sale_events(starts: datetime, minutes: int, rng: random.Random) -> list[dict[str, Any]]:
    """A flash-sale day: a rush at the doors, a long tail, a slump near minute 150 and a
    revival after the red-packet rain at minute 175; two sellers sprint at the end."""
    events: list[dict[str, Any]] = []
    n = 0
    weights = [1.0 / (i + 1.6) ** 0.7 for i in range(len(SELLERS))]
    for m in range(minutes):
        if m < 25:
            rate = 95 - m * 1.6
        elif m < 140:
            rate = 58 - (m - 25) * 0.18
        elif m < 175:
            rate = 16
        else:
            rate = 72
        for _ in range(max(1, int(rng.gauss(rate, rate * 0.15)))):
            n += 1
            w = list(weights)
            if m >= minutes - 5:  # the last five minutes: #4 and #7 sprint
                w[3] *= 9
                w[6] *= 12
            s = rng.choices(range(len(SELLERS)), w)[0]
            product, price = rng.choice(PRODUCTS)
            qty = rng.choices([1, 2, 3], [0.75, 0.2, 0.05])[0]
            ts = starts + timedelta(minutes=m, seconds=rng.uniform(0, 59))
            events.append(
                order(
                    n,
                    price * qty,
                    f"s{s + 1}",
                    seller_name=SELLERS[s],
                    group=f"g{(s % len(GROUPS)) + 1}",
                    group_name=GROUPS[s % len(GROUPS)],
                    product=f"p{PRODUCTS.index((product, price)) + 1}",
                    product_name=product,
                    buyer_id=f"b{rng.randint(1, 1250)}",
                    quantity=qty,
                    ts=iso(ts),
                )
            )
    for k in range(1500):
        events.append(
            {
                "type": "member",
                "event_id": f"j{k}",
                "group_id": f"g{k % len(GROUPS) + 1}",
                "member_id": f"b{k + 1}",
                "action": "join",
                "ts": iso(starts - timedelta(minutes=30)),
            }
        )
    for k in range(9000):
        events.append(
            {
                "type": "message",
                "message_id": f"msg{k}",
                "group_id": f"g{k % len(GROUPS) + 1}",
                "member_id": f"b{rng.randint(1, 900)}",
                "kind": rng.choice(["text", "text", "image", "order_screenshot", "red_packet"]),
                "ts": iso(starts + timedelta(minutes=rng.uniform(0, minutes))),
            }
        )
    return events


async def populate(stack: Any, minutes_in: int = 190) -> dict[str, str]:
    from warroom.workers.triggers import Triggers

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    starts = now - timedelta(minutes=minutes_in)
    created = await stack.create_campaign(
        slug="double11",
        name="双十一社群快闪 · 宠粉专场",
        starts_at=iso(starts),
        ends_at=iso(starts + timedelta(hours=7)),
        target_base_fen=100_000_000,
        target_stretch_fen=150_000_000,
        milestones_fen=[10_000_000, 30_000_000, 50_000_000, 80_000_000],
        report_every_minutes=30,
        stimulus_rules=[
            {
                "name": "午后提神",
                "window_minutes": 10,
                "below_peak_ratio": 0.4,
                "sustain_minutes": 5,
                "cooldown_minutes": 60,
                "max_fires": 2,
                "action": {
                    "kind": "red_packet_rain",
                    "amount_fen": 500_000,
                    "text": "整点红包雨，5000 元现金红包马上开抢！",
                },
            }
        ],
    )
    events = sale_events(starts, minutes_in, random.Random(11))
    for i in range(0, len(events), 2000):
        await stack.post("double11", created["ingest_token"], events[i : i + 2000])
    await asyncio.sleep(1.5)  # the aggregator drains
    rt = stack.runtime
    # The rule fired at the bottom of the slump (minute 175): through the real announcer.
    record = await rt.campaigns.get("double11")
    rule = record.settings.stimulus_rules[0]
    fired_at = int((starts + timedelta(minutes=175)).timestamp() * 1000)
    await rt.announcer.record_fire(record, "rule:午后提神:1", rule.name, rule.action, fired_at)
    # Then the reports due now: the milestones (slots before the campaign was created
    # are not reported: it did not exist then).
    await Triggers(rt.store, rt.hot, rt.reports, rt.announcer).tick()
    await asyncio.sleep(1.0)
    return created


async def fire_by_hand(stack: Any, text: str) -> None:
    res = await stack.client.post(
        "/api/v1/campaigns/double11/stimuli",
        json={"kind": "red_packet_rain", "amount_fen": 300_000, "text": text},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert res.status_code == 201, res.text


async def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with shots_settings("wr-shots-") as (settings, tmp):
        async with live_stack(settings, tmp) as stack:
            created = await populate(stack)
            token = created["viewer_token"]
            async with launch() as browser:
                page = await browser.new_page(viewport={"width": 1920, "height": 1080})
                await page.goto(f"{stack.web.url}/c/double11?token={token}")
                await page.wait_for_selector("html[data-conn=live]", state="attached")
                await page.wait_for_selector("#chart .main-svg")
                await page.wait_for_timeout(2500)  # the counters roll in
                await page.screenshot(path=str(out_dir / "big-screen.png"))
                phone = await browser.new_page(
                    viewport={"width": 390, "height": 844}, device_scale_factor=2
                )
                await phone.goto(f"{stack.web.url}/c/double11/host?token={token}&seller=s7")
                await phone.wait_for_selector("html[data-conn=live]", state="attached")
                await phone.wait_for_timeout(800)
                await phone.screenshot(path=str(out_dir / "host.png"))
                await phone.screenshot(path=str(out_dir / "host-full.png"), full_page=True)
                await fire_by_hand(stack, "加场红包雨！3000 元红包 5 分钟后开抢")
                await page.wait_for_selector("#banner:not([hidden])")
                await page.wait_for_timeout(2200)  # the rain is falling
                await page.screenshot(path=str(out_dir / "big-screen-stimulus.png"))
                await page.goto(f"{stack.web.url}/c/double11?token={token}&mask=1")
                await page.wait_for_selector("html[data-conn=live]", state="attached")
                await page.evaluate("document.getElementById('banner').hidden = true")
                await page.wait_for_timeout(2500)
                await page.evaluate("document.getElementById('banner').hidden = true")
                await page.screenshot(path=str(out_dir / "big-screen-masked.png"))
    print(f"screenshots in {out_dir}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens"
    asyncio.run(main(target))
