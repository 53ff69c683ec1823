"""No secret in any log line: a whole short sale through `warroom serve` at DEBUG, with
a viewer on the WebSocket (`?token=`), the pages loaded with `?token=`, a WeCom robot
target (`?key=`) and a signed target (a secret), every line of every process captured
and searched for every secret. Once with the default access log (off), once with it on
(then the request lines are there, with their query strings redacted)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import websocket

from tests.e2e.served import Served, order, serve_env
from tests.e2e.test_process import SERVE, wait_none_left


class Receiver:
    """WeCom-like robot and a signed JSON endpoint on 127.0.0.1; records paths."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode": 0, "errmsg": "ok"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kinds(self, path_prefix: str) -> list[str]:
        found = []
        for path, body in list(self.posts):
            if path.startswith(path_prefix):
                found.append(json.dumps(body, ensure_ascii=False))
        return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def wait_for(what: str, check: Any, deadline_s: float = 240, seen: Any = None) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; saw: {seen() if seen else ''}")


@pytest.mark.parametrize("access_log", [False, True], ids=["default", "access-log-on"])
def test_no_secret_in_any_log_line(tmp_path: Path, receiver: Receiver, access_log: bool) -> None:
    data = tmp_path / "data"
    robot_key = "robotkey-" + secrets.token_hex(12)
    hook_secret = "hooksecret-" + secrets.token_hex(12)
    env = serve_env(
        data,
        WARROOM_LOG_LEVEL="DEBUG",
        WARROOM_ACCESS_LOG="true" if access_log else "false",
        WARROOM_ALLOW_PRIVATE_WEBHOOKS="true",
    )
    served = Served(SERVE, env)
    try:
        served.wait_healthy()
        now = int(time.time() * 1000)
        c = served.create_campaign(
            ends_at=now + 20_000,
            target_base_fen=10_000,
            milestones_fen=[5_000],
        )
        base, slug = served.base, c["slug"]
        admin = served.admin()
        for url, fmt, secret in (
            (f"{receiver.base}/cgi-bin/webhook/send?key={robot_key}", "wecom", ""),
            (f"{receiver.base}/signed", "json", hook_secret),
        ):
            res = httpx.post(
                f"{base}/api/v1/campaigns/{slug}/webhooks",
                json={"url": url, "format": fmt, "secret": secret},
                headers=admin,
            )
            assert res.status_code in (200, 201), res.text
        viewer_q = {"token": c["viewer_token"]}
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{served.port}/ws/campaigns/{slug}?token={c['viewer_token']}",
            timeout=30,
        )
        assert '"snapshot"' in ws.recv()
        for path in (f"/c/{slug}", f"/c/{slug}/host"):
            assert httpx.get(base + path, params=viewer_q).status_code == 200
        # A wrong token in a URL is a secret too (someone's mistyped or stolen one).
        assert httpx.get(base + f"/c/{slug}", params={"token": robot_key}).status_code == 401
        ingest = {"Authorization": f"Bearer {c['ingest_token']}"}
        for i in range(4):
            res = httpx.post(
                f"{base}/api/v1/campaigns/{slug}/events", json=order(i, 3_000), headers=ingest
            )
            assert res.status_code == 202, res.text
        served.wait_gmv(slug, c["viewer_token"], 12_000)
        ws.settimeout(30)
        while '"update"' not in ws.recv():  # the viewer sees the sale move
            pass
        # The whole sale: milestone, target and, once it ends, the final report, each
        # delivered to both targets.
        wait_for(
            "the final report at both targets",
            lambda: (
                any("final" in b or "收官" in b for b in receiver.kinds("/signed"))
                and len(receiver.kinds("/cgi-bin/")) >= 3
            ),
            seen=lambda: (receiver.posts, served.output()[-6000:]),
        )
        ws.close()
    finally:
        code = served.stop()
    out = served.output()
    assert code == 0, out[-3000:]
    wait_none_left(data, 10)

    leaked = {
        name: [line for line in out.splitlines() if value in line]
        for name, value in {
            "admin token": served.admin()["Authorization"].split()[1],
            "viewer token": c["viewer_token"],
            "ingest token": c["ingest_token"],
            "robot key": robot_key,
            "webhook secret": hook_secret,
        }.items()
    }
    assert not any(leaked.values()), {k: v[:3] for k, v in leaked.items() if v}
    assert "DEBUG" in out  # the log really was at DEBUG
    if access_log:
        assert f"/c/{slug}?<redacted>" in out, out[-3000:]
