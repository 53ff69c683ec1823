"""Webhooks against a small real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import ADMIN, Harness, harness_for
from warroom.adapters.webhook import BadWebhook, check_url
from warroom.workers.delivery import Deliverer


class Receiver:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body})
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= 1 if failing else 0
                self.send_response(500 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode": 0}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}


async def add_hook(h: Harness, url: str, fmt: str, secret: str = "") -> Any:
    return await h.client.post(
        "/api/v1/campaigns/sale/webhooks",
        json={"url": url, "format": fmt, "secret": secret},
        headers=ADMIN_H,
    )


async def fire(h: Harness, text: str) -> None:
    res = await h.client.post(
        "/api/v1/campaigns/sale/stimuli",
        json={"kind": "announcement", "text": text},
        headers=ADMIN_H,
    )
    assert res.status_code == 201, res.text


async def test_signed_json_retry_after_500_and_no_duplicate_after_restart(
    settings, receiver: Receiver
) -> None:
    settings.warroom_allow_private_webhooks = True
    async with harness_for(settings) as h:
        await h.create_campaign()
        assert (await add_hook(h, receiver.url, "json", "s3cret")).status_code == 201
        receiver.fail_next = 1
        await fire(h, "📣 满2件送1件")
        rt = h.runtime
        d = Deliverer(rt.webhooks, rt.redis, allow_private=True, backoff_base_s=0.05)
        assert await d.run_once() == 1  # answered 500
        await asyncio.sleep(0.1)
        assert await d.run_once() == 1  # retried: 200
        await d.close()
        assert len(receiver.requests) == 2
        got = receiver.requests[-1]
        ts = got["headers"]["X-Warroom-Timestamp"]
        expected = hmac.new(b"s3cret", ts.encode() + b"." + got["body"], hashlib.sha256).hexdigest()
        assert got["headers"]["X-Warroom-Signature"] == "sha256=" + expected
        assert "满2件送1件" in json.loads(got["body"])["report"]["text"]
        log = (await h.client.get("/api/v1/campaigns/sale/deliveries", headers=ADMIN_H)).json()
        assert [(x["status"], x["attempts"], x["last_status"]) for x in log] == [
            ("delivered", 2, 200)
        ]
        # A restarted worker finds nothing to send again.
        d2 = Deliverer(rt.webhooks, rt.redis, allow_private=True, backoff_base_s=0.05)
        await asyncio.sleep(0.1)
        assert await d2.run_once() == 0
        await d2.close()
        assert len(receiver.requests) == 2


async def test_wecom_rate_limit_20_a_minute(settings, receiver: Receiver) -> None:
    settings.warroom_allow_private_webhooks = True
    async with harness_for(settings) as h:
        await h.create_campaign()
        await add_hook(h, receiver.url, "wecom")
        for i in range(25):
            await fire(h, f"公告 {i}")
        rt = h.runtime
        d = Deliverer(rt.webhooks, rt.redis, allow_private=True)
        await d.run_once()
        await d.run_once()
        await d.close()
        assert len(receiver.requests) == 20
        body = json.loads(receiver.requests[0]["body"])
        assert body["msgtype"] == "markdown" and len(body["markdown"]["content"].encode()) <= 4096
        log = (await h.client.get("/api/v1/campaigns/sale/deliveries", headers=ADMIN_H)).json()
        assert sum(x["status"] == "pending" for x in log) == 5


async def test_interrupted_send_is_never_repeated(settings, receiver: Receiver) -> None:
    settings.warroom_allow_private_webhooks = True
    async with harness_for(settings) as h:
        await h.create_campaign()
        await add_hook(h, receiver.url, "wecom")
        await fire(h, "公告")
        rt = h.runtime
        job = (await asyncio.to_thread(rt.webhooks.due, 10**15))[0]
        assert await asyncio.to_thread(
            rt.webhooks.claim, job.delivery_id, 0
        )  # a worker died mid-POST
        d = Deliverer(rt.webhooks, rt.redis, allow_private=True)
        assert await d.run_once() == 0
        await d.close()
        log = (await h.client.get("/api/v1/campaigns/sale/deliveries", headers=ADMIN_H)).json()
        assert log[0]["status"] == "failed" and "interrupted" in log[0]["last_error"]
        assert receiver.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest/meta-data",
        "javascript:alert(1)",
        "not a url",
    ],
)
async def test_webhook_urls_refused(harness: Harness, url: str) -> None:
    await harness.create_campaign()
    res = await add_hook(harness, url, "wecom")
    assert res.status_code == 422 and "url" in res.json()["error"]
    assert (
        await harness.client.get("/api/v1/campaigns/sale/webhooks", headers=ADMIN_H)
    ).json() == []


def test_check_url_accepts_public_https() -> None:
    assert check_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", False)
    with pytest.raises(BadWebhook):
        check_url("http://127.0.0.2/", False)
