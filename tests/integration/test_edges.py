"""The smaller edges of issue 17 (item 8), each against the real app, Redis and SQL:
a malformed `limit`, the console's webhook form and delete, the API's webhook list,
what /static serves, the template preview's bounds, and a huge request header."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time

import httpx
import pytest

from tests.conftest import ADMIN, Harness

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


async def sign_in(client: httpx.AsyncClient) -> str:
    res = await client.post("/admin/login", data={"token": ADMIN})
    assert res.status_code == 303, res.text
    return csrf_of((await client.get("/admin")).text)


async def test_a_limit_that_is_not_ascii_digits_is_a_400(harness: Harness) -> None:
    c = await harness.create_campaign()
    auth = {"Authorization": f"Bearer {c['viewer_token']}"}
    for bad in ("%C2%B2", "%D9%A3", "-1", "1.5", "x"):  # ², Arabic-Indic 3: isdigit() yet no int
        res = await harness.client.get(f"/api/v1/campaigns/sale/groups?limit={bad}", headers=auth)
        assert res.status_code == 400, (bad, res.status_code, res.text)
        assert "limit" in res.json()["error"]
    ok = await harness.client.get("/api/v1/campaigns/sale/groups?limit=3", headers=auth)
    assert ok.status_code == 200, ok.text


def private_name() -> str:
    """A host name (not `localhost`) that resolves to a non-public address here."""
    name = socket.gethostname()
    ips = {ipaddress.ip_address(i[4][0]) for i in socket.getaddrinfo(name, 443)}
    if not ips or all(ip.is_global for ip in ips):
        pytest.skip(f"{name} resolves to public addresses only: {ips}")
    return name


async def test_the_console_refuses_a_webhook_url_the_api_refuses(harness: Harness) -> None:
    """A name that resolves to a private address: the API said 422, the console saved it."""
    await harness.create_campaign()
    url = f"http://{private_name()}:9/hook?key=robot"
    api = await harness.client.post(
        "/api/v1/campaigns/sale/webhooks", json={"url": url, "format": "json"}, headers=ADMIN_H
    )
    assert api.status_code == 422, api.text
    token = await sign_in(harness.client)
    res = await harness.client.post(
        "/admin/c/sale/webhooks", data={"csrf_token": token, "url": url, "format": "json"}
    )
    assert res.status_code == 422, res.text
    assert "地址不可用" in res.text
    assert harness.runtime.webhooks.list(1) == []


async def test_deleting_another_campaigns_webhook_in_the_console_says_not_found(
    harness: Harness,
) -> None:
    await harness.create_campaign()
    await harness.create_campaign(slug="other")
    other = harness.runtime.store.get_campaign("other")
    assert other is not None
    hook_id = harness.runtime.webhooks.add(other.id, "https://example.com/h", "json", "")
    token = await sign_in(harness.client)
    res = await harness.client.post(
        f"/admin/c/sale/webhooks/{hook_id}/delete", data={"csrf_token": token}
    )
    assert res.status_code == 404, res.text
    assert "没有这个推送目标" in res.text and "已删除" not in res.text
    assert [h.id for h in harness.runtime.webhooks.list(other.id)] == [hook_id]  # still there


async def test_the_api_lists_webhooks_without_the_robot_key(harness: Harness) -> None:
    await harness.create_campaign()
    key = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    url = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}"
    harness.runtime.webhooks.add(1, url, "wecom", "")
    res = await harness.client.get("/api/v1/campaigns/sale/webhooks", headers=ADMIN_H)
    assert res.status_code == 200, res.text
    (listed,) = res.json()
    assert key not in res.text
    assert listed["url"].startswith("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?")


async def test_static_serves_assets_but_no_python(harness: Harness) -> None:
    assert (await harness.client.get("/static/js/screen.js")).status_code == 200
    for path in ("/static/__init__.py", "/static/js/../__init__.py", "/static/__init__.pyc"):
        res = await harness.client.get(path)
        assert res.status_code == 404, (path, res.status_code)


# -- the template preview ----------------------------------------------------------------

RUNAWAY = [
    # nested loops: a hundred million steps on the event loop
    "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}x",
    # loops over a long string, without range
    "{% set s = 'x' * 9000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}x",
    # output: 30 MB before the length check
    "{% for a in range(3000) %}{{ 'x' * 9999 }}{% endfor %}",
    # widths: a padded string of a billion spaces
    "{{ 'x'.ljust(1000000000) }}",
    "{{ '%1000000000d' | format(1) }}",
    "{{ '{:>1000000000}'.format(1) }}",
    "{{ 'x' | center(1000000000) }}",
]


@pytest.mark.parametrize("source", RUNAWAY)
async def test_a_runaway_template_preview_is_refused_quickly_off_the_event_loop(
    harness: Harness, source: str
) -> None:
    await harness.create_campaign()
    token = await sign_in(harness.client)
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:  # the event loop stays free meanwhile
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    t = asyncio.create_task(ticker())
    began = time.monotonic()
    res = await harness.client.post(
        "/admin/c/sale/templates/scheduled/preview", data={"csrf_token": token, "source": source}
    )
    took = time.monotonic() - began
    stop.set()
    await t
    assert res.status_code == 200, res.text
    assert "过长" in res.text or "不允许" in res.text or "超出" in res.text, res.text[-800:]
    assert took < 3.0, took
    assert max(gaps, default=0.0) < 1.0, max(gaps)  # the loop was never held up


async def test_a_long_template_source_is_refused_before_it_is_parsed(harness: Harness) -> None:
    await harness.create_campaign()
    token = await sign_in(harness.client)
    res = await harness.client.post(
        "/admin/c/sale/templates/scheduled/preview",
        data={"csrf_token": token, "source": "x" * 9_000},
    )
    assert res.status_code == 200 and "模板过长" in res.text, res.text[-500:]
