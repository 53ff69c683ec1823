"""`warroom serve` on a fresh machine: embedded Redis + SQLite, web + worker children,
one redis-server per serve, everything stopped on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmd:
            found.append(cmd)
    return found


def test_serve_runs_embedded_redis_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(WARROOM_DATA_DIR=str(data), WARROOM_ADMIN_TOKEN="adm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "warroom.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("serve did not come up")
        servers = [p for p in processes_mentioning(str(data.resolve())) if "redis-server" in p]
        assert len(servers) == 1, servers  # one embedded Redis, not one per child
        admin = {"Authorization": "Bearer adm"}
        now = int(time.time() * 1000)
        body = {
            "slug": "s1",
            "name": "试运行",
            "starts_at": now - 60_000,
            "ends_at": now + 3_600_000,
        }
        created = httpx.post(base + "/api/v1/campaigns", json=body, headers=admin).json()
        order = {
            "type": "order",
            "order_id": "o1",
            "amount_fen": 1990,
            "seller_id": "s",
            "group_id": "g",
            "buyer_id": "b",
            "product_id": "p",
        }
        res = httpx.post(
            base + "/api/v1/campaigns/s1/events",
            json=order,
            headers={"Authorization": f"Bearer {created['ingest_token']}"},
        )
        assert res.status_code == 202
        viewer = {"Authorization": f"Bearer {created['viewer_token']}"}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            snap = httpx.get(base + "/api/v1/campaigns/s1/snapshot", headers=viewer).json()
            if snap["totals"]["gmv_fen"] == 1990:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the worker child never aggregated the order")
        assert (data / "warroom.db").exists()
        assert (data / "redis" / "appendonly.aof").exists() or list(
            (data / "redis").glob("appendonly*")
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()[-2000:]
    assert processes_mentioning(str(data.resolve())) == []
