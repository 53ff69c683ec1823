"""The flash-sale simulator: deterministic, true to its own figures, shaped like the day
in PRODUCT.md, valid on the wire, and counted exactly by the real pipeline."""

from __future__ import annotations

import statistics
from collections import Counter

import pytest

from tests.conftest import Harness
from tests.reference import comparable, reference
from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import CampaignClock
from warroom.core.ingest.events import normalize
from warroom.core.reports.rules import RuleState, evaluate_rules
from warroom.demo_campaign import demo_settings
from warroom.simulator import MIN, Sale, generate_sale, play, real_now_ms

START = 1_779_242_400_000  # 2026-05-20T10:00:00+08:00
TOTALS = ("gmv_fen", "refund_fen", "net_gmv_fen", "orders", "items", "buyers", "members")
TOTALS += ("messages", "active_members")


@pytest.fixture(scope="module")
def sale() -> Sale:
    return generate_sale(START)


def gmv_by(sale: Sale, bucket_minutes: int) -> list[int]:
    bins = [0] * (420 // bucket_minutes)
    for e in {e["order_id"]: e for e in sale.events if e["type"] == "order"}.values():
        bins[(e["ts"] - START) // (bucket_minutes * MIN)] += e["amount_fen"]
    return bins


def test_same_seed_same_sale_other_seed_other_sale(sale: Sale) -> None:
    again = generate_sale(START)
    assert again.timeline == sale.timeline and again.expected == sale.expected
    assert generate_sale(START, seed=7).timeline != sale.timeline


def test_totals_match_a_plain_reference_sum(sale: Sale) -> None:
    ref = reference(sale.events)["totals"]
    assert {k: ref[k] for k in TOTALS} == sale.expected


def test_the_reference_campaign_in_numbers(sale: Sale) -> None:
    t = sale.expected
    assert 176_000_000 <= t["gmv_fen"] < 176_100_000  # ¥176万
    assert 1_000 <= t["buyers"] <= 1_200 and 1_400 <= t["members"] <= 1_550
    refunds = {e["order_id"] for e in sale.events if e["type"] == "refund"}
    assert 0.01 < len(refunds) / t["orders"] < 0.03  # ~2%
    kinds = Counter(e.get("kind") for e in sale.events if e["type"] == "message")
    assert set(kinds) == {"text", "image", "order_screenshot", "red_packet"}
    assert any(e["type"] == "member" and e["action"] == "leave" for e in sale.events)
    names = {e["seller_name"] for e in sale.events if e["type"] == "order"}
    assert len(names) == 15 and "<b>小美</b>" in names and "🌸花姐接龙" in names
    assert len({e["group_id"] for e in sale.events if e["type"] == "order"}) == 30
    prices = {e["amount_fen"] // e["quantity"] for e in sale.events if e["type"] == "order"}
    assert len(prices) <= 20 and min(prices) == 990 and max(prices) == 39900


def test_resends_and_refunds_that_overtake_their_order(sale: Sale) -> None:
    ids = Counter(id(e) for e in sale.events)
    assert 20 <= sum(n - 1 for n in ids.values()) <= 150  # a few at-least-once re-sends
    seen_orders: set[str] = set()
    early = 0
    for e in sale.events:
        if e["type"] == "order":
            seen_orders.add(e["order_id"])
        elif e["type"] == "refund" and e["order_id"] not in seen_orders:
            early += 1
    assert early >= 5
    arrivals = [at for at, _ in sale.timeline]
    assert arrivals == sorted(arrivals)


def test_every_event_is_valid_v1_and_keeps_its_time(sale: Sale) -> None:
    for e in sale.events:
        assert normalize(e, arrival_ms=0)["ts"] == e["ts"]
    assert all(START <= e["ts"] < START + 420 * MIN for e in sale.events if e["type"] != "member")


@pytest.mark.parametrize("seed", [520, 1, 2])
def test_the_day_has_its_shape(seed: int) -> None:
    sale = generate_sale(START, seed=seed)
    hours = gmv_by(sale, 60)  # 10:00 .. 16:00
    assert hours[0] == max(hours) and hours[0] > 1.5 * statistics.median(hours)
    assert hours[2] > hours[1] and hours[2] > hours[3]  # the 12:00 wave, then the slump
    tens = gmv_by(sale, 10)
    assert tens[0] == max(tens)  # doors-open spike
    assert tens[12] > max(tens[8:12])  # the second wave of material at 12:00
    assert tens[18] == min(tens) and tens[18] < 0.4 * statistics.median(tens)  # 13:00 slump
    assert tens[19] > 3 * tens[18]  # revived by the red-packet rain
    assert tens[40] + tens[41] > tens[36] + tens[37]  # the closing rush


@pytest.mark.parametrize("seed", [520, 1, 2, 3])
def test_the_demo_rules_fire_in_the_slump_only(seed: int) -> None:
    s = CampaignSettings.model_validate(demo_settings("x", 60, START))
    sale = generate_sale(START, seed=seed)
    gmv, orders = Counter(), Counter()
    for e in {e["order_id"]: e for e in sale.events if e["type"] == "order"}.values():
        gmv[e["ts"] - e["ts"] % MIN] += e["amount_fen"]
        orders[e["ts"] - e["ts"] % MIN] += 1
    states = {r.name: RuleState() for r in s.stimulus_rules}
    spent, fired = 0, []
    for minute in range(1, 421):
        now = START + minute * MIN + 500
        for rule, d in evaluate_rules(s, gmv, orders, now, states, spent):
            if d.fire:
                fired.append(minute)
                states[rule.name] = RuleState(states[rule.name].fires_so_far + 1, now)
                spent += rule.action.amount_fen
    assert len(fired) == 2 and all(180 <= m <= 200 for m in fired), fired  # 13:00-13:20


def test_scale_and_prefix_keep_repeated_sales_apart() -> None:
    a = generate_sale(START, seed=1, scale=0.1, id_prefix="a-")
    b = generate_sale(START, seed=1, scale=0.1, id_prefix="b-")
    keys = {normalize(e, 0)["key"] for e in a.events}
    assert not keys & {normalize(e, 0)["key"] for e in b.events}
    assert 17_600_000 <= a.expected["gmv_fen"] < 17_700_000


async def test_played_through_the_api_the_pipeline_counts_it_exactly(harness: Harness) -> None:
    start = real_now_ms() - 8 * 3600_000
    start -= start % MIN
    sale = generate_sale(start, seed=3)
    c = await harness.create_campaign(starts_at=start, ends_at=start + 420 * MIN)
    clock = CampaignClock(start, real_now_ms(), 1)  # the whole day is already due
    stats = await play(harness.client, "sale", c["ingest_token"], sale, clock)
    assert stats.sent == len(sale.timeline) and stats.rejected == 0
    assert stats.duplicates == stats.sent - stats.accepted > 0
    await harness.drain()
    snap = await harness.snapshot("sale", c["viewer_token"])
    assert comparable(snap) == comparable(reference(sale.events))
