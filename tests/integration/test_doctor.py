"""`warroom doctor` as an engineer runs it: a subprocess reading its environment, against
real servers. Redis is always a redis-server of the test's own (its configuration is
changed here: never the machine's shared one); the database is the suite's (SQLite, or
PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from warroom.adapters.redis.embedded import EmbeddedRedis

DOCTOR = [sys.executable, "-m", "warroom.cli", "doctor"]
BOUND_S = 30  # a doctor run that takes longer is a failure, not a wait


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A fresh redis-server as `warroom serve` starts it: noeviction, appendonly."""
    with EmbeddedRedis(tmp_path / "redis") as server:
        yield server.url


def doctor_env(tmp_path: Path, redis_url: str, database_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "DATABASE_URL") and not k.startswith("WARROOM_")
    }
    env.update(
        REDIS_URL=redis_url,
        DATABASE_URL=database_url,
        WARROOM_DATA_DIR=str(tmp_path / "data"),
        WARROOM_ADMIN_TOKEN="a-long-enough-admin-token",
        **extra,
    )
    return env


def run_doctor(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [*DOCTOR, *args], env=env, capture_output=True, text=True, timeout=BOUND_S
    )
    return done, time.monotonic() - started


def findings(env: dict[str, str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    done, _ = run_doctor(env, "--json", *args)
    assert "Traceback" not in done.stderr, done.stderr
    found = orjson.loads(done.stdout)
    assert isinstance(found, list)
    for f in found:
        assert set(f) == {"status", "check", "found", "change"}
        assert f["status"] in ("OK", "INFO", "WARN", "FAIL")
    return done.returncode, found


def by_check(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["check"]: f for f in found}


def test_a_good_configuration_has_no_fail(
    tmp_path: Path, own_redis: str, database_url: str
) -> None:
    code, found = findings(doctor_env(tmp_path, own_redis, database_url))
    fails = [f for f in found if f["status"] == "FAIL"]
    assert code == 0 and not fails, fails
    checks = by_check(found)
    assert checks["redis.eviction"]["status"] == "OK"
    assert checks["redis.persistence"]["status"] == "OK"  # appendonly yes
    assert checks["redis.clients"]["status"] == "OK"
    assert checks["clock.redis"]["status"] == "OK"
    assert checks["secrets.admin_token"]["status"] == "OK"
    assert checks["database"]["status"] in ("OK", "INFO")
    if database_url.startswith("postgresql"):
        for name in ("fsync", "synchronous_commit", "connections"):
            assert checks[f"database.{name}"]["status"] == "OK", checks[f"database.{name}"]
        assert checks["clock.database"]["status"] == "OK"
    else:
        assert checks["database.sqlite_synchronous"]["status"] == "OK"
        assert checks["database.disk"]["status"] in ("OK", "WARN")  # the CI host's disk


def test_an_evicting_redis_fails(tmp_path: Path, own_redis: str, database_url: str) -> None:
    r = redis.Redis.from_url(own_redis)
    r.config_set("maxmemory-policy", "allkeys-lru")
    r.close()
    env = doctor_env(tmp_path, own_redis, database_url)
    code, found = findings(env)
    assert code == 1
    eviction = by_check(found)["redis.eviction"]
    assert eviction["status"] == "FAIL" and "allkeys-lru" in eviction["found"]
    # The text form says the same, with what to change.
    done, _ = run_doctor(env)
    assert done.returncode == 1
    line = next(x for x in done.stdout.splitlines() if "redis.eviction" in x)
    assert line.startswith("FAIL") and "allkeys-lru" in line
    assert "maxmemory-policy noeviction" in done.stdout


def test_a_full_redis_and_a_small_maxclients(
    tmp_path: Path, own_redis: str, database_url: str
) -> None:
    r = redis.Redis.from_url(own_redis)
    used = int(r.info("memory")["used_memory"])
    r.config_set("maxmemory", str(int(used / 0.95)))  # 95 % used
    r.config_set("appendonly", "no")
    r.config_set("maxclients", "100")
    r.close()
    code, found = findings(doctor_env(tmp_path, own_redis, database_url), "--processes", "2")
    checks = by_check(found)
    assert code == 1
    assert checks["redis.memory"]["status"] == "FAIL"
    assert checks["redis.persistence"]["status"] == "WARN"  # no AOF, no RDB schedule
    assert checks["redis.clients"]["status"] == "FAIL"  # 2 x 64 > 100


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_redis_down_is_a_fail_line_not_a_traceback(tmp_path: Path, database_url: str) -> None:
    env = doctor_env(tmp_path, f"redis://127.0.0.1:{_closed_port()}/0", database_url)
    done, took = run_doctor(env)
    assert done.returncode == 1
    assert took < 10
    assert "Traceback" not in done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.split()[1:2] == ["redis"])
    assert line.startswith("FAIL") and "Redis" in line
    # The other checks still ran.
    assert "database" in done.stdout and "secrets.admin_token" in done.stdout


def test_a_redis_that_never_answers_is_bounded(tmp_path: Path, database_url: str) -> None:
    """A listener that never accepts: the TCP handshake succeeds (the kernel's backlog)
    and then nothing ever answers, as with a hung or stopped server."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        env = doctor_env(tmp_path, f"redis://127.0.0.1:{port}/0", database_url)
        done, took = run_doctor(env, "--timeout", "1")
    assert done.returncode == 1
    assert took < 10
    assert "Traceback" not in done.stdout + done.stderr
    assert any(x.startswith("FAIL") and " redis " in x for x in done.stdout.splitlines())


def test_metrics_port_not_listening_is_a_warning(
    tmp_path: Path, own_redis: str, database_url: str
) -> None:
    port = _closed_port()
    env = doctor_env(tmp_path, own_redis, database_url, WARROOM_METRICS_PORT=str(port))
    code, found = findings(env, "--url", f"http://127.0.0.1:{port}")
    checks = by_check(found)
    assert code == 0
    for name in ("metrics.local", "metrics.url", "healthz.url"):
        assert checks[name]["status"] == "WARN", checks[name]


def test_an_invalid_setting_is_a_finding(tmp_path: Path, own_redis: str, database_url: str) -> None:
    env = doctor_env(tmp_path, own_redis, database_url, WARROOM_LOG_FORMAT="xml")
    code, found = findings(env)
    assert code == 1
    assert found[0]["check"] == "settings" and "WARROOM_LOG_FORMAT" in found[0]["found"]


class _Metrics(BaseHTTPRequestHandler):
    """/metrics behind a bearer token, /healthz degraded, as a web process answers."""

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/healthz":
            self._answer(503, b'{"status": "degraded", "error": "redis: down"}')
        elif self.headers.get("Authorization") != "Bearer metrics-token":
            self._answer(401, b"")
        else:
            self._answer(200, b"# TYPE warroom_frames_total counter\n")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def metrics_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_port)
    server.shutdown()
    server.server_close()


def test_metrics_bearer_and_a_degraded_healthz(
    tmp_path: Path, own_redis: str, database_url: str, metrics_port: int
) -> None:
    env = doctor_env(tmp_path, own_redis, database_url, WARROOM_METRICS_PORT=str(metrics_port))
    code, found = findings(env)
    refused = by_check(found)["metrics.local"]
    assert code == 0 and refused["status"] == "WARN" and "401" in refused["found"]
    env["WARROOM_METRICS_TOKEN"] = "metrics-token"
    code, found = findings(env, "--url", f"http://127.0.0.1:{metrics_port}/")
    checks = by_check(found)
    assert checks["metrics.local"]["status"] == "OK"
    assert checks["metrics.url"]["status"] == "OK"
    assert checks["healthz.url"]["status"] == "FAIL"
    assert "redis: down" in checks["healthz.url"]["found"]
    assert code == 1
    done, _ = run_doctor(env)
    assert "metrics-token" not in done.stdout + done.stderr
