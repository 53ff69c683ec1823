"""`warroom serve`: the embedded Redis (when REDIS_URL is unset), one web process and the
workers, started together and stopped together.

Either everything runs or nothing does: a failure at any step of the start stops what
was already started, and a child dies with us even when we are killed with SIGKILL
(Linux's parent-death signal), so no `redis-server` outlives a failed or killed serve.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

from warroom.adapters.health import DatabaseError, ping_redis, require_noeviction, shown_url
from warroom.adapters.metrics.exposition import (
    MULTIPROC_ENV,
    forget_process,
    fresh_multiprocess_dir,
)
from warroom.adapters.private import private_dir
from warroom.adapters.redis.embedded import parent_death_signal
from warroom.bootstrap import sync_store
from warroom.settings import Settings

log = logging.getLogger(__name__)


class StartFailed(RuntimeError):
    """The start failed for a reason the operator can fix; the message says which."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while starting."""


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


class Supervisor:
    """The embedded Redis outlives the web and worker processes it serves; it is one
    server per `serve`, never one per web worker."""

    def __init__(self, settings: Settings, host: str, port: int, workers: int = 1) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.workers = workers
        self.children: list[subprocess.Popen[bytes]] = []
        self.embedded: Any = None
        self.metrics_dir: str | None = None
        self._preexec = parent_death_signal()

    def start(self) -> dict[str, str]:
        """Start everything, or raise (StartFailed, Interrupted) with nothing left running."""
        previous = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise
        finally:
            for s, handler in previous.items():
                if signal.getsignal(s) is _interrupt:
                    signal.signal(s, handler)

    def _start(self) -> dict[str, str]:
        env = dict(os.environ)
        if not (self.settings.redis_url and self.settings.database_url):
            private_dir(Path(self.settings.warroom_data_dir))  # 0700 before anything in it
        if self.settings.redis_url:
            self._check_redis(self.settings.redis_url)
        else:
            from warroom.adapters.redis.embedded import EmbeddedRedis

            self.embedded = EmbeddedRedis(
                self.settings.warroom_data_dir / "redis", die_with_parent=True
            )
            try:
                env["REDIS_URL"] = self.embedded.start()
            except RuntimeError as exc:
                raise StartFailed(f"内置 Redis 未能启动 (embedded redis-server): {exc}") from exc
            self.settings.redis_url = env["REDIS_URL"]
        if not self.settings.warroom_admin_token:
            env["WARROOM_ADMIN_TOKEN"] = self._generated_admin_token()
            self.settings.warroom_admin_token = env["WARROOM_ADMIN_TOKEN"]
        env["WARROOM_DATA_DIR"] = str(Path(self.settings.warroom_data_dir).resolve())
        # The children share their metrics: the web's /metrics shows the workers' too.
        if not env.get(MULTIPROC_ENV):
            metrics_dir = Path(env["WARROOM_DATA_DIR"]) / "metrics"
            env[MULTIPROC_ENV] = str(fresh_multiprocess_dir(metrics_dir))
        self.metrics_dir = env[MULTIPROC_ENV]
        self._prepare_database()
        py = sys.executable
        self._spawn(
            [py, "-m", "warroom.cli", "web", "--host", self.host, "--port", str(self.port)], env
        )
        # Under serve a worker's figures reach the web's /metrics: no port of its own
        # (several workers would fight over one).
        worker_env = {k: v for k, v in env.items() if k != "WARROOM_METRICS_PORT"}
        for _ in range(self.workers):
            self._spawn([py, "-m", "warroom.cli", "worker"], worker_env)
        return env

    def _spawn(self, argv: list[str], env: dict[str, str]) -> None:
        self.children.append(subprocess.Popen(argv, env=env, preexec_fn=self._preexec))  # noqa: PLW1509

    def _check_redis(self, url: str) -> None:
        try:
            ping_redis(url)
        except ConnectionError as exc:
            raise StartFailed(f"无法连接 Redis (REDIS_URL={shown_url(url)}): {exc}") from exc
        try:  # refused before any child starts: an evicted key is a figure lost
            require_noeviction(url, self.settings.warroom_dependency_timeout_s)
        except RuntimeError as exc:
            raise StartFailed(str(exc)) from exc

    def _prepare_database(self) -> None:
        """The schema, before the children race for it; a database that does not answer
        is the most common failed start, so it gets a message of its own."""
        url = self.settings.effective_database_url
        try:
            sync_store(self.settings).engine.dispose()
        except DatabaseError as exc:
            raise StartFailed(
                f"无法连接数据库 (DATABASE_URL={shown_url(url)}): {_first_line(exc)}"
            ) from exc

    def _generated_admin_token(self) -> str:
        """A fresh admin token, kept in the data directory (mode 600) rather than in the
        output, which often ends up in a log; shown on the terminal when there is one."""
        token = secrets.token_urlsafe(18)
        data = private_dir(Path(self.settings.warroom_data_dir))
        path = data / "admin-token"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an older file keeps its mode through O_TRUNC
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        if sys.stdout.isatty():
            print(f"admin token (WARROOM_ADMIN_TOKEN): {token}", flush=True)
        else:
            print(f"admin token (WARROOM_ADMIN_TOKEN) written to {path.resolve()}", flush=True)
        return token

    def wait(self) -> int:
        """Until SIGINT/SIGTERM (exit 0) or a child exits (its code, or 1)."""
        stop = {"flag": False}

        def _handler(signum: int, _frame: object) -> None:
            stop["flag"] = True

        signal.signal(signal.SIGINT, _handler)
        signal.signal(signal.SIGTERM, _handler)
        code = 0
        while not stop["flag"]:
            for c in self.children:
                if c.poll() is not None:
                    log.error(
                        "child %s exited with %s; stopping",
                        cast(list[str], c.args)[3:],
                        c.returncode,
                    )
                    stop["flag"] = True
                    code = c.returncode or 1
                    break
            time.sleep(0.2)
        return code

    def stop(self) -> None:
        """Children first (SIGTERM, then SIGKILL after 10 s), Redis last. Every wait is
        bounded, and a second Ctrl-C or SIGTERM cannot cut it short."""
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)
        for c in self.children:
            if c.poll() is None:
                c.terminate()
        deadline = time.monotonic() + 10
        for c in self.children:
            try:
                c.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning(
                    "child %s did not stop in time; killing it", cast(list[str], c.args)[3:]
                )
                c.kill()
                c.wait()
        if self.metrics_dir:
            for c in self.children:
                forget_process(c.pid, self.metrics_dir)
        if self.embedded:
            self.embedded.stop()
