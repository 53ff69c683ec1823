"""The console's sources page (in-process app, real Redis and SQL): add a source, the
mapping editor's preview before saving, the delivery log, hostile names inert, CSRF."""

from __future__ import annotations

import re

import httpx
import orjson

from tests.conftest import ADMIN, harness_for
from warroom.core.sources.signature import sign

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>🎉\u202eRTL名字"
CONFIG = {
    "signature": {"scheme": "hmac-sha256", "secrets": ["s3cret-for-console-1"]},
    "events": [
        {
            "each": "$.items[*]",
            "type": "order",
            "fields": {
                "order_id": "@.id",
                "amount_fen": {"path": "@.yuan", "scale": 100},
                "seller_id": {"const": "s1"},
                "group_id": {"const": "g1"},
                "buyer_id": "@.buyer",
                "product_id": {"const": "p1"},
            },
        }
    ],
}
SAMPLE = '{"items": [{"id": "T1", "yuan": 12.50, "buyer": "b1"}, {"id": "T2", "yuan": "1.234", "buyer": "b2"}]}'


async def sign_in(client: httpx.AsyncClient) -> str:
    res = await client.post("/admin/login", data={"token": ADMIN})
    assert res.status_code == 303, res.text
    home = await client.get("/admin")
    m = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert m
    return m.group(1)


async def test_preview_then_save_then_deliveries_shown(settings) -> None:
    async with harness_for(settings) as h:
        await h.create_campaign()
        c = h.client
        csrf = await sign_in(c)
        page = await c.get("/admin/c/sale/sources")
        assert page.status_code == 200 and "数据来源" in page.text and "还没有数据来源" in page.text
        form = {
            "kind": "mapped",
            "name": HOSTILE,
            "config": orjson.dumps(CONFIG).decode(),
            "sample": SAMPLE,
        }
        hx = {"HX-Request": "true", "X-CSRF-Token": csrf}
        assert (await c.post("/admin/c/sale/sources/preview", data=form)).status_code == 403
        pre = await c.post("/admin/c/sale/sources/preview", data=form, headers=hx)
        assert pre.status_code == 200
        assert "将生成 <b data-preview-count>1</b> 个事件" in pre.text
        assert "&#34;amount_fen&#34;:1250" in pre.text
        assert "more decimals than scale 100 allows" in pre.text
        broken = await c.post(
            "/admin/c/sale/sources/preview", data={**form, "config": "{nope"}, headers=hx
        )
        assert "不是有效的 JSON" in broken.text
        bad_path = {**CONFIG, "events": [{**CONFIG["events"][0], "each": "$.items"}]}
        bad_path["events"][0]["fields"] = {"order_id": "@.id[*]"}
        res = await c.post(
            "/admin/c/sale/sources/preview",
            data={**form, "config": orjson.dumps(bad_path).decode()},
            headers=hx,
        )
        assert "[*] is only allowed in `each`" in res.text
        # Nothing was saved by previewing.
        listed = (
            await c.get(
                "/api/v1/campaigns/sale/sources", headers={"Authorization": f"Bearer {ADMIN}"}
            )
        ).json()
        assert listed == []
        saved = await c.post("/admin/c/sale/sources", data=form, headers=hx)
        assert saved.status_code == 200, saved.text
        url = re.search(r"data-url>(http://testserver/hooks/src_[^<]+)<", saved.text)
        assert url, saved.text
        # A delivery, then the page shows it.
        body = SAMPLE.encode()
        hook = url.group(1).removeprefix("http://testserver")
        res = await c.post(
            hook, content=body, headers={"X-Signature": sign("s3cret-for-console-1", body)}
        )
        assert res.json()["accepted"] == 1
        shown = await c.get("/admin/c/sale/sources")
        assert "已记录" in shown.text and "more decimals" in shown.text
        # Hostile names inert; the secret never shown again.
        for text in (saved.text, shown.text):
            assert "<script>alert(1)</script>" not in text and "<img src=x" not in text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
            assert "s3cret-for-console-1" not in text
        assert "<bdi>" in shown.text
        # A WeCom source with a bad key: an inline error, the key not echoed back.
        bad = await c.post(
            "/admin/c/sale/sources",
            data={
                "kind": "wecom",
                "name": "企业微信",
                "corp_id": "ww1",
                "token": "abc",
                "encoding_aes_key": "tooshortkey",
            },
            headers=hx,
        )
        assert bad.status_code == 422 and "encoding_aes_key" in bad.text
        assert "tooshortkey" not in bad.text
        sid = hook.rsplit("/", 1)[1]
        gone = await c.post(f"/admin/c/sale/sources/{sid}/delete", headers=hx)
        assert "已删除来源" in gone.text and "还没有数据来源" in gone.text
