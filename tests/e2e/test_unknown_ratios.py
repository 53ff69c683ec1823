"""A ratio with no denominator is unknown, not 0.0%: a campaign with orders and no
member events shows "—" and a hint (无成员数据) for 转化率 and 互动率 on the wall, the
review and in reports; the API's figures are unchanged (numbers, as the contract has them)."""

from __future__ import annotations

import re

from tests.conftest import Harness
from tests.e2e.test_smoke import order
from warroom.core.reports.context import report_context
from warroom.web.pages.vocab import NONE, UNKNOWN

HINT = UNKNOWN["members"]


def kpi(html: str, key: str) -> re.Match[str]:
    m = re.search(rf'<span class="kpi-val" data-k="{key}"([^>]*)>([^<]*)</span>', html)
    assert m, key
    return m


async def orders_only(h: Harness, n: int = 300) -> dict[str, str]:
    c = await h.create_campaign()
    res = await h.post_events("sale", c["ingest_token"], [order(i, 9_900) for i in range(n)])
    assert res.status_code == 202 and res.json()["accepted"] == n, res.text
    await h.drain()
    return c


async def test_no_member_events_the_wall_shows_a_dash_and_why(harness: Harness) -> None:
    c = await orders_only(harness)
    html = (await harness.client.get(f"/c/sale?token={c['viewer_token']}")).text
    for key in ("conversion", "interaction"):
        attrs, shown = kpi(html, key).groups()
        assert shown == NONE and f'title="{HINT}"' in attrs
    hints = re.findall(r'<small class="kpi-hint" data-hint="members" ([^>]*)>([^<]*)</small>', html)
    assert hints == [("", HINT)] * 2  # shown (not hidden) under both labels
    assert "0.0%" not in html
    # the API's figures are unchanged: numbers, the renderer decides from `members`
    t = (await harness.snapshot("sale", c["viewer_token"]))["totals"]
    assert (t["orders"], t["buyers"], t["members"]) == (300, 300, 0)
    assert t["conversion_rate"] == 0.0 and isinstance(t["conversion_rate"], float)
    assert t["interaction_rate"] == 0.0 and isinstance(t["interaction_rate"], float)


async def test_with_members_the_ratios_read_as_before(harness: Harness) -> None:
    c = await orders_only(harness, 3)
    joins = [{"type": "member", "event_id": f"e{i}", "member_id": f"m{i}", "group_id": "g1", "action": "join",
              "ts": "2026-11-11T10:01:00+08:00"} for i in range(4)]  # fmt: skip
    res = await harness.post_events("sale", c["ingest_token"], joins)
    assert res.status_code == 202 and res.json()["accepted"] == 4, res.text
    await harness.drain()
    html = (await harness.client.get(f"/c/sale?token={c['viewer_token']}")).text
    attrs, shown = kpi(html, "conversion").groups()
    assert shown == "75.0%" and "title" not in attrs
    assert kpi(html, "interaction").group(2) == "0.0%"  # 4 members, nobody wrote: a true 0
    assert re.findall(r'<small class="kpi-hint" data-hint="members" hidden>', html)


async def test_no_member_events_the_review_shows_a_dash(harness: Harness) -> None:
    c = await orders_only(harness)
    res = await harness.client.get(f"/c/sale/review?token={c['viewer_token']}")
    assert res.status_code == 200
    funnel = res.text[res.text.index('id="funnel"') :]
    funnel = funnel[: funnel.index("</div>\n      <h3>")]
    assert f"互动率 {NONE}" in funnel and f"转化率 {NONE}" in funnel and HINT in funnel
    notes = re.findall(r'<span class="f-note"[^>]*>([^<]*)</span>', funnel)
    assert not [n for n in notes if "0.0%" in n], notes
    assert f"退群率 {NONE}" in res.text


async def test_no_member_events_a_report_says_a_dash(harness: Harness) -> None:
    c = await orders_only(harness, 5)
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert report_context(snap, "scheduled")["conversion"] == NONE
    snap["totals"] |= {"members": 10, "conversion_rate": 0.5}
    assert report_context(snap, "scheduled")["conversion"] == "50.0%"
