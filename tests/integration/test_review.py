"""The retrospective page and the CSV exports against a plain recomputation from the
ledger, for a generated day with refunds, late events, leaves and re-joins (real Redis,
real SQL, the app in-process)."""

from __future__ import annotations

import csv
import io
import re
import time
from typing import Any

import orjson

from tests.conftest import Harness
from tests.review_day import MIN, generate_day, recompute
from warroom.core.ingest.clock import rfc3339
from warroom.core.ingest.money import format_wan
from warroom.core.review.export import BOM, COLUMNS

TZ = "Asia/Shanghai"


def parse_csv(body: bytes) -> list[dict[str, str]]:
    text = body.decode("utf-8")
    assert text.startswith(BOM), "Excel needs the BOM"
    return list(csv.DictReader(io.StringIO(text[len(BOM) :])))


async def setup_day(
    h: Harness,
) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    now = int(time.time() * 1000)
    ends = now - now % MIN - 30 * MIN
    starts = ends - 6 * 60 * MIN
    c = await h.create_campaign(starts_at=starts, ends_at=ends, milestones_fen=[500_000, 2_000_000],
                                target_base_fen=5_000_000, target_stretch_fen=9_000_000)  # fmt: skip
    events = generate_day(starts, ends)
    for i in range(0, len(events), 97):
        res = await h.post_events("sale", c["ingest_token"], events[i : i + 97])
        assert res.status_code == 202 and not res.json()["rejected"], res.text
    # a duplicate changes nothing
    res = await h.post_events("sale", c["ingest_token"], events[:5])
    assert res.json()["duplicates"] == 5
    await h.drain()
    # The final report is written now; whatever arrives after it is late.
    rt = h.runtime
    record = rt.store.get_campaign("sale")
    memo = orjson.dumps({"at": rfc3339(int(time.time() * 1000), TZ)}).decode()
    rt.reports.claim_report(record.id, "final", "final", ends, "收官战报", memo)
    time.sleep(0.01)
    late = [
        {"type": "order", "order_id": "late1", "amount_fen": 12_345, "seller_id": "s1",
         "seller_name": "团长乙", "group_id": "g2", "group_name": "2号群·宝妈团",
         "buyer_id": "b-late", "product_id": "p1", "product_name": "商品1号🍑", "quantity": 1,
         "ts": ends - 2 * MIN},
        {"type": "refund", "refund_id": "late-r", "order_id": "o3", "amount_fen": 100,
         "ts": ends - MIN},
        {"type": "member", "event_id": "late-j", "group_id": "g4", "member_id": "m99",
         "action": "join", "ts": ends - 3 * MIN},
    ]  # fmt: skip
    res = await h.post_events("sale", c["ingest_token"], late)
    assert res.json()["accepted"] == 3
    await h.drain()
    return c, events + late, late


async def test_review_page_and_csvs_equal_a_recomputation(harness: Harness) -> None:
    h = harness
    c, events, late = await setup_day(h)
    ref = recompute(events)
    auth = {"Authorization": f"Bearer {c['viewer_token']}"}

    # every CSV against the recomputation
    res = await h.client.get("/api/v1/campaigns/sale/export/minutes.csv", headers=auth)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    rows = parse_csv(res.content)
    assert list(rows[0].keys()) == list(COLUMNS["minutes"])
    got = {r["minute"]: {k: int(r[k]) for k in ("gmv_fen", "orders", "refund_fen", "messages",
                                                 "joins", "leaves")} for r in rows}  # fmt: skip
    assert got == {rfc3339(k, TZ): v for k, v in ref["minutes"].items()}
    assert int(rows[-1]["cumulative_gmv_fen"]) == ref["totals"]["gmv_fen"]

    for board in ("sellers", "groups", "products"):
        res = await h.client.get(f"/api/v1/campaigns/sale/export/{board}.csv", headers=auth)
        rows = parse_csv(res.content)
        assert list(rows[0].keys()) == list(COLUMNS[board])
        got = [{k: (v if k in ("id", "name") else int(v)) for k, v in r.items()} for r in rows]
        assert got == ref["boards"][board], board
        assert any("团" in r["name"] or "商品" in r["name"] for r in rows)  # Chinese intact

    res = await h.client.get("/api/v1/campaigns/sale/export/events.csv", headers=auth)
    rows = parse_csv(res.content)
    assert list(rows[0].keys()) == list(COLUMNS["events"])
    assert len(rows) == len(events)
    assert {r["key"] for r in rows if r["late"] == "true"} == {
        "order:late1", "refund:late-r", "member:late-j"
    }  # fmt: skip
    by_key = {r["key"]: r for r in rows}
    assert by_key["order:o5"]["seller_name"].startswith("团长")
    assert (
        sum(int(r["amount_fen"]) for r in rows if r["type"] == "order") == ref["totals"]["gmv_fen"]
    )

    res = await h.client.get("/api/v1/campaigns/sale/export/reports.csv", headers=auth)
    assert parse_csv(res.content)[0]["text"] == "收官战报"
    res = await h.client.get("/api/v1/campaigns/sale/export/stimuli.csv", headers=auth)
    assert parse_csv(res.content) == []
    res = await h.client.get("/api/v1/campaigns/sale/export/nope.csv", headers=auth)
    assert res.status_code == 404
    res = await h.client.get("/api/v1/campaigns/sale/export/minutes.csv")
    assert res.status_code == 401

    # the page shows the same figures
    res = await h.client.get(f"/c/sale/review?token={c['viewer_token']}")
    assert res.status_code == 200
    page = res.text
    t = ref["totals"]
    assert f'data-fen="{t["gmv_fen"]}">{format_wan(t["gmv_fen"])}' in page
    assert f'id="kpi-orders">{t["orders"]:,}<' in page
    assert f'id="kpi-buyers">{t["buyers"]:,}<' in page
    assert f'id="late-count">{len(late)}<' in page
    for board in ("sellers", "groups", "products"):
        section = page.split(f'id="top-{board}"')[1].split("</table>")[0]
        ids = re.findall(r'<tr data-id="([^"]+)"', section)
        assert ids == [r["id"] for r in ref["boards"][board][:10]]
    hours = page.split('id="hours"')[1].split("</table>")[0]
    hour_gmv = [int(x) for x in re.findall(r'data-fen="(\d+)"', hours)]
    assert sum(hour_gmv) == t["gmv_fen"]
    members = len({m for (m, _g), v in ref["latest"].items() if v[2] == "join"})
    assert f'<b class="f-n">{members:,}</b>' in page
    assert "已收官" in page


async def test_review_model_equals_the_snapshot(harness: Harness) -> None:
    """The ledger recomputation and the live hot state agree (same day, same totals)."""
    h = harness
    c, events, _ = await setup_day(h)
    snap = await h.snapshot("sale", c["viewer_token"])
    record = h.runtime.store.get_campaign("sale")
    from warroom.services.review_loader import ReviewLoader

    review, _cut = ReviewLoader(h.runtime.store.engine, h.runtime.reports).load(
        record, int(time.time() * 1000)
    )
    for k in ("gmv_fen", "refund_fen", "net_gmv_fen", "orders", "items", "buyers", "members",
              "messages", "active_members"):  # fmt: skip
        assert review["totals"][k] == snap["totals"][k], k
    top = [r["id"] for r in review["boards"]["sellers"][:10]]
    assert top == [r["id"] for r in snap["leaderboards"]["sellers"]]
    # peak minute: the highest per-minute GMV of the recomputation
    ref = recompute(events)
    best = max(v["gmv_fen"] for v in ref["minutes"].values())
    assert review["peak_minute"]["gmv_fen"] == best


async def test_during_the_sale_the_review_is_so_far_and_reused_for_a_minute(
    harness: Harness,
) -> None:
    from warroom.services.review_loader import ReviewLoader

    h = harness
    now = int(time.time() * 1000)
    c = await h.create_campaign(starts_at=now - 60 * MIN, ends_at=now + 60 * MIN, milestones_fen=[])
    events = generate_day(now - 60 * MIN, now - MIN, seed=5)
    # the sale is on: nothing stamped more than 5 minutes ahead of its clock is accepted
    events = [e for e in events if not isinstance(e.get("ts"), int) or e["ts"] <= now + 4 * MIN]
    assert (await h.post_events("sale", c["ingest_token"], events)).status_code == 202
    res = await h.client.get(f"/c/sale/review?token={c['viewer_token']}")
    assert res.status_code == 200 and "进行中" in res.text
    rt = h.runtime
    record = rt.store.get_campaign("sale")
    loader = ReviewLoader(rt.store.engine, rt.reports)
    first, _ = loader.load(record, int(time.time() * 1000))
    assert first["totals"]["events"] == len(events) and not first["ended"]
    more = [{"type": "message", "message_id": "late-talk", "group_id": "g1", "member_id": "m1",
             "ts": now}]  # fmt: skip
    assert (await h.post_events("sale", c["ingest_token"], more)).json()["accepted"] == 1
    again, _ = loader.load(record, int(time.time() * 1000))
    assert again is first  # within a minute: no rescan per view
    fresh, _ = ReviewLoader(rt.store.engine, rt.reports, live_reuse_s=0).load(
        record, int(time.time() * 1000)
    )
    assert fresh["totals"]["events"] == len(events) + 1
    assert fresh["totals"]["messages"] == first["totals"]["messages"] + 1


async def test_an_empty_campaign_has_a_review_and_header_only_csvs(harness: Harness) -> None:
    h = harness
    c = await h.create_campaign()
    auth = {"Authorization": f"Bearer {c['viewer_token']}"}
    res = await h.client.get(f"/c/sale/review?token={c['viewer_token']}")
    assert res.status_code == 200 and "还没有数据" in res.text
    for table in ("minutes", "sellers", "groups", "products", "stimuli", "reports", "events"):
        res = await h.client.get(f"/api/v1/campaigns/sale/export/{table}.csv", headers=auth)
        assert res.status_code == 200
        text = res.content.decode("utf-8")
        assert text.startswith(BOM) and text[1:].split("\r\n")[0] == ",".join(COLUMNS[table])
    res = await h.client.get("/c/sale/review?token=wrong")
    assert res.status_code == 401
