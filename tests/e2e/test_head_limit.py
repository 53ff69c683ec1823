"""A 40 MB request header is refused at once (431, connection closed), and the web
process keeps answering others meanwhile; ordinary heads and big bodies pass."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.browser.live import WebProcess, fresh_settings
from tests.conftest import ADMIN


@pytest.fixture
def web(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[WebProcess]:
    proc = WebProcess(fresh_settings(redis_url, database_url, tmp_path), tmp_path)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def send_huge_header(url: str, size: int, result: dict[str, object]) -> None:
    parts = urlsplit(url)
    began = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as s:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
        chunk = b"a" * (1024 * 1024)
        try:
            s.sendall(head)
            for _ in range(size // len(chunk)):
                s.sendall(chunk)
            s.sendall(b"\r\n\r\n")
        except OSError as exc:  # refused mid-send: the server closed the connection
            result["send_error"] = repr(exc)
        try:
            result["answer"] = s.recv(200)
        except OSError as exc:
            result["answer"] = repr(exc).encode()
    result["took"] = time.monotonic() - began


def test_a_40_mb_header_is_refused_quickly_and_others_are_served(web: WebProcess) -> None:
    result: dict[str, object] = {}
    sender = threading.Thread(target=send_huge_header, args=(web.url, 40 << 20, result))
    sender.start()
    slowest = 0.0
    with httpx.Client(base_url=web.url, timeout=10) as client:
        while sender.is_alive():
            began = time.monotonic()
            assert client.get("/healthz").status_code == 200
            slowest = max(slowest, time.monotonic() - began)
            time.sleep(0.05)
    sender.join(timeout=60)
    assert not sender.is_alive()
    answer = result["answer"]
    assert isinstance(answer, bytes)
    assert answer.startswith(b"HTTP/1.1 431") or "send_error" in result, result
    assert float(result["took"]) < 5.0, result  # type: ignore[arg-type]
    assert slowest < 1.0, slowest


def test_ordinary_heads_and_big_bodies_still_pass(web: WebProcess) -> None:
    with httpx.Client(base_url=web.url, timeout=10) as client:
        res = client.get("/healthz", headers={"X-Some": "v" * 16_000})
        assert res.status_code == 200
        # a body far larger than the head limit, in the same packets as the head
        res = client.post("/api/v1/campaigns/none/events", content=b"[" + b" " * 500_000 + b"]",
                          headers={"Authorization": "Bearer x", "Content-Type": "application/json"})  # fmt: skip
        assert res.status_code in (401, 404), res.text


@pytest.fixture
def quick_reads(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[WebProcess]:
    """A web process that gives a request 1 s to arrive (WARROOM_HTTP_READ_TIMEOUT_S)."""
    settings = fresh_settings(redis_url, database_url, tmp_path)
    proc = WebProcess(settings, tmp_path, env={"WARROOM_HTTP_READ_TIMEOUT_S": "1"})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def answer_within(s: socket.socket, deadline_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that
    took; the deadline is generous (the server's is 1 s), so a loaded machine passes."""
    s.settimeout(deadline_s)
    began = time.monotonic()
    got = b""
    while chunk := s.recv(4096):
        got += chunk
    return got, time.monotonic() - began


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # a connection that never says a word
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ",  # a head that stops half-way
    ],
    ids=["silent", "half-head"],
)
def test_a_request_that_never_arrives_is_answered_408_and_closed(
    quick_reads: WebProcess, sent: bytes
) -> None:
    parts = urlsplit(quick_reads.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(sent)
        got, took = answer_within(s, 20)
    assert got.startswith(b"HTTP/1.1 408"), got
    assert took < 20


def test_a_half_sent_body_is_closed_and_records_nothing(quick_reads: WebProcess) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    now = int(time.time() * 1000)
    with httpx.Client(base_url=quick_reads.url, timeout=10) as client:
        made = client.post(
            "/api/v1/campaigns",
            json={"slug": "slow", "name": "慢", "starts_at": now, "ends_at": now + 3_600_000},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        ingest = made.json()["ingest_token"]
    parts = urlsplit(quick_reads.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(
            b"POST /api/v1/campaigns/slow/events HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + ingest.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            b'[{"type": "order", "order_id": "o1", '
        )
        got, took = answer_within(s, 20)
    assert not got.startswith(b"HTTP/1.1 202"), got  # closed, never accepted
    assert took < 20
    with httpx.Client(base_url=quick_reads.url, timeout=10) as client:
        stats = client.get("/api/v1/campaigns/slow/snapshot", headers=admin).json()
    assert stats["totals"]["orders"] == 0


def test_requests_sent_in_time_and_sockets_outlive_the_read_timeout(
    quick_reads: WebProcess,
) -> None:
    """The deadline is per request: a keep-alive connection serves request after request
    over more than the timeout, and a WebSocket, once upgraded, is not cut off by it."""
    parts = urlsplit(quick_reads.url)
    with httpx.Client(base_url=quick_reads.url, timeout=10) as client:
        for _ in range(4):
            assert client.get("/healthz").status_code in (200, 503)
            time.sleep(0.5)  # within the 5 s keep-alive, past the 1 s read deadline in all
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(
            b"GET /ws/campaigns/none?token=x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        first = s.recv(200)
        # An unknown campaign is refused at the handshake (403/401 before the upgrade):
        # the answer comes from the app, not from the read deadline's 408.
        assert first and not first.startswith(b"HTTP/1.1 408"), first
