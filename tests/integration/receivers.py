"""Small real HTTP servers on 127.0.0.1 that stand in for webhook targets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.conftest import ADMIN, Harness

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}


class Receiver:
    """Records every POST (headers, body, arrival time) and answers 200 `{"errcode": 0}`
    unless told otherwise: `fail_next` posts get 500, `delay_s(n)` holds the n-th
    answer (0-based) that long, `answer(n)` may replace status and headers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        self.fail_next = 0
        self.delay_s: Callable[[int], float] = lambda n: 0.0
        self.answer: Callable[[int], tuple[int, dict[str, str]] | None] = lambda n: None
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                # Stamped once the whole request is in, before any answer goes out.
                arrived = time.time()
                with receiver.lock:
                    n = len(receiver.requests)
                    receiver.arrivals.append(arrived)
                    receiver.requests.append(
                        {"headers": dict(self.headers), "body": body, "path": self.path}
                    )
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= 1 if failing else 0
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                try:
                    time.sleep(receiver.delay_s(n))
                    status, headers = receiver.answer(n) or (500 if failing else 200, {})
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(b'{"errcode": 0}')
                finally:
                    with receiver.lock:
                        receiver.in_flight -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Trickler:
    """A target that takes the request and then answers one byte a second: a per-read
    timeout never fires, so only a deadline on the whole exchange frees the sender."""

    def __init__(self, hold_s: float = 60.0) -> None:
        self.stop = threading.Event()
        self.started: list[float] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        trickler = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                with trickler.lock:
                    trickler.started.append(time.time())
                    trickler.in_flight += 1
                    trickler.max_in_flight = max(trickler.max_in_flight, trickler.in_flight)
                try:
                    deadline = time.monotonic() + hold_s
                    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 200:
                        if trickler.stop.is_set() or time.monotonic() > deadline:
                            break
                        self.wfile.write(bytes([byte]))
                        trickler.stop.wait(1.0)
                except OSError:
                    pass  # the sender gave up and closed: that is the point
                finally:
                    with trickler.lock:
                        trickler.in_flight -= 1
                self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/slow"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


async def add_hook(h: Harness, url: str, fmt: str, secret: str = "") -> Any:
    return await h.client.post(
        "/api/v1/campaigns/sale/webhooks",
        json={"url": url, "format": fmt, "secret": secret},
        headers=ADMIN_H,
    )


async def keep_live(h: Harness, slug: str = "sale") -> None:
    """A manual fire is refused after its campaign's end (409): the harness's campaign
    ended on 2026-11-11, so move its end an hour past now before firing."""
    from datetime import UTC, datetime, timedelta

    record = await h.runtime.campaigns.get(slug)
    if record is not None and record.settings.ends_at <= int(time.time() * 1000):
        ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")
        res = await h.client.patch(
            f"/api/v1/campaigns/{slug}", json={"ends_at": ends}, headers=ADMIN_H
        )
        assert res.status_code == 200, res.text


async def fire(h: Harness, text: str) -> None:
    await keep_live(h)
    res = await h.client.post(
        "/api/v1/campaigns/sale/stimuli",
        json={"kind": "announcement", "text": text},
        headers=ADMIN_H,
    )
    assert res.status_code == 201, res.text


async def deliveries(h: Harness) -> list[dict[str, Any]]:
    res = await h.client.get("/api/v1/campaigns/sale/deliveries", headers=ADMIN_H)
    assert res.status_code == 200, res.text
    return res.json()
