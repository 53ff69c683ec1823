"""The load test itself is tested: the drill (Locust, headless, FlashSaleShape, as
documented in loadtests/drill.conf) runs against a real web + worker pair on 127.0.0.1;
its gates and its totals check set the exit code. Nothing here bets on this machine's
speed: the passing run's latency gates scale with a baseline measured in the same run,
the failing runs use gates no machine can meet or a pipeline that never counts."""

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

from loadtests.slo import SCREEN, Slo, violations
from tests.conftest import ADMIN
from warroom.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SINGLE = "POST events [single]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(settings: Settings, worker: bool = True) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        REDIS_URL=str(settings.redis_url),
        DATABASE_URL=str(settings.database_url),
        WARROOM_ADMIN_TOKEN=ADMIN,
        WARROOM_DATA_DIR=str(settings.warroom_data_dir),
    )
    py = [sys.executable, "-m", "warroom.cli"]
    cmds = [[*py, "web", "--port", str(port)]] + ([[*py, "worker"]] if worker else [])
    procs = [subprocess.Popen(c, env=env, stderr=subprocess.DEVNULL) for c in cmds]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            assert time.monotonic() < deadline, "web process did not start"
            time.sleep(0.1)
        yield base
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def locust(base: str, *extra: str, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    """The drill as documented (loadtests/drill.conf), small: a few users, a short day."""
    cmd = [
        sys.executable, "-m", "locust", "--config", "loadtests/drill.conf",
        "--host", base, "--admin-token", ADMIN, "--ws-viewers", "2",
        "--shape-peak-users", "6", "--shape-spike-x", "3",
        "--csv", "", "--html", "", *extra,
    ]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)


def verdict(out: str) -> str:
    """The drill's own account of the run, for assertion messages."""
    keep = ("baseline", "SLO", "totals", "Error", "Traceback", "setup failed")
    return "\n".join(line for line in out.splitlines() if any(k in line for k in keep))


def test_the_drill_passes_its_gates_and_writes_its_reports(
    settings: Settings, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    with served(settings) as base:
        # The latency gates scale with this run's own baseline (a quiet single POST)
        # so that a slow or busy machine is judged on the system, not its speed.
        res = locust(base, "--shape-seconds", "12", "--slo-scale", "100",
                     "--slo-min-screen-samples", "5",
                     "--csv", str(reports / "drill"), "--html", str(reports / "drill.html"))  # fmt: skip
        out = res.stdout + res.stderr
        assert res.returncode == 0, verdict(out)
        assert "SLO gate passed" in out
        assert "Shape test completed" in out  # the shape stopped the run by itself
        for name in (
            "POST events [batch]",
            "POST events [single]",
            "POST events [probe]",
            "recv snapshot",
            "ingest-to-screen",
        ):
            assert name in out, out[-3000:]
        # The totals check ran: what Locust sent is exactly what the campaign counts.
        sent = out.split("totals: sent ", 1)[1].split(", campaign moved by")[0]
        assert "'orders': 0" not in sent, sent
        assert (reports / "drill_stats.csv").exists() and (reports / "drill.html").exists()
        assert "ingest-to-screen" in (reports / "drill_stats.csv").read_text()


def test_a_gate_tighter_than_the_machine_fails_the_run(settings: Settings) -> None:
    with served(settings) as base:
        res = locust(base, "--shape-seconds", "4",
                     "--slo-ingest-p99-ms", "0.01", "--slo-screen-p99-ms", "0.01")  # fmt: skip
        out = res.stdout + res.stderr
        assert res.returncode == 1, verdict(out)
        assert "SLO gate FAILED" in out and "p99 of 'POST events" in out, verdict(out)
        assert "ingest-to-screen p99" in out


def test_events_not_counted_fail_the_totals_check(settings: Settings) -> None:
    """No worker: every event is recorded but none reaches the totals, so the drill's
    end-of-run check must fail (it waits a little, then compares)."""
    with served(settings, worker=False) as base:
        res = locust(base, "--shape-seconds", "3", "--ws-viewers", "0",
                     "--settle-timeout-s", "2")  # fmt: skip
        out = res.stdout + res.stderr
        assert res.returncode == 1, verdict(out)
        assert "SLO gate FAILED" in out and "totals orders: campaign has 0" in out


def stats(n: int, failures: int, p99: float, screen: float | None = None) -> SimpleNamespace:
    def entry(count: int, ms: float) -> SimpleNamespace:
        return SimpleNamespace(
            num_requests=count,
            fail_ratio=failures / count if count else 0.0,
            get_response_time_percentile=lambda q: ms,
        )

    entries = {(SINGLE, "POST"): entry(n, p99)} if n else {}
    if screen is not None:
        entries[(SCREEN, "WS")] = entry(10, screen)
    return SimpleNamespace(total=entry(n, p99), entries=entries)


def test_gate_rules() -> None:
    assert violations(stats(100, 0, 20), Slo(), [SINGLE]) == []
    assert len(violations(stats(100, 2, 900), Slo(max_fail_ratio=0.01), [SINGLE])) == 2
    assert violations(stats(0, 0, 0), Slo(), [SINGLE]) == ["only 0 requests (need 1)"]
    # ingest-to-screen: p95 and p99 against their own figures
    assert violations(stats(100, 0, 20, screen=900), Slo(), [SINGLE]) == []
    got = violations(stats(100, 0, 20, screen=2500), Slo(), [SINGLE])
    assert got == [
        "ingest-to-screen p95 2500 ms > 1000 ms",
        "ingest-to-screen p99 2500 ms > 2000 ms",
    ]
    need = Slo(min_screen_samples=50)
    assert violations(stats(100, 0, 20, screen=10), need, [SINGLE]) == [
        "only 10 ingest-to-screen samples (need 50)"
    ]
    # scaled: a slower machine (baseline 20 ms) gets 100x its baseline when that is more
    slow = Slo(scale=100, baseline_ms=20)
    assert violations(stats(100, 0, 1500, screen=1800), slow, [SINGLE]) == []
    assert len(violations(stats(100, 0, 2500, screen=1800), slow, [SINGLE])) == 1
    assert Slo(scale=100, baseline_ms=1).limit(500) == 500  # the figure is the floor
    # each entry against the quiet median of its own kind when one is known
    per_kind = Slo(scale=10, baseline_ms=1, baselines=((SINGLE, 100.0),))
    assert per_kind.limit(500, SINGLE) == 1000 and per_kind.limit(500, "other") == 500
