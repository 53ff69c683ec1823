"""`warroom demo` end to end, as a user runs it: no REDIS_URL or DATABASE_URL, so the
embedded redis-server and a SQLite file are used; Ctrl-C (SIGINT) stops everything."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

ADMIN = "demo-test-admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_plays_a_sale_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(WARROOM_DATA_DIR=str(tmp_path / "data"), WARROOM_ADMIN_TOKEN=ADMIN)
    log = (tmp_path / "demo.log").open("w")
    cmd = [sys.executable, "-m", "warroom.cli", "demo", "--port", str(port), "--time-scale", "600"]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        snap = wait_for_orders(port, proc, limit_s=60)
        assert snap["totals"]["gmv_fen"] > 0
        assert snap["campaign"]["time_scale"] == 600
        children = psutil.Process(proc.pid).children(recursive=True)
        redis_servers = [c for c in children if "redis-server" in c.name()]
        assert len(redis_servers) == 1, [c.name() for c in children]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=40) == 0
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"left running: {[(p.pid, p.name()) for p in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    out = (tmp_path / "demo.log").read_text()
    assert f"http://127.0.0.1:{port}/c/demo?token=" in out
    assert "/c/demo/host?token=" in out
    assert "成交 ¥" in out  # the live figures line


def wait_for_orders(port: int, proc: subprocess.Popen[bytes], limit_s: float) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/campaigns/demo/snapshot"
    deadline = time.monotonic() + limit_s
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"demo exited early with {proc.returncode}"
        try:
            res = httpx.get(url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5)
            if res.status_code == 200:
                last = res.json()
                if last["totals"]["orders"] > 0:
                    return last
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"no orders within {limit_s} s; last snapshot: {last}")
