"""Webhooks against a small real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator

import pytest

from tests.conftest import Harness, harness_for
from tests.integration.receivers import ADMIN_H, Receiver, add_hook, deliveries, fire
from warroom.adapters.outbound.delivery import Deliverer
from warroom.adapters.outbound.webhook import BadWebhook, check_url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


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
        sent = json.loads(got["body"])["report"]
        assert "满2件送1件" in sent["text"]
        # contract v2: the figures the text was written from travel with it
        listed = (await h.client.get("/api/v1/campaigns/sale/reports", headers=ADMIN_H)).json()
        assert sent["figures"] == listed[-1]["figures"]
        assert set(sent["figures"]) >= {"as_of", "gmv_fen", "orders", "buyers"}
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


async def test_no_robot_key_or_secret_in_any_log_line(
    settings, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx logs `POST <url>` at INFO and httpcore traces at DEBUG: nothing of the
    URL's query (a WeCom robot key) nor a signing secret may reach a log line, on
    success or on failure, at any level."""
    settings.warroom_allow_private_webhooks = True
    key, secret = "robot-key-5d41402abc4b2a76", "signing-secret-7d793037a076"
    caplog.set_level(logging.DEBUG)
    async with harness_for(settings) as h:
        await h.create_campaign()
        await add_hook(h, f"{receiver.url}?key={key}", "wecom")
        await add_hook(h, f"{receiver.url}?token={key}", "wecom_text")
        await add_hook(h, receiver.url, "json", secret)
        receiver.fail_next = 1  # one failure: the warning names the target
        await fire(h, "公告")
        rt = h.runtime
        d = Deliverer(rt.webhooks, rt.redis, allow_private=True, backoff_base_s=0.01)
        await d.run_once()
        await asyncio.sleep(0.05)
        await d.run_once()
        await d.close()
        log = await deliveries(h)
    assert len(receiver.requests) == 4 and all(x["status"] == "delivered" for x in log)
    assert any(r.getMessage().startswith("HTTP Request: POST") for r in caplog.records)
    assert any("failed" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        line = logging.Formatter().format(record)
        assert key not in line and secret not in line, line
    assert all(key not in x["url"] for x in log)


async def test_an_interrupted_send_says_its_outcome_is_unknown(
    settings, receiver: Receiver
) -> None:
    """It may have arrived: the log says so rather than "failed", and nothing is re-sent
    (a WeCom group robot cannot tell a repeat)."""
    settings.warroom_allow_private_webhooks = True
    async with harness_for(settings) as h:
        await h.create_campaign()
        await add_hook(h, receiver.url, "wecom")
        await fire(h, "公告")
        rt = h.runtime
        job = (await asyncio.to_thread(rt.webhooks.due, 10**15))[0]
        assert await asyncio.to_thread(rt.webhooks.claim, job.delivery_id, 0)
        d = Deliverer(rt.webhooks, rt.redis, allow_private=True)
        assert await d.run_once() == 0
        assert await d.run_once() == 0
        await d.close()
        log = (await h.client.get("/api/v1/campaigns/sale/deliveries", headers=ADMIN_H)).json()
        assert [(x["status"], x["outcome"], x["attempts"]) for x in log] == [
            ("failed", "unknown", 0)
        ]
        assert log[0]["last_error"].startswith("unknown (interrupted)")
        assert receiver.requests == []
