"""`warroom doctor`'s decisions (warroom/core/doctor_rules.py): thresholds to findings."""

from __future__ import annotations

import pytest

from warroom.core import doctor_rules as r
from warroom.core.doctor_rules import Finding

MIB = 1 << 20
GIB = 1 << 30


def test_eviction() -> None:
    assert r.redis_eviction("noeviction").status == "OK"
    bad = r.redis_eviction("allkeys-lru")
    assert bad.status == "FAIL" and "allkeys-lru" in bad.found
    assert "noeviction" in bad.change


@pytest.mark.parametrize(
    ("aof", "save", "status"),
    [
        (True, "", "OK"),
        (True, None, "OK"),
        (False, "3600 1 300 100", "OK"),
        (False, "", "WARN"),
        (False, None, "WARN"),
    ],
)
def test_persistence(aof: bool, save: str | None, status: str) -> None:
    f = r.redis_persistence(aof, save)
    assert f.status == status
    if status == "WARN":
        assert "ledger rebuilds" in f.found and "appendonly yes" in f.change


@pytest.mark.parametrize(
    ("used", "status"),
    [
        (50 * MIB, "OK"),
        (70 * MIB, "OK"),
        (71 * MIB, "WARN"),
        (90 * MIB, "WARN"),
        (91 * MIB, "FAIL"),
    ],
)
def test_memory_headroom(used: int, status: str) -> None:
    f = r.redis_memory(used, 100 * MIB)
    assert f.status == status
    assert "of maxmemory 100 MiB" in f.found


def test_memory_without_a_limit_is_a_warning_that_says_why() -> None:
    f = r.redis_memory(10 * MIB, 0, 8 * GIB)
    assert f.status == "WARN"
    assert "shared host" in f.found and "8,192 MiB" in f.found
    assert "maxmemory" in f.change


@pytest.mark.parametrize(
    ("maxclients", "status"), [(10_000, "OK"), (240, "OK"), (200, "WARN"), (191, "FAIL")]
)
def test_redis_clients(maxclients: int, status: str) -> None:
    f = r.redis_clients(maxclients, per_process=64, processes=3)
    assert f.status == status
    assert "192" in f.found


def test_fsync() -> None:
    assert r.pg_fsync("on").status == "OK"
    assert r.pg_fsync("off").status == "FAIL"


@pytest.mark.parametrize(
    ("value", "standbys", "status"),
    [
        ("on", "", "OK"),
        ("remote_apply", "s1", "OK"),
        ("local", "", "OK"),  # no synchronous standby: local is on
        ("local", "s1", "WARN"),
        ("off", "", "WARN"),
    ],
)
def test_synchronous_commit(value: str, standbys: str, status: str) -> None:
    f = r.pg_synchronous_commit(value, standbys)
    assert f.status == status
    if status == "WARN":
        assert "202 may be lost" in f.found and "synchronous_commit = on" in f.change


@pytest.mark.parametrize(
    ("max_connections", "status"), [(100, "OK"), (40, "WARN"), (32, "FAIL"), (33, "WARN")]
)
def test_sql_connections(max_connections: int, status: str) -> None:
    # 3 processes x 10 (make_engine: pool 5 + overflow 5) = 30 against max - 3 reserved.
    f = r.sql_connections(max_connections, 3, per_process=10, processes=3)
    assert f.status == status, f


def test_sqlite() -> None:
    assert r.sqlite_journal("wal").status == "OK"
    assert r.sqlite_journal(None).status == "INFO"
    assert r.sqlite_journal("delete").status == "FAIL"
    assert r.sqlite_synchronous("FULL").status == "OK"
    assert r.sqlite_synchronous("EXTRA").status == "OK"
    assert r.sqlite_synchronous("NORMAL").status == "WARN"


@pytest.mark.parametrize(
    ("free", "total", "status"),
    [
        (50 * GIB, 100 * GIB, "OK"),
        (8 * GIB, 100 * GIB, "WARN"),  # under 10 %
        (4 * GIB, 8 * GIB, "WARN"),  # under 5 GiB
        (GIB // 2, 100 * GIB, "FAIL"),
    ],
)
def test_disk_space(free: int, total: int, status: str) -> None:
    assert r.disk_space("/data", free, total).status == status


@pytest.mark.parametrize(
    ("skew", "rtt", "status"),
    [
        (0.2, 0.001, "OK"),
        (-0.9, 0.001, "OK"),
        (1.5, 0.001, "WARN"),
        (-3.0, 0.001, "WARN"),
        (6.0, 0.001, "FAIL"),
        (-6.0, 0.001, "FAIL"),
        (1.2, 0.6, "OK"),  # within half the round trip of a second: not claimed
    ],
)
def test_clock_skew(skew: float, rtt: float, status: str) -> None:
    f = r.clock_skew("Redis", skew, rtt)
    assert f.status == status
    assert f.check == "clock.redis"
    assert ("ahead of" if skew > 0 else "behind") in f.found


def test_http_answers() -> None:
    url = "http://127.0.0.1:9100/metrics"
    assert r.http_answer("m", url, 200, "", False).status == "OK"
    down = r.http_answer("m", url, None, "Connection refused", False)
    assert down.status == "WARN" and "Connection refused" in down.found
    assert "WARROOM_METRICS_PORT" in down.change
    remote = r.http_answer("m", "http://web1:8000/metrics", None, "timed out", False)
    assert remote.status == "WARN" and "firewall" in remote.change
    no_token = r.http_answer("m", url, 401, "", False)
    assert no_token.status == "WARN" and "same value" in no_token.change
    wrong_token = r.http_answer("m", url, 401, "", True)
    assert "differs" in wrong_token.change
    forbidden = r.http_answer("m", url, 403, "", False)
    assert "loopback" in forbidden.found and "WARROOM_METRICS_TOKEN" in forbidden.change
    degraded = r.http_answer("h", "http://w/healthz", 503, "redis: down", False, healthz=True)
    assert degraded.status == "FAIL" and "redis: down" in degraded.found
    assert r.http_answer("m", url, 404, "", False).status == "WARN"


def test_secrets() -> None:
    assert r.admin_token(None).status == "INFO"
    assert r.admin_token("short").status == "WARN"
    assert r.admin_token("x" * 16).status == "OK"
    assert "x" * 16 not in r.admin_token("x" * 16).found  # never the token itself
    assert r.shared_secrets(True, True, 5).status == "OK"
    assert r.shared_secrets(False, True, 1).status == "INFO"
    several = r.shared_secrets(False, False, 3)
    assert several.status == "WARN"
    assert "WARROOM_KEY_SECRET and WARROOM_LINK_SECRET" in several.found


def test_exit_code_and_render() -> None:
    ok = Finding("OK", "a", "fine")
    warn = Finding("WARN", "bb", "hmm", "do this")
    fail = Finding("FAIL", "c", "broken", "fix that")
    assert r.exit_code([ok, warn]) == 0
    assert r.exit_code([ok, warn, fail]) == 1
    text = r.render([ok, warn, fail])
    lines = text.splitlines()
    assert lines[0].startswith("OK    a   fine")
    assert lines[2].strip() == "-> do this"
    assert lines[-1] == "1 FAIL, 1 WARN, 1 OK"
    assert fail.as_dict() == {
        "status": "FAIL",
        "check": "c",
        "found": "broken",
        "change": "fix that",
    }
