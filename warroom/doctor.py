"""`warroom doctor`: a deployment's configuration, from the environment the processes
read, checked against what Warroom needs before a sale (docs/operations.md).

Each check gathers facts (Redis and SQL through adapters/probes.py, HTTP with httpx)
and core/doctor_rules.py turns them into findings. Every probe is bounded: it runs in
a daemon thread that doctor stops waiting for after its deadline, on top of the
clients' own timeouts, so a dependency that is down or hangs gives a FAIL line and
doctor still answers. Exit 1 when anything FAILs.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
from pydantic import ValidationError

from warroom import logconfig
from warroom.adapters.health import shown_url
from warroom.adapters.probes import ProbeFailed, RedisFacts, SqlFacts, redis_facts, sql_facts
from warroom.core import doctor_rules as rules
from warroom.core.doctor_rules import Finding
from warroom.settings import Settings

T = TypeVar("T")


class NoAnswer(Exception):
    """A probe did not finish within its deadline."""


def bounded(fn: Callable[[], T], timeout_s: float) -> T:
    """`fn()` in a daemon thread, given up on after `timeout_s` (the thread is left to
    its clients' own timeouts and dies with the process)."""
    out: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

    def run() -> None:
        try:
            out.put((True, fn()))
        except BaseException as exc:  # handed to the caller, raised there
            out.put((False, exc))

    threading.Thread(target=run, name="doctor-probe", daemon=True).start()
    try:
        ok, value = out.get(timeout=timeout_s)
    except queue.Empty:
        raise NoAnswer(f"no answer within {timeout_s:g} s") from None
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def _setting(settings: Settings, name: str) -> str | None:
    """A setting by its environment name: from Settings when it has that field, else
    from the environment Settings reads (fields other work adds, e.g. the metrics')."""
    value = getattr(settings, name.lower(), None)
    if value is None:
        value = os.environ.get(name)
    return None if value is None or value == "" else str(value)


class Doctor:
    def __init__(
        self, settings: Settings, processes: int, url: str | None, timeout_s: float
    ) -> None:
        self.settings = settings
        self.processes = processes
        self.url = url.rstrip("/") if url else None
        self.timeout_s = timeout_s
        # Given a little more than the clients' own timeouts (connect, then a read).
        self.deadline_s = 2 * timeout_s + 1
        self.findings: list[Finding] = []

    def run(self) -> list[Finding]:
        for check in (self.redis, self.database, self.metrics, self.secrets):
            try:
                check()
            except Exception as exc:  # a bug in a check must not hide the others
                self.add(Finding("FAIL", check.__name__, f"the check itself failed: {exc!r}", ""))
        return self.findings

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    # Redis -----------------------------------------------------------------------------

    def redis(self) -> None:
        s = self.settings
        if not s.redis_url:
            self.add(
                Finding(
                    "INFO",
                    "redis",
                    "REDIS_URL unset: `warroom serve` starts its own embedded Redis "
                    "(noeviction, appendonly), nothing to check",
                    "web and worker processes started on their own need REDIS_URL",
                )
            )
            return
        where = shown_url(s.redis_url)
        try:
            facts: RedisFacts = bounded(
                lambda: redis_facts(s.redis_url or "", self.timeout_s), self.deadline_s
            )
        except (ProbeFailed, NoAnswer, OSError) as exc:
            self.add(
                rules.unreachable(
                    "redis",
                    f"Redis at REDIS_URL={where}",
                    str(exc),
                    "start Redis or correct REDIS_URL; web and worker cannot start without it",
                )
            )
            return
        info, config = facts.info, facts.config
        node = " (the node REDIS_URL names: check every node)" if s.warroom_redis_cluster else ""
        self.add(Finding("OK", "redis", f"Redis {info.get('redis_version', '?')} at {where}{node}"))
        self.add(rules.redis_eviction(str(info.get("maxmemory_policy", "noeviction"))))
        aof = str(config.get("appendonly", "")).lower() == "yes" or bool(info.get("aof_enabled"))
        self.add(rules.redis_persistence(aof, config.get("save")))
        self.add(
            rules.redis_memory(
                int(info.get("used_memory") or 0),
                int(info.get("maxmemory") or 0),
                int(info.get("total_system_memory") or 0),
            )
        )
        maxclients = config.get("maxclients") or info.get("maxclients")
        if maxclients is not None:
            self.add(
                rules.redis_clients(
                    int(maxclients), s.warroom_redis_max_connections, self.processes
                )
            )
        self._skew("Redis", facts.server_time, facts.local_before, facts.local_after)

    def _skew(self, against: str, server: float, before: float, after: float) -> None:
        self.add(rules.clock_skew(against, server - (before + after) / 2, after - before))

    # Database --------------------------------------------------------------------------

    def database(self) -> None:
        s = self.settings
        url = s.effective_database_url
        where = shown_url(url)
        try:
            facts: SqlFacts = bounded(
                lambda: sql_facts(url, self.timeout_s, s.warroom_sqlite_synchronous),
                self.deadline_s,
            )
        except (ProbeFailed, NoAnswer, OSError) as exc:
            self.add(
                rules.unreachable(
                    "database",
                    f"the database at {where}",
                    str(exc),
                    "start the database or correct DATABASE_URL (unset: SQLite in "
                    "WARROOM_DATA_DIR)",
                )
            )
            return
        if facts.dialect == "sqlite":
            self._sqlite(facts)
            return
        self.add(Finding("OK", "database", f"PostgreSQL at {where}"))
        pg = facts.settings
        self.add(rules.pg_fsync(pg.get("fsync", "on")))
        self.add(
            rules.pg_synchronous_commit(
                pg.get("synchronous_commit", "on"), pg.get("synchronous_standby_names", "")
            )
        )
        if "max_connections" in pg:
            reserved = int(pg.get("superuser_reserved_connections") or 0) + int(
                pg.get("reserved_connections") or 0
            )
            self.add(
                rules.sql_connections(
                    int(pg["max_connections"]),
                    reserved,
                    facts.pool_size + facts.max_overflow,
                    self.processes,
                )
            )
        if facts.server_time is not None:
            self._skew("database", facts.server_time, facts.local_before, facts.local_after)

    def _sqlite(self, facts: SqlFacts) -> None:
        s = self.settings
        self.add(
            Finding(
                "OK" if facts.journal_mode else "INFO",
                "database",
                f"SQLite at {facts.sqlite_path} (a file on this host: its clock is this host's)",
            )
        )
        self.add(rules.sqlite_journal(facts.journal_mode))
        self.add(rules.sqlite_synchronous(s.warroom_sqlite_synchronous))
        where = Path(facts.sqlite_path).parent if facts.sqlite_path else s.warroom_data_dir
        existing = _existing(where)
        usage = shutil.disk_usage(existing)
        self.add(rules.disk_space(str(existing), usage.free, usage.total))

    # Metrics ---------------------------------------------------------------------------

    def metrics(self) -> None:
        token = _setting(self.settings, "WARROOM_METRICS_TOKEN")
        port = _setting(self.settings, "WARROOM_METRICS_PORT")
        if port:
            self._get("metrics.local", f"{rules.LOOPBACK}{port}/metrics", token)
        if self.url:
            self._get("metrics.url", f"{self.url}/metrics", token)
            self._get("healthz.url", f"{self.url}/healthz", token, healthz=True)
        if not port and not self.url:
            self.add(
                Finding(
                    "INFO",
                    "metrics",
                    "WARROOM_METRICS_PORT unset and no --url: no endpoint checked",
                    "give --url http://host:port to check a web process's /metrics and /healthz",
                )
            )

    def _get(self, check: str, url: str, token: str | None, healthz: bool = False) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status: int | None = None
        error = ""
        try:
            res = bounded(
                lambda: httpx.get(url, headers=headers, timeout=self.timeout_s),
                self.deadline_s,
            )
            status = res.status_code
            if healthz and status != 200:
                error = _healthz_error(res)
        except (httpx.HTTPError, NoAnswer, OSError) as exc:
            error = str(exc) or type(exc).__name__
        self.add(rules.http_answer(check, url, status, error, bool(token), healthz=healthz))

    # Secrets ---------------------------------------------------------------------------

    def secrets(self) -> None:
        s = self.settings
        self.add(rules.admin_token(s.warroom_admin_token))
        self.add(
            rules.shared_secrets(
                bool(s.warroom_key_secret), bool(s.warroom_link_secret), self.processes
            )
        )


def _existing(path: Path) -> Path:
    """The nearest existing directory at or above `path` (the data directory may not
    exist before the first start; its disk is its parent's)."""
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _healthz_error(res: httpx.Response) -> str:
    try:
        body = res.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def main(args: argparse.Namespace) -> int:
    """Settings are read here, not by the CLI: an invalid one is a finding, not a crash."""
    try:
        settings = Settings()
    except ValidationError as exc:
        findings = [
            Finding(
                "FAIL",
                "settings",
                # The variable's name as it is set (fields are its lower-case form).
                f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}",
                "correct that environment variable",
            )
            for err in exc.errors()
        ]
    else:
        logconfig.configure(
            settings.warroom_log_level, fmt=settings.warroom_log_format, process="doctor"
        )
        findings = Doctor(settings, max(1, args.processes), args.url, args.timeout).run()
    # Redacted as a log line would be: --url or an error message may carry a credential.
    if args.json:
        docs = [{k: logconfig.redact(v) for k, v in f.as_dict().items()} for f in findings]
        sys.stdout.write(orjson.dumps(docs).decode() + "\n")
    else:
        sys.stdout.write(logconfig.redact(rules.render(findings)) + "\n")
    sys.stdout.flush()
    return rules.exit_code(findings)
