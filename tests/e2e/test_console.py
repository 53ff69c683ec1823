"""The operator console over HTTP (in-process app, real Redis and SQL): sign-in,
sessions, CSRF on every change, no change by GET, tokens that never open the console,
and hostile text rendered inert on every page."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, Harness

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>🎉\u202eRTL名字"


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


async def sign_in(client: httpx.AsyncClient) -> str:
    res = await client.post("/admin/login", data={"token": ADMIN})
    assert res.status_code == 303, res.text
    home = await client.get("/admin")
    assert home.status_code == 200
    return csrf_of(home.text)


def form(**fields: Any) -> dict[str, str]:
    base = {
        "slug": "sale",
        "name": "双十一社群快闪",
        "timezone": "Asia/Shanghai",
        "starts_at": "2026-11-11T10:00",
        "ends_at": "2026-11-11T17:00",
        "target_base_fen": "1000000",
        "target_stretch_fen": "1500000.50",
        "milestones": "100000, 500000",
        "stimulus_budget_fen": "15000",
        "report_every_minutes": "30",
        "leaderboard_size": "10",
        "time_scale": "1",
    }
    base.update({k: str(v) for k, v in fields.items()})
    return base


async def test_sign_in_session_and_sign_out(harness: Harness) -> None:
    c = harness.client
    res = await c.get("/admin")
    assert res.status_code == 200 and 'name="token"' in res.text
    bad = await c.post("/admin/login", data={"token": "nope"})
    assert bad.status_code == 401 and "管理令牌不正确" in bad.text
    assert "wr_console" not in bad.headers.get("set-cookie", "")
    ok = await c.post("/admin/login", data={"token": ADMIN})
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    home = await c.get("/admin")
    assert "全部活动" in home.text
    token = csrf_of(home.text)
    assert (await c.post("/admin/logout")).status_code == 403  # no CSRF token
    assert (await c.post("/admin/logout", data={"csrf_token": token})).status_code == 303
    c.cookies.clear()
    # the old cookie is dead everywhere, not just forgotten by this client
    again = await c.get("/admin/new", cookies={"wr_console": cookie.split(";")[0].split("=", 1)[1]})
    assert again.status_code == 303 and again.headers["location"] == "/admin"


async def test_secure_cookie_behind_https_proxy(harness: Harness) -> None:
    res = await harness.client.post(
        "/admin/login", data={"token": ADMIN}, headers={"X-Forwarded-Proto": "https"}
    )
    assert "Secure" in res.headers["set-cookie"]


async def test_failed_sign_ins_are_throttled(harness: Harness) -> None:
    c = harness.client
    for _ in range(10):
        assert (await c.post("/admin/login", data={"token": "guess"})).status_code == 401
    res = await c.post("/admin/login", data={"token": ADMIN})
    assert res.status_code == 429 and 1 <= int(res.headers["Retry-After"]) <= 60
    assert "过多" in res.text


async def test_create_with_inline_errors_then_success(harness: Harness) -> None:
    c = harness.client
    csrf = await sign_in(c)
    for bad, message in (("-5", "负数"), ("1.005", "两位小数"), ("一百万", "数字")):
        res = await c.post(
            "/admin/new",
            data=form(target_base_fen=bad, csrf_token=csrf),
            headers={"HX-Request": "true"},
        )
        assert res.status_code == 422
        assert re.search(
            r'id="f-target_base_fen".*?data-error-for="target_base_fen">[^<]*' + message,
            res.text,
            re.S,
        ), res.text
    assert (await harness.runtime.campaigns.list()) == []
    res = await c.post("/admin/new", data=form(csrf_token=csrf))
    assert res.status_code == 200 and 'id="created"' in res.text
    record = await harness.runtime.campaigns.get("sale")
    s = record.settings
    assert (s.target_base_fen, s.target_stretch_fen) == (100_000_000, 150_000_050)
    assert s.milestones_fen == [10_000_000, 50_000_000] and s.stimulus_budget_fen == 1_500_000
    assert s.starts_at == 1_794_362_400_000  # 2026-11-11T10:00+08:00
    viewer = re.search(r'id="viewer-token" value="([^"]+)"', res.text).group(1)
    snap = await c.get(
        "/api/v1/campaigns/sale/snapshot", headers={"Authorization": f"Bearer {viewer}"}
    )
    assert snap.status_code == 200
    assert "<svg" in res.text and f"/c/sale/host?token={viewer}" in res.text


async def test_edit_target_is_recorded_and_seen_at_once(harness: Harness) -> None:
    c = harness.client
    created = await harness.create_campaign()
    csrf = await sign_in(c)
    res = await c.post(
        "/admin/c/sale/settings",
        data=form(target_base_fen="2000000", target_stretch_fen="", csrf_token=csrf),
    )
    assert res.status_code == 200 and 'id="saved"' in res.text
    snap = await harness.snapshot("sale", created["viewer_token"])
    assert snap["target"]["base_fen"] == 200_000_000
    page = await c.get("/admin/c/sale")
    assert "修改设置" in page.text and "target_base_fen" in page.text
    # the overview's live figures refresh from a read-only fragment
    order = {
        "type": "order",
        "order_id": "o1",
        "amount_fen": 1_234_500,
        "seller_id": "s",
        "group_id": "g",
        "buyer_id": "b",
        "product_id": "p",
        "ts": "2026-11-11T10:30:00+08:00",
    }
    assert (await harness.post_events("sale", created["ingest_token"], order)).status_code == 202
    await harness.drain()
    kpis = await c.get("/admin/c/sale/kpis")
    assert kpis.status_code == 200 and "¥1.23万" in kpis.text


async def test_api_list_patch_rotate_delete(harness: Harness) -> None:
    c = harness.client
    admin = {"Authorization": f"Bearer {ADMIN}"}
    created = await harness.create_campaign()
    listed = (await c.get("/api/v1/campaigns", headers=admin)).json()
    assert [r["slug"] for r in listed] == ["sale"] and listed[0]["state"] in (
        "upcoming",
        "live",
        "ended",
    )
    res = await c.patch("/api/v1/campaigns/sale", json={"target_base_fen": 5}, headers=admin)
    assert res.status_code == 200 and res.json()["target_base_fen"] == 5
    bad = await c.patch("/api/v1/campaigns/sale", json={"target_base_fen": -1}, headers=admin)
    assert bad.status_code == 422
    assert (
        await c.patch("/api/v1/campaigns/sale", json={"slug": "x"}, headers=admin)
    ).status_code == 422
    old = {"Authorization": f"Bearer {created['viewer_token']}"}
    rot = await c.post(
        "/api/v1/campaigns/sale/tokens/rotate", json={"which": "viewer"}, headers=admin
    )
    assert rot.status_code == 200
    assert (await c.get("/api/v1/campaigns/sale/snapshot", headers=old)).status_code == 401
    new = {"Authorization": f"Bearer {rot.json()['token']}"}
    assert (await c.get("/api/v1/campaigns/sale/snapshot", headers=new)).status_code == 200
    rot = await c.post(
        "/api/v1/campaigns/sale/tokens/rotate", json={"which": "ingest"}, headers=admin
    )
    ev = {"type": "message", "message_id": "m1", "group_id": "g", "member_id": "u"}
    assert (await harness.post_events("sale", created["ingest_token"], ev)).status_code == 401
    assert (await harness.post_events("sale", rot.json()["token"], ev)).status_code == 202
    hook = await c.post(
        "/api/v1/campaigns/sale/webhooks",
        json={"url": "https://example.com/h", "format": "json"},
        headers=admin,
    )
    hid = hook.json()["id"]
    assert (
        await c.delete(f"/api/v1/campaigns/sale/webhooks/{hid}", headers=admin)
    ).status_code == 200
    assert (await c.get("/api/v1/campaigns/sale/webhooks", headers=admin)).json() == []
    assert (
        await c.delete(f"/api/v1/campaigns/sale/webhooks/{hid}", headers=admin)
    ).status_code == 404
    docs = (await c.get("/api/openapi.json")).json()
    assert "patch" in docs["paths"]["/api/v1/campaigns/{slug}"]
    assert "/api/v1/campaigns/{slug}/tokens/rotate" in docs["paths"]
    assert "delete" in docs["paths"]["/api/v1/campaigns/{slug}/webhooks/{webhook_id}"]


async def test_admin_token_only_in_the_header(harness: Harness) -> None:
    c = harness.client
    await harness.create_campaign()
    assert (await c.get(f"/api/v1/campaigns?token={ADMIN}")).status_code == 401
    assert (
        await c.get("/api/v1/campaigns/sale/templates", params={"token": ADMIN})
    ).status_code == 401


async def test_other_tokens_never_open_the_console_or_admin_api(harness: Harness) -> None:
    c = harness.client
    a = await harness.create_campaign(slug="a")
    b = await harness.create_campaign(slug="b")
    for tok in (a["viewer_token"], a["ingest_token"]):
        h = {"Authorization": f"Bearer {tok}"}
        assert (await c.get("/api/v1/campaigns", headers=h)).status_code == 401
        assert (
            await c.patch("/api/v1/campaigns/a", json={"name": "x"}, headers=h)
        ).status_code == 401
        assert (
            await c.post("/api/v1/campaigns/a/tokens/rotate", json={"which": "viewer"}, headers=h)
        ).status_code == 401
        assert (await c.get("/api/v1/campaigns/a/webhooks", headers=h)).status_code == 401
        assert (await c.post("/admin/login", data={"token": tok})).status_code == 401
        assert (await c.get("/admin/c/a", headers=h)).status_code == 303
    # a campaign's tokens never open another campaign; unknown = wrong token
    wrong = await c.get(
        "/api/v1/campaigns/b/snapshot", headers={"Authorization": f"Bearer {a['viewer_token']}"}
    )
    unknown = await c.get(
        "/api/v1/campaigns/zz/snapshot", headers={"Authorization": f"Bearer {a['viewer_token']}"}
    )
    assert wrong.status_code == unknown.status_code == 401 and wrong.json() == unknown.json()
    ev = {"type": "message", "message_id": "m1", "group_id": "g", "member_id": "u"}
    assert (await harness.post_events("b", a["ingest_token"], ev)).status_code == 401
    assert (await c.get(f"/c/b?token={a['viewer_token']}")).status_code == 401
    assert b  # both exist
    assert (
        await c.get("/api/v1/campaigns/a", headers={"Authorization": f"Bearer {a['viewer_token']}"})
    ).json()["name"] == "双十一社群快闪"


async def _changes(harness: Harness) -> list[tuple[str, dict[str, str]]]:
    hook_id = harness.runtime.webhooks.add(1, "https://example.com/h", "json", "")
    return [
        ("/admin/new", form(slug="other")),
        ("/admin/c/sale/settings", form(name="改名")),
        (
            "/admin/c/sale/rules",
            {
                "name": "r",
                "window_minutes": "5",
                "below_peak_ratio": "50",
                "sustain_minutes": "2",
                "cooldown_minutes": "20",
                "max_fires": "3",
                "kind": "red_packet_rain",
                "amount": "888",
            },
        ),
        ("/admin/c/sale/rules/delete", {"name": "slump"}),
        ("/admin/c/sale/templates/scheduled", {"source": "hi {{ gmv }}"}),
        ("/admin/c/sale/tokens/rotate", {"which": "viewer"}),
        ("/admin/c/sale/webhooks", {"url": "https://example.com/x", "format": "json"}),
        (f"/admin/c/sale/webhooks/{hook_id}/delete", {}),
        ("/admin/c/sale/fire", {"kind": "announcement", "text": "hello"}),
        ("/admin/c/sale/pause", {"paused": "1"}),
        ("/admin/c/sale/end", {}),
        ("/admin/logout", {}),
    ]


async def state_of(harness: Harness) -> Any:
    rt = harness.runtime
    rows = rt.store.list_campaigns()
    return (
        [(r.settings.model_dump_json(), r.viewer_token_hash, r.ingest_token_hash) for r in rows],
        [tuple(h) for h in rt.webhooks.list(1)],
        rt.reports.templates(1),
        len(rt.reports.fires(1)),
    )


async def test_every_change_needs_csrf_and_get_changes_nothing(harness: Harness) -> None:
    rule = {"name": "slump", "action": {"kind": "red_packet_rain", "amount_fen": 100, "text": "t"}}
    await harness.create_campaign(
        stimulus_rules=[rule], starts_at="2020-01-01T00:00:00Z", ends_at="2099-01-01T00:00:00Z"
    )
    c = harness.client
    csrf = await sign_in(c)
    changes = await _changes(harness)
    before = await state_of(harness)
    for path, data in changes:
        for headers in ({}, {"X-CSRF-Token": "forged"}, {"HX-Request": "true"}):
            res = await c.post(path, data=data, headers=headers)
            assert res.status_code == 403, (path, headers, res.status_code)
        res = await c.post(path, data={**data, "csrf_token": csrf + "x"})
        assert res.status_code == 403, path
        # GET on a change's URL (a page, or 405) is not a change: see the state below
        assert (await c.get(path, params={**data, "csrf_token": csrf})).status_code < 500
    assert await state_of(harness) == before
    assert (await c.get("/admin")).status_code == 200  # still signed in: logout refused too
    # and with the token, a change does happen
    res = await c.post("/admin/c/sale/pause", data={"paused": "1"}, headers={"X-CSRF-Token": csrf})
    assert res.status_code == 200
    assert harness.runtime.store.get_campaign("sale").settings.rules_paused


async def test_hostile_text_renders_inert(harness: Harness) -> None:
    rule = {
        "name": HOSTILE[:90],
        "action": {"kind": "red_packet_rain", "amount_fen": 100, "text": HOSTILE},
    }
    created = await harness.create_campaign(
        name=HOSTILE[:100],
        stimulus_rules=[rule],
        starts_at="2020-01-01T00:00:00Z",
        ends_at="2099-01-01T00:00:00Z",
    )
    order = {
        "type": "order",
        "order_id": "o1",
        "amount_fen": 100,
        "seller_id": "s1",
        "seller_name": HOSTILE,
        "group_id": "g",
        "buyer_id": "b",
        "product_id": "p",
    }
    assert (await harness.post_events("sale", created["ingest_token"], order)).status_code == 202
    await harness.drain()
    c = harness.client
    csrf = await sign_in(c)
    await c.post(
        "/admin/c/sale/templates/scheduled",
        data={"source": "{{ campaign_name }} <b>x</b> " + HOSTILE, "csrf_token": csrf},
    )
    await c.post(
        "/admin/c/sale/fire", data={"kind": "announcement", "text": HOSTILE, "csrf_token": csrf}
    )
    pages = [
        "/admin",
        "/admin/c/sale",
        "/admin/c/sale/settings",
        "/admin/c/sale/rules",
        f"/admin/c/sale/rules?edit={HOSTILE[:90]}",
        "/admin/c/sale/templates?kind=scheduled",
        "/admin/c/sale/links",
        "/admin/c/sale/webhooks",
    ]
    htmls = [(await c.get(p)).text for p in pages]
    htmls.append(
        (
            await c.post(
                "/admin/c/sale/links",
                data={"viewer_token": created["viewer_token"], "csrf_token": csrf},
            )
        ).text
    )
    htmls.append(
        (
            await c.post(
                "/admin/c/sale/templates/scheduled/preview",
                data={"source": "{{ campaign_name }}" + HOSTILE, "csrf_token": csrf},
            )
        ).text
    )
    for html in htmls:
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)" in html or "alert" not in html
    assert any("&lt;img src=x onerror=alert(2)&gt;" in h for h in htmls)


@pytest.mark.parametrize(
    ("text", "fen", "error"),
    [
        ("1000000", 100_000_000, None),
        ("¥1,234.5", 123_450, None),
        ("0.01", 1, None),
        ("-1", None, "负数"),
        ("1.005", None, "两位小数"),
        ("abc", None, "数字"),
        ("1e5", None, "数字"),
        ("NaN", None, "数字"),
    ],
)
def test_money_in_yuan(text: str, fen: int | None, error: str | None) -> None:
    from warroom.web.console.forms import FieldError, parse_yuan

    if error is None:
        assert parse_yuan(text) == fen
    else:
        with pytest.raises(FieldError, match=error):
            parse_yuan(text)


def test_rule_preview_reads_as_a_sentence() -> None:
    from warroom.core.campaign import StimulusRule
    from warroom.web.console.forms import rule_preview

    rule = StimulusRule.model_validate(
        {
            "name": "r",
            "window_minutes": 5,
            "below_peak_ratio": 0.5,
            "sustain_minutes": 2,
            "cooldown_minutes": 20,
            "max_fires": 3,
            "action": {"kind": "red_packet_rain", "amount_fen": 88_800},
        }
    )
    assert (
        rule_preview(rule)
        == "当 5 分钟 GMV 速度低于峰值的 50% 持续 2 分钟时，发 ¥888 红包雨；冷却 20 分钟，最多 3 次"
    )


async def test_paused_rules_do_not_fire_until_resumed(harness: Harness) -> None:
    from warroom.workers.triggers import Triggers

    # a rule that fires at once: nothing sells, and the floor is above nothing
    rule = {
        "name": "floor",
        "window_minutes": 1,
        "floor": 100,
        "sustain_minutes": 0,
        "action": {"kind": "announcement", "amount_fen": 0, "text": "冲"},
    }
    # Doors opened two hours ago (a rule judges every minute since doors opened: a
    # start years back made each evaluation take seconds and the chat fall silent).
    now_s = int(time.time())
    c0 = await harness.create_campaign(
        stimulus_rules=[rule], starts_at=(now_s - 7200) * 1000, ends_at=(now_s + 86400) * 1000
    )
    # The chat is alive (a dead feed holds every rule): messages in the last minutes,
    # no sales, so the floor rule has a slump to fire on.
    chat = [
        {
            "type": "message",
            "message_id": f"m{i}",
            "group_id": "g1",
            "member_id": f"u{i}",
            "ts": (now_s - 150 + 30 * i) * 1000,
        }
        for i in range(6)
    ]
    res = await harness.post_events("sale", c0["ingest_token"], chat)
    assert res.json()["accepted"] == 6, res.text
    await harness.drain()
    rt = harness.runtime
    triggers = Triggers(rt.store, rt.hot, rt.reports, rt.announcer)
    c = harness.client
    csrf = await sign_in(c)
    res = await c.post("/admin/c/sale/pause", data={"paused": "1", "csrf_token": csrf})
    assert res.status_code == 200 and "自动规则已暂停" in res.text
    for _ in range(3):
        await triggers.tick()
    assert rt.reports.fires(1) == []
    res = await c.post("/admin/c/sale/pause", data={"paused": "0", "csrf_token": csrf})
    assert "自动规则已恢复" in res.text
    await triggers.tick()
    assert [f.rule for f in rt.reports.fires(1)] == ["floor"]
    audit = [a["action"] for a in rt.store.audit_log(1)]
    assert audit[:2] == ["resume_rules", "pause_rules"]
