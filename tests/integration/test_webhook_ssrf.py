"""Webhook targets reach only globally routable addresses (issue 9, item 1).

No test sends anything anywhere but 127.0.0.1: refused literals are refused before any
connection (at creation by their text; at delivery the network backend refuses before
its inner backend, here a recorder, is asked to connect), and the delivery-time tests
aim at a real receiver on loopback under other spellings."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import httpcore
import pytest

from tests.conftest import Harness, harness_for
from tests.integration.receivers import ADMIN_H, Receiver, add_hook, deliveries, fire
from warroom.adapters.outbound import netguard
from warroom.adapters.outbound.delivery import Deliverer
from warroom.adapters.outbound.webhook import check_url

# Every spelling of a non-public address the issue names, and their relatives.
REFUSED_HOSTS = [
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::ffff:169.254.169.254]",
    "10.0.0.1",
    "192.168.1.1",
    "172.16.0.1",
    "100.100.100.200",  # shared address space (100.64/10): Alibaba Cloud metadata
    "[fd00::1]",
    "0.0.0.0",
    "[::]",
    "2130706433",  # 127.0.0.1 in decimal
    "0177.0.0.1",  # 127.0.0.1 in octal
    "0x7f.1",
    "127.1",
    "127.0.0.1",
    "[::1]",
    "169.254.169.254",
    "[fe80::1]",
    "224.0.0.1",
    "[ff02::1]",
    "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
    "[::7f00:1]",  # IPv4-compatible (deprecated) 127.0.0.1
    "localhost",
    "a.localhost",
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.mark.parametrize("host", REFUSED_HOSTS)
async def test_refused_at_creation(harness: Harness, receiver: Receiver, host: str) -> None:
    await harness.create_campaign()
    res = await add_hook(harness, f"http://{host}:{receiver.port}/h?key=k", "wecom")
    assert res.status_code == 422, res.text
    assert res.json()["error"].startswith("url")
    listed = await harness.client.get("/api/v1/campaigns/sale/webhooks", headers=ADMIN_H)
    assert listed.json() == []
    assert receiver.requests == []


class Recorder(httpcore.AsyncNetworkBackend):
    """Stands in for the network: records what it is asked to connect to, connects
    nowhere."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, **kwargs: Any) -> Any:
        self.asked.append((host, port))
        raise httpcore.ConnectError("recorder: no network here")


def guarded(allow_private: bool = False) -> tuple[netguard.GuardedBackend, Recorder]:
    backend = netguard.GuardedBackend(allow_private)
    recorder = Recorder()
    backend._inner = recorder  # type: ignore[assignment]
    return backend, recorder


# Hosts the resolver answers without asking a DNS server (literals, /etc/hosts).
LOCAL_ANSWERS = [h.strip("[]") for h in REFUSED_HOSTS if h != "a.localhost"]


@pytest.mark.parametrize("host", LOCAL_ANSWERS)
async def test_refused_at_connect_before_any_connection(host: str) -> None:
    backend, recorder = guarded()
    with pytest.raises(netguard.RefusedAddress, match="^refused: .* is not a globally routable"):
        await backend.connect_tcp(host, 80, timeout=5)
    assert recorder.asked == []


async def test_connects_to_the_address_it_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: a name that answers a public address, then loopback. The check and
    the connection use one answer, so the loopback answer is never used."""
    answers = iter(["93.184.215.14", "127.0.0.1", "127.0.0.1"])
    real = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            ip = next(answers)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    backend, recorder = guarded()
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("rebind.example", 443, timeout=5)
    assert recorder.asked == [("93.184.215.14", 443)]
    with pytest.raises(netguard.RefusedAddress):
        await backend.connect_tcp("rebind.example", 443, timeout=5)
    assert recorder.asked == [("93.184.215.14", 443)]


async def test_any_private_answer_refuses_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def mixed(host: str, *args: Any, **kwargs: Any) -> Any:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 443)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", mixed)
    backend, recorder = guarded()
    with pytest.raises(netguard.RefusedAddress, match="10.1.2.3"):
        await backend.connect_tcp("mixed.example", 443, timeout=5)
    assert recorder.asked == []


async def test_name_resolving_private_is_refused_at_creation(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo

    def intranet(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "wiki.intranet.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", intranet)
    await harness.create_campaign()
    res = await add_hook(harness, "https://wiki.intranet.example/hook", "json")
    assert res.status_code == 422
    assert "10.20.30.40" in res.json()["error"]


@pytest.mark.parametrize(
    "host",
    ["localhost", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "2130706433", "127.1"],
)
async def test_refused_at_delivery_on_the_resolved_address(
    settings, receiver: Receiver, host: str
) -> None:
    """Saved while allowed, delivered with the flag off: every one of these reaches the
    receiver on 127.0.0.1 if the delivery-time check misses it."""
    settings.warroom_allow_private_webhooks = True
    async with harness_for(settings) as h:
        await h.create_campaign()
        url = f"http://{host}:{receiver.port}/hook?key=robot-key-1"
        assert (await add_hook(h, url, "wecom")).status_code == 201
        await fire(h, "公告")
        rt = h.runtime
        d = Deliverer(rt.webhooks, rt.redis, allow_private=False, backoff_base_s=0.01)
        await d.run_once()
        await asyncio.sleep(0.05)
        await d.run_once()  # a refusal is final: nothing due again
        await d.close()
        assert receiver.requests == []
        [row] = await deliveries(h)
        assert row["status"] == "failed" and row["attempts"] == 1, row
        assert row["last_error"].startswith("refused:"), row
        assert "not a globally routable address" in row["last_error"]
        assert "robot-key-1" not in str(row)


async def test_redirects_are_not_followed(settings) -> None:
    """A public-looking target that redirects to loopback is not followed."""
    settings.warroom_allow_private_webhooks = True
    target, inner = Receiver(), Receiver()
    try:
        target.answer = lambda n: (302, {"Location": inner.url})
        async with harness_for(settings) as h:
            await h.create_campaign()
            await add_hook(h, target.url, "wecom")
            await fire(h, "公告")
            rt = h.runtime
            d = Deliverer(rt.webhooks, rt.redis, allow_private=True)
            await d.run_once()
            await d.close()
            [row] = await deliveries(h)
        assert len(target.requests) == 1 and inner.requests == []
        assert row["status"] == "failed" and "redirect" in row["last_error"]
    finally:
        target.close()
        inner.close()


def test_public_targets_pass_the_text_check() -> None:
    for url in (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
        "https://93.184.215.14/x",
        "http://[2606:4700:4700::1111]/x",
    ):
        assert check_url(url, False) == url
