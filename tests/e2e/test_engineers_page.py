"""The console's engineers' page (工程, issue 20), in-process against real Redis and SQL:
operators and owners see every live campaign's figures, refreshed by an htmx partial;
events per second follow what was posted; pending events fall to 0 once applied; an
analyst is refused, a signed-out browser is sent to the sign-in; no token on the page."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client import REGISTRY

from tests.conftest import ADMIN, Harness
from tests.e2e.test_people import add_user, person_client


def live_campaign(slug: str = "live", name: str = "双十二直播间") -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "slug": slug,
        "name": name,
        "starts_at": (now - timedelta(hours=1)).isoformat(timespec="seconds"),
        "ends_at": (now + timedelta(hours=6)).isoformat(timespec="seconds"),
    }


def order(i: int, amount_fen: int = 1990) -> dict[str, Any]:
    return {
        "type": "order",
        "order_id": f"o{i}",
        "amount_fen": amount_fen,
        "seller_id": "s1",
        "group_id": "g1",
        "buyer_id": f"b{i}",
        "product_id": "p1",
    }


def row_of(html: str, slug: str) -> str:
    m = re.search(rf'<tr data-slug="{re.escape(slug)}">(.*?)</tr>', html, re.S)
    assert m, html[:2000]
    return m.group(1)


def rate(row: str, outcome: str) -> float | None:
    m = re.search(rf'data-rate="{outcome}" data-value="([^"]*)"', row)
    assert m, row
    return float(m.group(1)) if m.group(1) else None


def figure(row: str, name: str) -> str:
    m = re.search(rf'data-{name}="([^"]*)"', row)
    assert m, row
    return m.group(1)


async def until_live(
    client: httpx.AsyncClient, check: Any, timeout: float = 6.0
) -> tuple[str, str]:
    """Poll the partial (as htmx does) until check(row) holds: (whole html, the row)."""
    deadline = time.monotonic() + timeout
    while True:
        res = await client.get("/admin/engineers/live", headers={"HX-Request": "true"})
        assert res.status_code == 200, res.text[:500]
        row = row_of(res.text, "live")
        if check(row):
            return res.text, row
        assert time.monotonic() < deadline, row
        await asyncio.sleep(0.2)


async def test_an_operator_watches_rates_and_pending_fall_to_zero(harness: Harness) -> None:
    h = harness
    made = await h.create_campaign(**live_campaign())
    await h.create_campaign(slug="over")  # ended on 2026-11-11: not on the page
    op = await add_user(h, "ops@example.com", "operator")
    oc, _ = await person_client(h, "ops@example.com", op["password"])
    async with oc:
        home = await oc.get("/admin")
        assert 'href="/admin/engineers"' in home.text  # the nav entry
        res = await oc.get("/admin/engineers")
        assert res.status_code == 200
        page = res.text
        assert "工程" in page and "双十二直播间" in page
        assert 'hx-get="/admin/engineers/live"' in page and 'hx-trigger="every 2s"' in page
        assert 'data-slug="over"' not in page
        assert 'data-dependency="redis" data-up="1"' in page
        assert 'data-dependency="database" data-up="1"' in page
        assert "多进程部署请用 Prometheus 汇总" in page
        # The counters are the process's: other tests may have moved them before this one.
        if not REGISTRY.get_sample_value("warroom_last_restore_timestamp_seconds"):
            assert "无" in page  # no restore since the process started

        await asyncio.sleep(0.05)
        events = [order(i) for i in range(1, 6)]
        res = await h.post_events("live", made["ingest_token"], events)
        assert res.json() == {"accepted": 5, "duplicates": 0, "rejected": []}, res.text
        res = await h.post_events("live", made["ingest_token"], [order(1), order(9, -5)])
        body = res.json()
        assert body["duplicates"] == 1 and len(body["rejected"]) == 1, res.text

        html, row = await until_live(oc, lambda r: figure(r, "pending") not in ("", "0"))
        assert (rate(row, "accepted") or 0) > 0
        assert (rate(row, "duplicate") or 0) > 0
        assert (rate(row, "rejected") or 0) > 0
        assert int(figure(row, "pending")) == 5
        assert html.lstrip().startswith('<div id="engineers-live"')  # a partial, no layout
        assert "<html" not in html

        await h.drain()
        html, row = await until_live(oc, lambda r: figure(r, "pending") == "0")
        lag = figure(row, "lag")
        assert lag == "" or float(lag) >= 0

        for text in (page, html):
            for secret in (made["ingest_token"], made["viewer_token"], ADMIN):
                assert secret not in text


async def test_owners_see_it_analysts_do_not_and_signed_out_go_to_sign_in(
    harness: Harness,
) -> None:
    h = harness
    await h.create_campaign(**live_campaign())
    owner = await add_user(h, "boss@example.com", "owner")
    analyst = await add_user(h, "an@example.com", "analyst")
    bc, _ = await person_client(h, "boss@example.com", owner["password"])
    ac, _ = await person_client(h, "an@example.com", analyst["password"])
    async with bc, ac:
        assert (await bc.get("/admin/engineers")).status_code == 200
        assert (await bc.get("/admin/engineers/live")).status_code == 200

        assert 'href="/admin/engineers"' not in (await ac.get("/admin")).text
        for path in ("/admin/engineers", "/admin/engineers/live"):
            res = await ac.get(path)
            assert res.status_code == 403, res.text[:300]
            assert "没有权限" in res.text and "工程页" in res.text
            assert "双十二直播间" not in res.text

    out = httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app), base_url="http://testserver")
    async with out:
        res = await out.get("/admin/engineers")
        assert res.status_code == 303 and res.headers["location"] == "/admin"
        res = await out.get("/admin/engineers/live", headers={"HX-Request": "true"})
        assert res.status_code == 401 and res.headers["hx-redirect"] == "/admin"


async def test_the_admin_token_signs_in_as_owner_and_sees_the_page(harness: Harness) -> None:
    from tests.e2e.test_console import sign_in

    await sign_in(harness.client)
    res = await harness.client.get("/admin/engineers")
    assert res.status_code == 200
    assert 'id="no-campaigns"' in res.text  # no live campaign: said, not an empty table
