"""A Warroom deployment in pieces, for fault tests: its own redis-server, the database
(a SQLite file, or the machine's PostgreSQL when DATABASE_URL is set), and separate
`warroom web` and `warroom worker` processes that a test can kill, stop and restart.

Every wait here has a deadline and every failure shows what the processes printed;
`close()` kills whatever is left, so a failing test ends instead of hanging.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import redis

from tests.e2e.test_serve import free_port
from warroom.adapters.redis.embedded import EmbeddedRedis
from warroom.adapters.sql.engine import make_engine
from warroom.adapters.sql.store import Store

ADMIN = "chaos-admin-" + "x" * 20
ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
T = TypeVar("T")


def wait_for(
    what: str,
    check: Callable[[], T],
    deadline_s: float = 120.0,
    every_s: float = 0.2,
    explain: Callable[[], str] | None = None,
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` (and whatever
    `explain` says) after `deadline_s`. Exceptions from `check` count as "not yet"."""
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # noqa: BLE001 - a fault test sees errors on the way
            last = exc
        else:
            if last:
                return last
        time.sleep(every_s)
    detail = explain() if explain else ""
    raise AssertionError(f"timed out after {deadline_s:g} s waiting for {what}: {last!r}\n{detail}")


class Proc:
    """One Warroom process (web or worker); stdout and stderr go to one file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - read after exit
        self.proc = subprocess.Popen(
            argv, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL and reap (bounded)."""
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout_s`."""
        self.signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self, tail: int = 4000) -> str:
        # pread: the child writes through the same open file, so moving its offset
        # with seek() would make the child's next line overwrite the start of the log.
        fd = self.log.fileno()
        size = os.fstat(fd).st_size
        return os.pread(fd, size, 0).decode(errors="replace")[-tail:]


class Stack:
    """Redis, the database and any number of web and worker processes."""

    def __init__(self, tmp: Path, **env: str) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        self.redis_server = EmbeddedRedis(tmp / "redis")
        self.redis_server.start()
        self.redis_url = self.redis_server.url
        self.database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/warroom.db"
        store = Store(make_engine(self.database_url))
        store.drop_schema()
        store.create_schema()
        store.engine.dispose()
        self.extra_env = dict(env)
        self.procs: list[Proc] = []
        self.web: Proc | None = None
        self.port = 0
        self.base = ""

    # -- processes ---------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a child: this stack's Redis and database, and nothing of
        the caller's WARROOM_* or shared servers."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("REDIS_URL", "DATABASE_URL", "PYTHONPATH") and not k.startswith("WARROOM_")
        }
        env.update(
            REDIS_URL=self.redis_url,
            DATABASE_URL=self.database_url,
            WARROOM_ADMIN_TOKEN=ADMIN,
            WARROOM_DATA_DIR=str(self.data),
            WARROOM_ALLOW_PRIVATE_WEBHOOKS="1",
            WARROOM_RECLAIM_IDLE_S="2",
        )
        env.update(self.extra_env)
        env.update(extra)
        return env

    def start_web(self, port: int = 0, redis_url: str | None = None, **extra: str) -> Proc:
        """A web process on `port` (a free one by default; the same one on a restart)."""
        self.port = port or self.port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = self.env(**extra)
        if redis_url:
            env["REDIS_URL"] = redis_url
        argv = [sys.executable, "-m", "warroom.cli", "web", "--port", str(self.port)]
        self.web = self._spawn("web", argv, env)
        wait_for(
            "the web process to answer /healthz",
            lambda: self._web_ready(),
            deadline_s=90,
            explain=lambda: self.web.output() if self.web else "",
        )
        return self.web

    def _web_ready(self) -> bool:
        assert self.web is not None
        if not self.web.alive():
            raise AssertionError(f"web exited:\n{self.web.output()}")
        res = httpx.get(self.base + "/healthz", timeout=3)
        # 503 "aggregation: stalled" before any worker runs is still a web that serves.
        return res.status_code in (200, 503) and "redis" in res.text

    def start_worker(self, **extra: str) -> Proc:
        argv = [sys.executable, "-m", "warroom.cli", "worker"]
        return self._spawn("worker", argv, self.env(**extra))

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        proc = Proc(name, argv, env)
        self.procs.append(proc)
        return proc

    def workers(self) -> list[Proc]:
        return [p for p in self.procs if p.name == "worker" and p.alive()]

    def outputs(self) -> str:
        """The tail of what every process printed (for failure messages)."""
        return "\n".join(f"--- {p.name} {p.pid}\n{p.output(2000)}" for p in self.procs)

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, socket_timeout=5)

    def redis_pid(self) -> int:
        assert self.redis_server.proc is not None
        return self.redis_server.proc.pid

    def close(self) -> None:
        os.kill(self.redis_pid(), signal.SIGCONT)  # a test may leave it stopped
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.log.close()
        self.redis_server.stop()

    # -- the API -------------------------------------------------------------------

    def create_campaign(self, slug: str = "sale", **body: Any) -> dict[str, Any]:
        now = int(time.time() * 1000)
        payload = {
            "slug": slug,
            "name": "压测",
            "starts_at": now - 60_000,
            "ends_at": now + 3_600_000,
            **body,
        }
        res = httpx.post(self.base + "/api/v1/campaigns", json=payload, headers=ADMIN_H, timeout=30)
        assert res.status_code == 201, res.text
        return res.json()

    def post_events(self, slug: str, token: str, events: list[dict[str, Any]]) -> httpx.Response:
        return httpx.post(
            f"{self.base}/api/v1/campaigns/{slug}/events",
            json=events,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def snapshot(self, slug: str, viewer_token: str) -> dict[str, Any]:
        res = httpx.get(
            f"{self.base}/api/v1/campaigns/{slug}/snapshot",
            headers={"Authorization": f"Bearer {viewer_token}"},
            timeout=10,
        )
        res.raise_for_status()
        return res.json()

    def reports(self, slug: str) -> list[dict[str, Any]]:
        res = httpx.get(f"{self.base}/api/v1/campaigns/{slug}/reports", headers=ADMIN_H, timeout=10)
        res.raise_for_status()
        body = res.json()
        return body["reports"] if isinstance(body, dict) else body
