"""The console's links page (in-process app, real Redis and SQL): create scoped links
(shown once, with a QR code), list them with their last use, revoke; CSRF on every
change; hostile labels inert; links built from WARROOM_PUBLIC_URL when it is set."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import Harness, clean_settings, harness_for
from tests.e2e.test_console import HOSTILE, sign_in


async def links_page(c: httpx.AsyncClient) -> str:
    res = await c.get("/admin/c/sale/links")
    assert res.status_code == 200
    return res.text


async def test_create_list_use_revoke(harness: Harness) -> None:
    created = await harness.create_campaign()
    c = harness.client
    csrf = await sign_in(c)
    page = await links_page(c)
    assert 'id="links-empty"' in page and 'id="link-form"' in page

    res = await c.post(
        "/admin/c/sale/links/new",
        data={"kind": "wall_masked", "label": "大厅 LED", "expires": "24", "csrf_token": csrf},
    )
    assert res.status_code == 200, res.text
    url = re.search(
        r'id="created-url" data-copy-src[^>]*|value="([^"]+)" id="created-url"', res.text
    )
    assert url and url.group(1), res.text[:2000]
    link = url.group(1).replace("&amp;", "&")
    assert link.startswith("http://testserver/c/sale?token=lk_")
    assert "<svg" in res.text and "隐藏金额" in res.text  # the QR code, the masked tag
    # shown once: the list has no URL or token
    later = await links_page(c)
    token = link.split("token=")[1]
    assert token not in later and "大厅 LED" in later and "从未" in later
    # its use is recorded (the masked screen opens; no amount in it)
    screen = await c.get(link.removeprefix("http://testserver"))
    assert screen.status_code == 200 and 'data-fen=""' in screen.text
    assert "从未" not in await links_page(c)

    # a host link needs a seller; the error says so and nothing is created
    res = await c.post(
        "/admin/c/sale/links/new", data={"kind": "host", "seller_id": "", "csrf_token": csrf}
    )
    assert res.status_code == 422 and "团长" in res.text
    assert len(await harness.runtime.links.list(await harness.runtime.campaigns.get("sale"))) == 1
    res = await c.post(
        "/admin/c/sale/links/new",
        data={"kind": "host", "seller_id": "s1", "label": HOSTILE[:60], "csrf_token": csrf},
    )
    assert res.status_code == 422  # a bidi override in a label is refused
    res = await c.post(
        "/admin/c/sale/links/new",
        data={"kind": "host", "seller_id": "s1", "label": "<b>阿芳</b>", "csrf_token": csrf},
    )
    assert res.status_code == 200 and "&lt;b&gt;阿芳&lt;/b&gt;" in res.text

    # without CSRF: refused, nothing changes
    res = await c.post("/admin/c/sale/links/new", data={"kind": "wall"})
    assert res.status_code == 403
    ids = re.findall(r'data-revoke="(\d+)"', await links_page(c))
    assert len(ids) == 2
    res = await c.post(f"/admin/c/sale/links/{ids[-1]}/revoke", data={})
    assert res.status_code == 403
    res = await c.post(f"/admin/c/sale/links/{ids[-1]}/revoke", data={"csrf_token": csrf})
    assert res.status_code == 200 and "已撤销" in res.text
    assert (await c.get(link.removeprefix("http://testserver"))).status_code == 401
    res = await c.post("/admin/c/sale/links/999/revoke", data={"csrf_token": csrf})
    assert res.status_code == 404
    assert created["viewer_token"]


@pytest.fixture
async def public(redis_url: str, database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = clean_settings(
        redis_url, database_url, tmp_path, warroom_public_url="https://wr.example.com/"
    )
    async with harness_for(settings) as h:
        yield h


async def test_links_start_with_the_public_url(public: Harness) -> None:
    await public.create_campaign()
    res = await public.client.post(
        "/api/v1/campaigns/sale/links",
        json={"kind": "host", "seller_id": "s1"},
        headers={"Authorization": "Bearer " + public.runtime.settings.warroom_admin_token},
    )
    assert res.status_code == 201
    assert res.json()["url"].startswith("https://wr.example.com/c/sale/host?token=lk_")
