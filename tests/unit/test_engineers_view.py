"""What the engineers' page shows from one vitals reading and one pass over the metrics
(web/console/engineers.live_context): rates by campaign and outcome, lag colours,
viewers summed per campaign, the last restore, deliveries and refusals, and "—" or
"无" where nothing is known."""

from __future__ import annotations

from warroom.core.rates import RateWindow
from warroom.services.vitals import CampaignVitals, Reading
from warroom.web.console.engineers import (
    DELIVERIES_TOTAL,
    LAST_RESTORE,
    READ,
    REFUSED_TOTAL,
    RESTORES_TOTAL,
    VIEWERS,
    Samples,
    lag_level,
    live_context,
    shown_lag,
    shown_rate,
    with_code,
)

AT_MS = 1_796_000_000_000  # 2026-11-30 06:13:20 UTC


def vitals(**kw: object) -> CampaignVitals:
    base: dict[str, object] = {
        "slug": "sale",
        "name": "双十一",
        "pending_events": 0,
        "settled_lag_s": 1.0,
        "restoring": False,
        "queued_deliveries": 0,
    }
    base.update(kw)
    return CampaignVitals(**base)  # type: ignore[arg-type]


def empty() -> Samples:
    return {name: [] for name in READ}


def test_thresholds_and_formats() -> None:
    assert [lag_level(x) for x in (None, 0, 10, 10.5, 60, 61)] == [
        "unknown",
        "ok",
        "ok",
        "warn",
        "warn",
        "bad",
    ]
    assert shown_lag(None) == "—" and shown_lag(2.345) == "2.3 秒" and shown_lag(75) == "75 秒"
    assert shown_lag(600) == "10.0 分钟"
    assert [shown_rate(x) for x in (None, 0, 0.25, 9.94, 1234.4)] == [
        "—",
        "0",
        "0.2",
        "9.9",
        "1,234",
    ]
    assert str(with_code("a `warroom serve` <b>")) == "a <code>warroom serve</code> &lt;b&gt;"


def test_campaign_rows_and_process_figures() -> None:
    w: RateWindow[tuple[str, ...]] = RateWindow()
    w.observe(0.0, {("sale", "accepted"): 100, ("other", "accepted"): 5})
    rates = w.observe(
        2.0,
        {("sale", "accepted"): 120, ("sale", "rejected"): 1, ("other", "accepted"): 9},
    )
    samples = empty()
    samples[VIEWERS] = [({"campaign": "sale"}, 3.0), ({"campaign": "sale"}, 2.0)]
    samples[LAST_RESTORE] = [({}, AT_MS / 1000 - 90)]
    samples[RESTORES_TOTAL] = [({"reason": "lost"}, 2.0)]
    samples[DELIVERIES_TOTAL] = [
        ({"kind": "wecom", "outcome": "failed"}, 1.0),
        ({"kind": "wecom", "outcome": "delivered"}, 7.0),
        ({"kind": "json", "outcome": "delivered"}, 3.0),
        ({"kind": "json", "outcome": "retry"}, 0.0),
    ]
    samples[REFUSED_TOTAL] = [({"limit": "pending_events"}, 4.0), ({"limit": "new_one"}, 1.0)]
    reading = Reading(
        AT_MS,
        [
            vitals(pending_events=12, settled_lag_s=42.0, queued_deliveries=2),
            vitals(
                slug="zz",
                name="恢复中的活动",
                pending_events=None,
                settled_lag_s=None,
                restoring=True,
            ),
        ],
        {"database": True, "redis": False},
    )
    ctx = live_context(reading, samples, rates)
    sale, zz = ctx["campaigns"]
    assert [(r["outcome"], r["per_s"], r["shown"]) for r in sale["rates"]] == [
        ("accepted", 10.0, "10"),
        ("duplicate", 0.0, "0"),
        ("rejected", 0.5, "0.5"),
    ]
    assert sale["pending"] == 12 and sale["lag_level"] == "warn" and sale["lag"] == "42 秒"
    assert sale["viewers"] == 5 and sale["queued"] == 2 and not sale["restoring"]
    assert zz["restoring"] and zz["lag"] == "—" and zz["lag_level"] == "unknown"
    assert zz["pending"] is None and zz["viewers"] == 0
    assert [r["shown"] for r in ctx["all_rates"]] == ["12", "0", "0.5"]
    # Redis first, then the database
    assert [(d["label"], d["up"]) for d in ctx["dependencies"]] == [
        ("Redis", False),
        ("数据库", True),
    ]
    assert not ctx["database_down"]
    assert ctx["last_restore"].endswith("（1 分钟前）")
    assert [(r["label"], r["n"]) for r in ctx["restores"]] == [("数据丢失后恢复", 2)]
    assert [(d["key"], d["n"]) for d in ctx["deliveries"]] == [("delivered", 10), ("failed", 1)]
    assert [(r["key"], r["n"]) for r in ctx["refused"]] == [("pending_events", 4), ("new_one", 1)]


def test_nothing_known_yet() -> None:
    w: RateWindow[tuple[str, ...]] = RateWindow()
    rates = w.observe(0.0, {("sale", "accepted"): 100})
    ctx = live_context(
        Reading(AT_MS, [vitals()], {"redis": True, "database": True}), empty(), rates
    )
    assert not ctx["measured"]
    assert [r["shown"] for r in ctx["campaigns"][0]["rates"]] == ["—", "—", "—"]
    assert [r["shown"] for r in ctx["all_rates"]] == ["—", "—", "—"]
    assert ctx["last_restore"] == "无" and ctx["deliveries"] == [] and ctx["refused"] == []
    down = live_context(Reading(AT_MS, [], {"redis": True, "database": False}), empty(), rates)
    assert down["database_down"] and down["campaigns"] == []


def test_the_partial_shows_restoring_lag_colours_and_a_dependency_down() -> None:
    from warroom.bootstrap import web_app
    from warroom.settings import Settings

    env = web_app(Settings(warroom_admin_token="x")).state.pages_env
    w: RateWindow[tuple[str, ...]] = RateWindow()
    w.observe(0.0, {})
    rates = w.observe(2.0, {("a", "rejected"): 2})
    reading = Reading(
        AT_MS,
        [
            vitals(slug="a", name="<b>甲</b>", settled_lag_s=75.0),
            vitals(slug="b", settled_lag_s=None, restoring=True, pending_events=None),
        ],
        {"redis": False, "database": True},
    )
    html = env.get_template("admin/_engineers_live.html").render(
        live_context(reading, empty(), rates)
    )
    assert html.lstrip().startswith('<div id="engineers-live" hx-get="/admin/engineers/live"')
    assert 'hx-trigger="every 2s"' in html
    assert "&lt;b&gt;甲&lt;/b&gt;" in html and "<b>甲</b>" not in html
    assert 'class="num lag-bad" data-lag="75.0"' in html and "75 秒" in html
    assert html.count('data-restoring="1"') == 1 and "恢复中" in html
    assert 'class="dep dep-down" data-dependency="redis" data-up="0"' in html
    assert "Redis：不可用" in html and "数据库：正常" in html
    assert 'eng-rate o-rejected nonzero" data-rate="rejected" data-value="1.0"' in html
