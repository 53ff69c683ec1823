"""Image targets: a report's poster as a WeCom robot `image` message (base64 and md5 of
the PNG), masked for a `_masked` target, and the report's text when no CJK font can be
found. Against a small real receiver on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.conftest import harness_for
from tests.integration.receivers import ADMIN_H, Receiver, add_hook, fire
from warroom.adapters.outbound.delivery import Deliverer
from warroom.adapters.outbound.poster import find_font, render_png
from warroom.core.reports.poster import report_poster_spec

TEXT = "🧧 红包雨来了！本轮 ¥2,000 红包，整点开抢"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _image(body: bytes) -> bytes:
    sent = json.loads(body)
    assert sent["msgtype"] == "image", sent.get("msgtype")
    png = base64.b64decode(sent["image"]["base64"])
    assert hashlib.md5(png).hexdigest() == sent["image"]["md5"]
    assert len(png) <= 2 * 1024 * 1024  # the robot's limit
    return png


async def test_image_targets_get_the_poster_plain_and_masked(settings, receiver: Receiver) -> None:
    settings.warroom_allow_private_webhooks = True
    async with harness_for(settings) as h:
        await h.create_campaign()
        for fmt in ("wecom_image", "wecom_image_masked"):
            res = await add_hook(h, f"{receiver.url}/{fmt}", fmt)
            assert res.status_code == 201, res.text
        await fire(h, TEXT)
        rt = h.runtime
        d = Deliverer(rt.webhooks, rt.redis, allow_private=True, settings_of=rt.store.settings_of)
        assert await d.run_once() == 2
        await d.close()
        by_path = {r["path"]: r["body"] for r in receiver.requests}
        plain, masked = (
            _image(by_path["/hook/wecom_image"]),
            _image(by_path["/hook/wecom_image_masked"]),
        )
        for png in (plain, masked):
            img = Image.open(io.BytesIO(png))
            assert img.format == "PNG" and img.width >= 750 and img.height > img.width
        # Each image is exactly the rendering of the report's poster, masked or not;
        # the masked one's inputs carry no amount of money.
        report = (await h.client.get("/api/v1/campaigns/sale/reports", headers=ADMIN_H)).json()[-1]
        row = next(r for r in await _rows(h) if r.id == report["id"])
        record = rt.store.get_campaign("sale")
        assert record is not None
        memo = json.loads(row.memo_json or "{}")
        font = find_font(None)
        for png, mask in ((plain, False), (masked, True)):
            spec = report_poster_spec(record.settings, row.kind, row.text, memo, row.at_ms, mask)
            assert png == render_png(spec, font)
        masked_strings = " ".join(
            report_poster_spec(record.settings, row.kind, row.text, memo, row.at_ms, True).strings()
        )
        assert "2,000" not in masked_strings and "¥•••" in masked_strings
        assert plain != masked


async def _rows(h: object) -> list:
    rt = h.runtime  # type: ignore[attr-defined]
    record = rt.store.get_campaign("sale")
    return rt.reports.reports(record.id)


async def test_no_font_sends_the_text_instead(settings, receiver: Receiver, tmp_path) -> None:
    settings.warroom_allow_private_webhooks = True
    async with harness_for(settings) as h:
        await h.create_campaign()
        assert (await add_hook(h, receiver.url, "wecom_image")).status_code == 201
        await fire(h, TEXT)
        rt = h.runtime
        d = Deliverer(
            rt.webhooks,
            rt.redis,
            allow_private=True,
            settings_of=rt.store.settings_of,
            poster_font=str(tmp_path / "no-such-font.ttc"),
        )
        assert await d.run_once() == 1
        await d.close()
        sent = json.loads(receiver.requests[-1]["body"])
        assert sent["msgtype"] == "markdown"
        assert "红包雨来了" in sent["markdown"]["content"]
        log = (await h.client.get("/api/v1/campaigns/sale/deliveries", headers=ADMIN_H)).json()
        assert [x["status"] for x in log] == ["delivered"]


async def test_an_unknown_format_is_refused_and_nothing_is_added(settings) -> None:
    settings.warroom_allow_private_webhooks = True
    async with harness_for(settings) as h:
        await h.create_campaign()
        res = await add_hook(h, "http://127.0.0.1:9/hook", "wecom_imagex")
        assert res.status_code == 422, res.text
        hooks = await h.client.get("/api/v1/campaigns/sale/webhooks", headers=ADMIN_H)
        assert hooks.json() == []
