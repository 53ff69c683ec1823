"""Metrics across processes (issue 20): `warroom serve` shows its workers' counters on the
web's /metrics, and a standalone worker serves its own on WARROOM_METRICS_PORT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.served import Served, order, serve_env
from tests.e2e.test_serve import free_port

pytestmark = pytest.mark.timeout(180)


def value(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


def wait_for_metric(url: str, name: str, want: float, deadline_s: float = 60, **labels: str) -> str:
    deadline = time.monotonic() + deadline_s
    text = ""
    while time.monotonic() < deadline:
        try:
            text = httpx.get(url, timeout=5).text
        except httpx.HTTPError:
            text = ""
        if value(text, name, **labels) == want:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{name}{labels} never reached {want}:\n{text[-2000:]}")


def test_serve_shows_the_workers_counters_on_the_web_metrics(tmp_path: Path) -> None:
    served = Served(
        [sys.executable, "-m", "warroom.cli", "serve"], serve_env(tmp_path / "data"), cwd=tmp_path
    )
    try:
        served.wait_healthy()
        c = served.create_campaign("mp")
        res = httpx.post(
            f"{served.base}/api/v1/campaigns/mp/events",
            json=[order(i) for i in range(25)],
            headers={"Authorization": f"Bearer {c['ingest_token']}"},
            timeout=30,
        )
        assert res.json()["accepted"] == 25
        url = served.base + "/metrics"
        # counted by the worker process, shown by the web process
        text = wait_for_metric(url, "warroom_applied_events_total", 25, campaign="mp")
        assert (
            value(text, "warroom_events_total", campaign="mp", type="order", outcome="accepted")
            == 25
        )
        wait_for_metric(url, "warroom_stream_pending_events", 0, campaign="mp")
        assert (tmp_path / "data" / "metrics").is_dir()
    finally:
        assert served.stop() == 0, served.output()[-3000:]


def test_a_worker_serves_its_metrics_on_its_port(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARROOM_", "PROMETHEUS_"))}
    env.update(
        REDIS_URL=redis_url,
        DATABASE_URL=database_url,
        WARROOM_DATA_DIR=str(tmp_path / "data"),
        WARROOM_METRICS_PORT=str(port),
        WARROOM_METRICS_TOKEN="worker-scrape-token",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "warroom.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                res = httpx.get(url, timeout=5)
                break
            except httpx.HTTPError:
                assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
                assert time.monotonic() < deadline, "the worker's metrics port never answered"
                time.sleep(0.2)
        assert res.status_code == 401  # the token is set: loopback is not enough
        ok = httpx.get(url, headers={"Authorization": "Bearer worker-scrape-token"}, timeout=5)
        assert ok.status_code == 200
        assert value(ok.text, "warroom_dependency_up", dependency="redis") == 1
        assert "worker-scrape-token" not in ok.text
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            code = worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
            raise
    assert code == 0  # the port stops with the worker's loops
