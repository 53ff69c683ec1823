"""`warroom serve` leaves nothing behind: not after a failed start, not after SIGTERM
(viewers are told 1001, going away), not even after SIGKILL of the supervisor."""

from __future__ import annotations

import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import websocket

from tests.e2e.served import Served, serve_env

SERVE = [sys.executable, "-m", "warroom.cli", "serve"]


def ours(data: Path) -> list[psutil.Process]:
    """Every live process started for this data directory (web, worker, redis-server)."""
    marker = str(data.resolve())
    found = []
    for p in psutil.process_iter(["cmdline", "environ", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(p.info["cmdline"] or [])
            env = p.info["environ"] or {}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if marker in cmd or env.get("WARROOM_DATA_DIR") == marker:
            found.append(p)
    return found


def wait_none_left(data: Path, deadline_s: float = 20) -> None:
    deadline = time.monotonic() + deadline_s
    while (left := ours(data)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, [" ".join(p.cmdline()) for p in left if p.is_running()]


def test_unreachable_database_fails_clearly_and_leaves_no_redis(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = serve_env(data, DATABASE_URL="postgresql://warroom:hunter2@127.0.0.1:1/x")
    del env["WARROOM_ADMIN_TOKEN"]  # generated: kept in a file, not in the output
    served = Served(SERVE, env)
    try:
        code = served.proc.wait(timeout=120)
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
    out = served.output()
    assert code != 0, out
    assert re.search(r"DATABASE_URL=postgresql://warroom:\S+@127\.0\.0\.1:1/x\): .*refused", out), (
        out
    )
    assert "hunter2" not in out and "Traceback" not in out, out
    token_file = data / "admin-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token_file.read_text().strip() not in out and str(token_file) in out, out
    assert (data / "redis" / "redis.log").exists()  # the embedded Redis did start...
    wait_none_left(data, 5)  # ...and was stopped


def test_a_child_that_cannot_start_stops_everything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket() as busy:  # the web child cannot bind: it exits, serve follows
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        served = Served(SERVE, serve_env(data), port=busy.getsockname()[1])
        try:
            code = served.proc.wait(timeout=120)
        finally:
            if served.proc.poll() is None:
                served.proc.kill()
    assert code != 0, served.output()
    wait_none_left(data, 5)


def close_code(ws: websocket.WebSocket, deadline_s: float) -> int | None:
    """Read frames until the server's close frame; its status code."""
    ws.settimeout(deadline_s)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        opcode, frame = ws.recv_data_frame(True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else None
    return None


def test_sigterm_closes_viewers_with_1001_and_every_process_exits(tmp_path: Path) -> None:
    data = tmp_path / "data"
    served = Served(SERVE, serve_env(data))
    try:
        served.wait_healthy()
        c = served.create_campaign()
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{served.port}/ws/campaigns/s1?token={c['viewer_token']}",
            timeout=30,
        )
        assert '"snapshot"' in ws.recv()
        children = psutil.Process(served.proc.pid).children(recursive=True)
        assert len(children) >= 2  # web and worker (redis-server runs in its own session)
        assert any("redis-server" in " ".join(p.cmdline()) for p in ours(data))
        started = time.monotonic()
        served.proc.send_signal(signal.SIGTERM)
        assert close_code(ws, 20) == 1001
        ws.close()
        assert served.proc.wait(timeout=20) == 0, served.output()[-3000:]
        wait_none_left(data, max(1.0, 20 - (time.monotonic() - started)))
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
    assert "Traceback" not in served.output(), served.output()[-3000:]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal")
def test_killed_supervisor_takes_its_children_along(tmp_path: Path) -> None:
    data = tmp_path / "data"
    served = Served(SERVE, serve_env(data))
    try:
        served.wait_healthy()
        assert len(ours(data)) >= 3
        served.proc.send_signal(signal.SIGKILL)
        served.proc.wait(timeout=10)
        wait_none_left(data, 20)
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
        for p in ours(data):  # a failed run must not leave them for the next test
            p.kill()
        subprocess.run(["true"])
