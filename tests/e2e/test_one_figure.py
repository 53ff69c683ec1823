"""One fact, one figure (issue 23): a campaign with a known ledger is played to its
final 战报, then every page (wall, host, review, console), the API and the reports are
rendered, the figure each states for a fact is extracted, and the figures must be the
same strings: money, counts, the stimulus's effect, the state, the stretch mark's name,
the stimulus kind's emoji and the precision of a money column.

The ledger: 1,234 orders from 1,100 buyers, ¥1,000.37 each but 40 at ¥1,000.01
(¥123.44万 in all, a rounded amount), one seller's column landing on ¥4.00万 (a rounded amount whose zeros must
stay), a target reached, a stretch target equal to a milestone, one 买赠 fire whose
effect is known."""

from __future__ import annotations

import re
import time
from typing import Any

import orjson

from tests.conftest import Harness
from tests.e2e.test_console import sign_in
from tests.e2e.test_effect_pages import EFFECT
from tests.e2e.test_triggers import loops, reports, wait_for
from warroom.core.ingest.money import format_wan
from warroom.core.reports.effect_view import effect_text
from warroom.core.words import MARK_LABELS, STATE_LABELS
from warroom.demo.terminal import figures_line

ORDERS, BUYERS, PRICE = 1_234, 1_100, 100_037
FOUR_WAN_ORDERS, FOUR_WAN_PRICE = 40, 100_001  # ¥40,000.40: "¥4.00万", never "¥4万"
STRETCH = 120_000_000


def order(i: int) -> dict[str, Any]:
    four = i < FOUR_WAN_ORDERS
    return {
        "type": "order", "order_id": f"o{i}", "amount_fen": FOUR_WAN_PRICE if four else PRICE,
        "seller_id": "s-four" if four else f"s{i % 5}", "seller_name": "整数团长" if four else None,
        "group_id": f"g{i % 4}", "buyer_id": f"b{i % BUYERS}", "product_id": "p1",
    }  # fmt: skip


def one(pattern: str, text: str, where: str) -> str:
    found = re.search(pattern, text, re.S)
    assert found, f"{where}: {pattern!r} not found in {text[:3000]}"
    return found.group(1).strip()


async def page(h: Harness, url: str) -> str:
    res = await h.client.get(url)
    assert res.status_code == 200, (url, res.status_code)
    return res.text


async def test_every_page_and_report_states_a_fact_with_the_same_figure(
    harness: Harness,
) -> None:
    h, now_ms = harness, int(time.time() * 1000)
    c = await h.create_campaign(
        starts_at=now_ms,
        ends_at=now_ms + 60 * 60_000,  # one campaign hour, three real seconds
        time_scale=1200,
        target_base_fen=100_000_000,
        target_stretch_fen=STRETCH,
        milestones_fen=[50_000_000, STRETCH],  # the stretch target is also a milestone
        report_every_minutes=30,
        final_grace_seconds=1,
    )
    # Stamped at the doors' opening: stamped on arrival, a slow machine's later batches
    # would land after the three-second campaign had ended.
    events = [
        {**{k: v for k, v in order(i).items() if v is not None}, "ts": now_ms}
        for i in range(ORDERS)
    ]
    for i in range(0, ORDERS, 500):
        res = await h.post_events("sale", c["ingest_token"], events[i : i + 500])
        assert res.status_code == 202 and not res.json()["rejected"], res.text
    record = await h.runtime.campaigns.get("sale")
    fire = h.runtime.reports.claim_fire(
        campaign_id=record.id, key="fire:gift", rule="买二送一", kind="buy_n_gift",
        metric="orders_per_min", window_minutes=10, at_ms=now_ms + 60_000,
        amount_fen=100_000, text="买二送一", manual=False, status="fired", effect_minutes=10,
    )  # fmt: skip
    h.runtime.reports.set_effect(fire.id, orjson.dumps(EFFECT).decode())
    h.runtime.reports.set_uplift(fire.id, 4.6364)  # the old ratio: in the API, never shown
    async with loops(h):

        async def final() -> bool:
            return any(r["kind"] == "final" for r in await reports(h, c))

        await wait_for(final, 30.0)

    q = f"?token={c['viewer_token']}"
    snap = orjson.loads((await h.client.get(f"/api/v1/campaigns/sale/snapshot{q}")).content)
    final_text = next(r["text"] for r in await reports(h, c) if r["kind"] == "final")
    wall = await page(h, f"/c/sale{q}")
    host = await page(h, f"/c/sale/host{q}")
    review = await page(h, f"/c/sale/review{q}")
    await sign_in(h.client)
    console = await page(h, "/admin/c/sale")
    campaigns = await page(h, "/admin")
    terminal = figures_line(snap)
    api_stimuli = orjson.loads((await h.client.get(f"/api/v1/campaigns/sale/stimuli{q}")).content)

    gmv = ORDERS * PRICE + FOUR_WAN_ORDERS * (FOUR_WAN_PRICE - PRICE)
    assert snap["totals"]["gmv_fen"] == gmv and snap["totals"]["orders"] == ORDERS

    # money: the total GMV
    money = {
        "api": format_wan(snap["totals"]["gmv_fen"]),
        "final 战报": one(r"总成交 (\S+?)[，\n]", final_text, "final"),
        "wall": one(r'id="gmv"[^>]*>([^<]+)<', wall, "wall"),
        "host": one(r'id="gmv">([^<]+)<', host, "host"),
        "review": one(r'id="kpi-gmv"[^>]*>([^<]+)<', review, "review"),
        "console": one(r'id="gmv">([^<]+)<', console, "console"),
        "terminal": one(r"成交 (\S+) ", terminal, "terminal"),
    }
    assert set(money.values()) == {"¥123.44万"}, money

    # counts: orders, with thousands separators everywhere
    orders = {
        "api": f"{snap['totals']['orders']:,}",
        "final 战报": one(r"📦 (\S+) 单", final_text, "final"),
        "wall": one(r'data-k="orders">([^<]+)<', wall, "wall"),
        "host": one(r'id="orders">([^<]+)<', host, "host"),
        "review": one(r'id="kpi-orders">([^<]+)<', review, "review"),
        "console": one(r"订单 / 买家</span><b>([^ <]+) /", console, "console"),
        "terminal": one(r"订单 (\S+) ", terminal, "terminal"),
    }
    assert set(orders.values()) == {"1,234"}, orders

    # every report (not only the final) groups its counts and says the GMV so
    every = await reports(h, c)
    assert len(every) >= 3, every  # milestones, targets, top, scheduled and the final
    for r in every:  # each states its own moment's figures, in the same formats
        assert not re.search(r"(?<![\d,.])\d{4,} ?(单|人)", r["text"]), r["text"]
        # ¥9.20万, not ¥9.2万 (the effect's estimate has its own one-decimal line)
        assert not re.search(r"¥\d+\.\d万", r["text"].replace(effect_text(EFFECT), "")), r

    # the stimulus's effect: one line, formatted one way
    line = effect_text(EFFECT)
    effect = {
        "api": effect_text(next(s for s in api_stimuli if s["id"] == fire.id)["effect"]),
        "snapshot": effect_text(next(s for s in snap["stimuli"] if s["id"] == fire.id)["effect"]),
        "final 战报": one(r"刺激效果：\d\d:\d\d [^，]+，(.+?)\n", final_text + "\n", "final"),
        "review": one(r'data-f="effect">([^<]+)<', review, "review"),
        "console": one(r'class="small effect">([^<]+)<', console, "console"),
    }
    assert set(effect.values()) == {line}, effect
    for where, text in (("final", final_text), ("review", review), ("console", console),
                        ("host", host)):  # fmt: skip
        assert "4.6" not in re.sub(r"<[^>]+>", "", text).replace(line, ""), where  # no old ratio
    # the 买赠 fire is 🎁 in the final, never the red packet's 🧧
    assert "🎁 刺激效果" in final_text and "🧧" not in final_text, final_text

    # the state: one word (已收官) in the review and the console
    ended = STATE_LABELS["ended"]
    states = {
        "review": one(r'<span class="tag done">([^<]+)<', review, "review"),
        "console": one(r'class="state s-ended">([^<]+)<', console, "console"),
        "campaigns": one(r'class="state s-ended">([^<]+)<', campaigns, "campaigns"),
    }
    assert set(states.values()) == {ended}, states
    for where, text in (("review", review), ("console", console), ("wall", wall)):
        assert "已结束" not in text, where

    # the ¥120万 mark is the stretch target's, by one name, in the review and the final
    stretch = MARK_LABELS["stretch"]
    assert f"{stretch} {format_wan(STRETCH)}" in review
    assert f"{MARK_LABELS['milestone']} {format_wan(STRETCH)}" not in review
    assert f"{stretch}达成" in final_text

    # one precision per money column: the sellers' net GMV on the review and the wall
    board = review.split("团长 TOP")[1].split("</table>")[0]
    column = re.findall(r'data-fen="\d+">([^<]+)<', board)
    assert "¥4.00万" in column, column
    assert all(re.fullmatch(r"¥\d+\.\d\d万", v) for v in column), column
    wall_amounts = re.findall(r'data-f="amt">([^<]+)<', wall)
    assert "¥4.00万" in wall_amounts, wall_amounts
    # no English tag, no "ledger" for users
    assert "ledger" not in re.sub(r"<[^>]+>|/api/\S+", "", review).lower()
