"""The sale's moments, set up on a live stack for the stills tests and their screenshots:
the opening, mid-sale (the 冷群提醒 card up and a 红包雨 banner with a long text) and
after the end (查看复盘). Each returns the campaign as created (slug, tokens)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.browser.live import Stack, iso, order
from tests.browser.screenshots import PRODUCTS, SELLERS, fire_by_hand, populate
from tests.conftest import ADMIN

WALL = "#stage .top, #stage .panel, #stage .kpi, #banner, #cold-groups, #review-link"
HOST = "#app > header, #app > section, #app > p, #app .card, #app button, #app .copy"
# a rain text long enough to have been cut ("限时3…") on one line
RAIN_TEXT = "加场红包雨！限时3分钟，3000 元现金红包马上开抢，手慢无，快去群里抢！"
SIZES = {"wall": (1920, 1080), "phone": (390, 844)}


def sale_orders(
    prefix: str, starts: datetime, minutes: int, per_minute: int, seed: int
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for m in range(minutes):
        for k in range(per_minute):
            s = rng.randrange(len(SELLERS))
            name, price = rng.choice(PRODUCTS)
            events.append(
                order(
                    f"{prefix}{m}-{k}",
                    price * rng.choice([1, 1, 2]),
                    f"s{s + 1}",
                    seller_name=SELLERS[s],
                    group=f"g{s % 5 + 1}",
                    group_name=f"阳光花园 {s % 5 + 1} 群",
                    product=f"p{PRODUCTS.index((name, price)) + 1}",
                    product_name=name,
                    ts=iso(starts + timedelta(minutes=m, seconds=rng.uniform(0, 59))),
                )
            )
    return events


async def settle_all(stack: Stack, slug: str, c: dict[str, str], events: list[dict[str, Any]]):
    for i in range(0, len(events), 2000):
        await stack.post(slug, c["ingest_token"], events[i : i + 2000])
    total = sum(e["amount_fen"] for e in events if e["type"] == "order")
    await stack.settle(slug, c["viewer_token"], total, timeout=30.0)


async def opening(stack: Stack) -> dict[str, str]:
    """Four minutes after the doors opened: the first orders, the first report."""
    now = datetime.now(UTC).replace(microsecond=0)
    starts = now - timedelta(minutes=4)
    c = await stack.create_campaign(
        slug="opening",
        name="双十一社群快闪 · 宠粉专场",
        starts_at=iso(starts),
        ends_at=iso(starts + timedelta(hours=7)),
    )
    await settle_all(stack, "opening", c, sale_orders("op", starts, 4, 12, 1))
    await stack.push_report("opening", 1, "🔥 开场 4 分钟，首批订单已到！\n王姐团购领跑，大家冲！")
    return c


async def midsale(stack: Stack) -> dict[str, str]:
    """Three hours in (screenshots.populate: a slump, a rule's rain, its reports), two
    groups gone cold, and a red-packet rain fired by hand with a long text."""
    c = await populate(stack)
    old = datetime.now(UTC) - timedelta(minutes=50)
    cold = [
        order(f"cold{i}", 9_900, "s1", group=f"gc{i}", group_name=name, ts=iso(old))
        for i, name in enumerate(["翠苑邻里福利群", "星河湾吃货群"])
    ]
    await stack.post("double11", c["ingest_token"], cold)
    await asyncio.sleep(1.0)
    await fire_by_hand(stack, RAIN_TEXT)
    return c


async def closed(stack: Stack) -> dict[str, str]:
    """Five minutes after the end: the day's orders, the final reports."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    ends = now - timedelta(minutes=5)
    starts = ends - timedelta(hours=2)
    c = await stack.create_campaign(
        slug="closed",
        name="双十一社群快闪 · 宠粉专场",
        starts_at=iso(starts),
        ends_at=iso(ends),
        target_base_fen=5_000_000,
        target_stretch_fen=8_000_000,
    )
    await settle_all(stack, "closed", c, sale_orders("cl", starts, 120, 3, 3))
    long_post = "\n".join(
        [
            "🏆 收官战报",
            "今日累计成交突破目标，感谢每一位团长！",
            "TOP1 王姐团购，TOP2 小李优选，TOP3 🌸花花🌸。",
            "明天同一时间，我们不见不散！",
        ]
    )
    for n, text in enumerate(["⏱ 最后 30 分钟，冲刺开始！", "🎯 基础目标达成！", long_post], 1):
        await stack.push_report("closed", n, text, kind="final" if n == 3 else "milestone")
    return c


async def admin_get(stack: Stack, path: str) -> Any:
    assert stack.client is not None
    res = await stack.client.get(path, headers={"Authorization": f"Bearer {ADMIN}"})
    res.raise_for_status()
    return res.json()
