"""`warroom serve` as a real subprocess: start it, wait for /healthz, stop it. Shared by
the wheel, process and log tests."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import httpx

from tests.e2e.test_serve import free_port

ADMIN = "adm-" + "x" * 20


def serve_env(data: Path, **extra: str) -> dict[str, str]:
    """The caller's environment minus anything that points at shared servers."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "DATABASE_URL", "PYTHONPATH") and not k.startswith("WARROOM_")
    }
    env.update(WARROOM_DATA_DIR=str(data), WARROOM_ADMIN_TOKEN=ADMIN, **extra)
    return env


class Served:
    """One `serve` process; stdout and stderr go to one file so that every line it or
    its children print can be read afterwards."""

    def __init__(
        self, argv: list[str], env: dict[str, str], cwd: Path | None = None, port: int = 0
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - read after exit
        self.proc = subprocess.Popen(
            [*argv, "--port", str(self.port)],
            env=env,
            cwd=cwd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def wait_healthy(self, deadline_s: float = 90) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("serve did not answer /healthz:\n" + self.output()[-3000:])

    def stop(self, timeout_s: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)  # bounded too: a failing test fails, never hangs
            raise

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN}"}

    def create_campaign(self, slug: str = "s1", **body: Any) -> dict[str, Any]:
        now = int(time.time() * 1000)
        payload = {
            "slug": slug,
            "name": "试运行",
            "starts_at": now - 60_000,
            "ends_at": now + 3_600_000,
            **body,
        }
        res = httpx.post(
            self.base + "/api/v1/campaigns", json=payload, headers=self.admin(), timeout=30
        )
        assert res.status_code == 201, res.text
        return res.json()

    def wait_gmv(self, slug: str, viewer_token: str, gmv_fen: int, deadline_s: float = 30) -> None:
        viewer = {"Authorization": f"Bearer {viewer_token}"}
        deadline = time.monotonic() + deadline_s
        snap: dict[str, Any] = {}
        while time.monotonic() < deadline:
            res = httpx.get(f"{self.base}/api/v1/campaigns/{slug}/snapshot", headers=viewer)
            snap = res.json()
            if res.status_code == 200 and snap["totals"]["gmv_fen"] == gmv_fen:
                return
            time.sleep(0.2)
        raise AssertionError(f"the worker never counted {gmv_fen} fen: {snap}")


def order(i: int, amount_fen: int = 1990) -> dict[str, Any]:
    return {
        "type": "order",
        "order_id": f"o{i}",
        "amount_fen": amount_fen,
        "seller_id": "s",
        "group_id": "g",
        "buyer_id": f"b{i}",
        "product_id": "p",
    }
