"""Where a person reads a stimulus's effect: the review page, its CSV, the console's
fires list. The effect with its interval, or "效果待评估", never the old uplift ratio."""

from __future__ import annotations

import csv
import io
import time

import orjson

from tests.conftest import Harness
from tests.e2e.test_console import sign_in
from tests.e2e.test_effects import campaign, fire, order, post
from warroom.core.reports.effect_view import PENDING, effect_text

MIN = 60_000
EFFECT = {
    "method": "holdout", "treated_groups": 36, "holdout_groups": 12,
    "incremental_gmv_fen": 1_800_000, "ci90_fen": [900_000, 2_700_000], "roi": 9.0,
    "roi_ci90": [4.5, 13.5], "overlaps": [], "pre_minutes": 10,
}  # fmt: skip
TREND = {
    "method": "trend", "treated_groups": 48, "holdout_groups": 0,
    "incremental_gmv_fen": 2_000_000, "ci90_fen": [-2_000_000, 6_000_000], "roi": None,
    "roi_ci90": None, "pre_minutes": 10,
}  # fmt: skip
LINE = "增量 ¥1.8万（90% 区间 ¥9,000–¥2.7万），ROI 9.0×（4.5×–13.5×）"


async def fires(h: Harness) -> tuple[dict[str, str], dict[str, int]]:
    now = int(time.time() * 1000)
    c, record = await campaign(h, now)
    at = now - 60 * MIN
    await post(h, c, [order(f"o{k}", "g1", 10_000, at + k * MIN) for k in range(-12, 30)])
    rt = h.runtime
    ids = {
        "holdout": fire(h, record, "fire:a", at, amount_fen=200_000),
        "trend": fire(h, record, "fire:b", at + 5 * MIN, kind="announcement", amount_fen=0),
        "pending": fire(h, record, "fire:c", at + 50 * MIN),
        "proposal": fire(h, record, "fire:d", at + 55 * MIN, status="proposed", rule="待批"),
    }
    rt.reports.set_effect(
        ids["holdout"], orjson.dumps({**EFFECT, "overlaps": [ids["trend"]]}).decode()
    )
    rt.reports.set_effect(
        ids["trend"], orjson.dumps({**TREND, "overlaps": [ids["holdout"]]}).decode()
    )
    for fid in ids.values():  # the old ratio is still there (its API field stays)
        rt.reports.set_uplift(fid, 4.6)
    return c, ids


def section(page: str, ident: str) -> str:
    return page.split(f'id="{ident}"')[1].split("</table>")[0]


async def test_the_review_page_and_csv_show_the_effect_with_its_interval(
    harness: Harness,
) -> None:
    c, ids = await fires(harness)
    res = await harness.client.get(f"/c/sale/review?token={c['viewer_token']}")
    assert res.status_code == 200
    table = section(res.text, "stimuli")
    assert effect_text(EFFECT) == LINE
    assert LINE in table
    assert "（趋势估计，证据较弱）" in table and PENDING in table
    assert "实验 36 个群 · 对照（留出）12 个群" in table
    assert f"效果窗口重叠（#{ids['trend']}）" in table
    # the uplift ratio is no longer shown as the effect; a proposal never happened
    assert "×4.6" not in table and "460" not in table and "提升" not in table
    assert f'data-id="{ids["proposal"]}"' not in table and "待批" not in table

    res = await harness.client.get(
        "/api/v1/campaigns/sale/export/stimuli.csv", params={"token": c["viewer_token"]}
    )
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(res.content.decode("utf-8-sig")))}
    assert set(rows) == {ids["holdout"], ids["trend"], ids["pending"]}
    h = rows[ids["holdout"]]
    assert (h["effect_method"], h["effect_incremental_gmv_fen"]) == ("holdout", "1800000")
    assert (h["effect_ci90_lo_fen"], h["effect_ci90_hi_fen"]) == ("900000", "2700000")
    assert (h["effect_roi"], h["effect_roi_ci90_lo"], h["effect_roi_ci90_hi"]) == (
        "9.0",
        "4.5",
        "13.5",
    )
    assert (h["effect_treated_groups"], h["effect_holdout_groups"]) == ("36", "12")
    assert h["effect_overlaps"] == str(ids["trend"]) and h["effect_text"] == LINE
    assert h["uplift"] == "1.0"  # the old column stays (the review computes it), for compatibility
    p = rows[ids["pending"]]
    assert p["effect_method"] == "" and p["effect_text"] == PENDING


async def test_the_console_lists_each_fire_with_its_effect(harness: Harness) -> None:
    c, ids = await fires(harness)
    await sign_in(harness.client)
    res = await harness.client.get("/admin/c/sale")
    assert res.status_code == 200
    table = section(res.text, "fires")
    assert LINE in table and PENDING in table and "（趋势估计，证据较弱）" in table
    assert "拉动" not in table and "460.0%" not in table
