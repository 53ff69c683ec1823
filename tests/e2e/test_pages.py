"""The screens' server render (in-process app, real Redis and database): what the first
paint shows, who may see it, and that names from chat apps stay inert text."""

from __future__ import annotations

import re

from tests.conftest import Harness
from tests.e2e.test_smoke import order as smoke_order

HOSTILE = {
    "s1": "<script>alert(1)</script>",
    "s2": '<img src=x onerror="alert(2)">',
    "s3": "{{7*7}}",
    "s4": "\u202eevil\u202c",
}


def order(i: int, amount: int, seller: str, name: str | None = None) -> dict:
    return smoke_order(i, amount, seller, **({"seller_name": name} if name is not None else {}))


async def sale(h: Harness) -> dict[str, str]:
    c = await h.create_campaign()
    events = [order(i, 4_000_000 - i * 1_000_000, s, n) for i, (s, n) in enumerate(HOSTILE.items())]
    events.append({**order(9, 12_345_600, "s5", "王姐团购"), "group_name": '"><b>群</b>'})
    res = await h.post_events("sale", c["ingest_token"], events)
    assert res.status_code == 202 and res.json()["accepted"] == 5, res.text
    await h.drain()
    await h.runtime.hot.push_feed(
        "sale",
        "reports",
        {
            "id": 1,
            "kind": "milestone",
            "at": "2026-11-11T10:06:00+08:00",
            "text": "🎉 突破 ¥10万\n🥇 <script>x</script>",
        },
    )
    return c


async def test_big_screen_first_render(harness: Harness) -> None:
    c = await sale(harness)
    res = await harness.client.get(f"/c/sale?token={c['viewer_token']}")
    assert res.status_code == 200
    html = res.text
    assert res.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in res.headers["content-security-policy"]
    assert res.headers["referrer-policy"] == "no-referrer"
    assert "双十一社群快闪" in html
    assert (
        "¥22.35万" in html
    )  # headline GMV in 万: 4,000,000+3,000,000+2,000,000+1,000,000+12,345,600 fen
    assert 'data-fen="22345600"' in html
    assert "王姐团购" in html and "¥12.35万" in html
    assert "/static/vendor/plotly.min.js" in html and "/static/js/screen.js" in html
    assert "https://" not in html and "http://" not in html  # no CDN, nothing external
    assert "🎉 突破 ¥10万" in html
    assert re.search(r'class="dot', html) and "数据延迟" in html


async def test_quiet_option_is_bounded_and_bad_values_fall_back(harness: Harness) -> None:
    c = await sale(harness)
    cases = {
        "": "60000", "&quiet=30": "30000", "&quiet=0.2": "1000", "&quiet=-5": "1000",
        "&quiet=1e9": "3600000", "&quiet=abc": "60000", "&quiet=nan": "60000",
        "&quiet=inf": "60000", "&quiet=%3Cscript%3E": "60000",
    }  # fmt: skip
    for extra, expected in cases.items():
        for path in ("/c/sale", "/c/sale/host"):
            res = await harness.client.get(f"{path}?token={c['viewer_token']}{extra}")
            assert res.status_code == 200
            assert f'<html lang="zh-CN" data-quiet-ms="{expected}">' in res.text, (path, extra)


async def test_names_are_inert_text(harness: Harness) -> None:
    c = await sale(harness)
    for path in ("/c/sale", "/c/sale/host", "/c/sale/host/seller"):
        html = (await harness.client.get(f"{path}?token={c['viewer_token']}&seller=s2")).text
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "<b>群</b>" not in html and "<script>x" not in html
        assert ">49<" not in html and ". 49<" not in html  # {{7*7}} never evaluated
    screen = (await harness.client.get(f"/c/sale?token={c['viewer_token']}")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in screen
    assert "{{7*7}}" in screen
    assert "<bdi" in screen and "\u202eevil" in screen  # shown, but isolated by <bdi>


async def test_screens_need_the_viewer_token(harness: Harness) -> None:
    c = await sale(harness)
    for path in ("/c/sale", "/c/sale/host", "/c/sale/host/seller"):
        for token in ("", "wrong", c["ingest_token"]):
            res = await harness.client.get(f"{path}?token={token}")
            assert res.status_code == 401, (path, token)
            assert "text/html" in res.headers["content-type"]
            assert "需要有效的查看令牌" in res.text
    res = await harness.client.get(f"/c/nope?token={c['viewer_token']}")
    assert res.status_code == 401 and "需要有效的查看令牌" in res.text  # no probing names


async def test_masked_screen_shows_no_money(harness: Harness) -> None:
    c = await sale(harness)
    html = (await harness.client.get(f"/c/sale?token={c['viewer_token']}&mask=1")).text
    body = html[html.index("<body") :]
    assert not re.search(r"[¥￥]\s?\d", body), re.findall(r".{20}[¥￥]\s?\d.{10}", body)
    assert "22.3%" in body  # 22,345,600 of a 100,000,000-fen base target
    assert "¥•••" in body  # money inside report texts is masked too
    assert 'class="screen masked"' in html


async def test_host_view_and_seller_card(harness: Harness) -> None:
    c = await sale(harness)
    tok = c["viewer_token"]
    res = await harness.client.get(f"/c/sale/host?token={tok}")
    html = res.text
    assert res.status_code == 200
    assert "plotly" not in html.lower()  # light on 4G
    assert "/static/vendor/htmx.min.js" in html and "/static/js/host.js" in html
    assert "🎉 突破 ¥10万\n🥇 &lt;script&gt;x&lt;/script&gt;</div>" in html  # verbatim, escaped
    assert "一键复制战报" in html
    assert 'hx-get="/c/sale/host/seller?token=' in html
    card = (await harness.client.get(f"/c/sale/host/seller?token={tok}&seller=s2")).text
    assert card.lstrip().startswith('<div id="seller-card"') and "<html" not in card
    assert "第 <b>3</b> 名" in card  # 王姐 12.35万, s1 4万, s2 3万
    assert "还差 <b>¥1万</b>" in card and 'hx-trigger="every 10s"' in card
    leader = (await harness.client.get(f"/c/sale/host/seller?token={tok}&seller=s5")).text
    assert "领先第 2 名 <b>¥8.35万</b>" in leader
    picker = (await harness.client.get(f"/c/sale/host/seller?token={tok}&part=picker")).text
    assert picker.lstrip().startswith('<div id="picker"') and picker.count("<option") == 6


async def test_static_assets_are_vendored(harness: Harness) -> None:
    for path in (
        "vendor/htmx.min.js",
        "vendor/plotly.min.js",
        "js/live.js",
        "js/screen.js",
        "js/host.js",
        "css/screen.css",
    ):
        res = await harness.client.get(f"/static/{path}")
        assert res.status_code == 200, path
        assert len(res.content) > 1000
