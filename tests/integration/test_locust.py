"""The load test itself is tested: Locust runs headless against a real web + worker
pair on 127.0.0.1 with the FlashSaleShape, and its SLO gate sets the exit code."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx

from loadtests.slo import Slo, violations
from tests.conftest import ADMIN
from warroom.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SINGLE = "POST events [single]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(settings: Settings) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        REDIS_URL=str(settings.redis_url),
        DATABASE_URL=str(settings.database_url),
        WARROOM_ADMIN_TOKEN=ADMIN,
        WARROOM_DATA_DIR=str(settings.warroom_data_dir),
    )
    py = [sys.executable, "-m", "warroom.cli"]
    procs = [
        subprocess.Popen([*py, "web", "--port", str(port)], env=env, stderr=subprocess.DEVNULL),
        subprocess.Popen([*py, "worker"], env=env, stderr=subprocess.DEVNULL),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "web process did not start"
            time.sleep(0.1)
        yield base
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=15)


def locust(base: str, *extra: str, timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable, "-m", "locust",
        "-f", "loadtests/locustfile.py,loadtests/shapes.py",
        "--headless", "--only-summary", "--host", base, "--admin-token", ADMIN, *extra,
    ]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)


def test_flash_sale_shape_runs_and_the_gate_passes(settings: Settings) -> None:
    with served(settings) as base:
        res = locust(base, "--shape-seconds", "12", "--shape-peak-users", "10", "--ws-viewers", "2")
        out = res.stdout + res.stderr
        assert res.returncode == 0, out[-3000:]
        assert "SLO gate passed" in out
        assert "Shape test completed" in out  # the shape stopped the run by itself
        for name in ("POST events [batch]", "POST events [single]", "recv snapshot"):
            assert name in out, out[-3000:]
        slug = out.split("load campaign ", 1)[1].split()[0]
        # What Locust sent was recorded and aggregated by the worker.
        snap = httpx.get(
            f"{base}/api/v1/campaigns/{slug}/snapshot",
            headers={"Authorization": f"Bearer {ADMIN}"},
        ).json()
        assert snap["totals"]["orders"] > 0


def test_a_broken_slo_fails_the_run(settings: Settings) -> None:
    with served(settings) as base:
        res = locust(base, "--shape-seconds", "3", "--shape-peak-users", "4",
                     "--slo-ingest-p99-ms", "0.01")  # fmt: skip
        out = res.stdout + res.stderr
        assert res.returncode == 1, out[-3000:]
        assert "SLO gate FAILED" in out and "p99 of 'POST events" in out


def stats(n: int, failures: int, p99: float) -> SimpleNamespace:
    one = SimpleNamespace(
        num_requests=n,
        fail_ratio=failures / n if n else 0.0,
        get_response_time_percentile=lambda q: p99,
    )
    return SimpleNamespace(total=one, entries={(SINGLE, "POST"): one} if n else {})


def test_gate_rules() -> None:
    assert violations(stats(100, 0, 20), Slo(), [SINGLE]) == []
    assert len(violations(stats(100, 2, 900), Slo(0.01, 500), [SINGLE])) == 2
    assert violations(stats(0, 0, 0), Slo(), [SINGLE]) == ["only 0 requests (need 1)"]
