"""warroom serve | web | worker | demo | rebuild."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from warroom.settings import Settings

log = logging.getLogger("warroom")


def _web(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from warroom.web.app import create_app

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        access_log=settings.warroom_access_log,
        ws_per_message_deflate=False,  # doubles CPU per frame for numbers that change anyway
        # Pings find dead phones and half-open TCP; the hub then drops the viewer.
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=5,
    )


async def _worker_main(settings: Settings) -> None:
    from warroom.bootstrap import build_runtime
    from warroom.workers.aggregator import Aggregator
    from warroom.workers.rebuild import restore_lost
    from warroom.workers.relay import Relay

    rt = build_runtime(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    rebuilt = await restore_lost(rt.store, rt.hot, rt.stream)
    if rebuilt:
        log.warning("hot state was lost; rebuilt from the ledger: %s", ", ".join(rebuilt))
    agg = Aggregator(rt.hot, rt.stream, reclaim_idle_ms=int(settings.warroom_reclaim_idle_s * 1000))
    relay = Relay(rt.store, rt.stream)
    tasks = [
        asyncio.create_task(agg.run(stop), name="aggregator"),
        asyncio.create_task(relay.run(stop), name="relay"),
    ]
    tasks += _extra_worker_tasks(rt, stop)
    await stop.wait()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await rt.close()


def _extra_worker_tasks(rt: Any, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """The trigger worker (reports, stimulus rules) and webhook delivery."""
    from warroom.workers.delivery import Deliverer
    from warroom.workers.triggers import Triggers

    triggers = Triggers(rt.store, rt.hot, rt.reports, rt.announcer)
    deliverer = Deliverer(
        rt.webhooks, rt.redis, allow_private=rt.settings.warroom_allow_private_webhooks
    )
    return [
        asyncio.create_task(triggers.run(stop), name="triggers"),
        asyncio.create_task(deliverer.run(stop), name="webhooks"),
    ]


async def _rebuild_main(settings: Settings, slug: str) -> int:
    from warroom.bootstrap import build_runtime
    from warroom.workers.rebuild import rebuild

    rt = build_runtime(settings)
    try:
        return await rebuild(rt.store, rt.hot, rt.stream, slug)
    finally:
        await rt.close()


class Supervisor:
    """`serve`: the embedded Redis (when REDIS_URL is unset) outlives the web and worker
    processes it starts; it is one server per `serve`, never one per web worker."""

    def __init__(self, settings: Settings, host: str, port: int, workers: int = 1) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.workers = workers
        self.children: list[subprocess.Popen[bytes]] = []
        self.embedded = None

    def start(self) -> dict[str, str]:
        env = dict(os.environ)
        if not self.settings.redis_url:
            from warroom.adapters.embedded_redis import EmbeddedRedis

            self.embedded = EmbeddedRedis(self.settings.warroom_data_dir / "redis")
            env["REDIS_URL"] = self.embedded.start()
            self.settings.redis_url = env["REDIS_URL"]
        if not self.settings.warroom_admin_token:
            env["WARROOM_ADMIN_TOKEN"] = secrets.token_urlsafe(18)
            self.settings.warroom_admin_token = env["WARROOM_ADMIN_TOKEN"]
            print(f"admin token (WARROOM_ADMIN_TOKEN): {env['WARROOM_ADMIN_TOKEN']}", flush=True)
        env["WARROOM_DATA_DIR"] = str(Path(self.settings.warroom_data_dir).resolve())
        from warroom.bootstrap import sync_store

        sync_store(self.settings).engine.dispose()  # schema before the children race for it
        py = sys.executable
        self.children.append(
            subprocess.Popen(
                [py, "-m", "warroom.cli", "web", "--host", self.host, "--port", str(self.port)],
                env=env,
            )
        )
        for _ in range(self.workers):
            self.children.append(subprocess.Popen([py, "-m", "warroom.cli", "worker"], env=env))
        return env

    def wait(self) -> int:
        stop = {"flag": False}

        def _handler(signum: int, _frame: object) -> None:
            stop["flag"] = True

        signal.signal(signal.SIGINT, _handler)
        signal.signal(signal.SIGTERM, _handler)
        code = 0
        import time

        while not stop["flag"]:
            for c in self.children:
                if c.poll() is not None:
                    log.error("child %s exited with %s; stopping", c.args, c.returncode)
                    stop["flag"] = True
                    code = c.returncode or 1
            time.sleep(0.2)
        return code

    def stop(self) -> None:
        for c in self.children:
            if c.poll() is None:
                c.terminate()
        for c in self.children:
            try:
                c.wait(timeout=10)
            except subprocess.TimeoutExpired:
                c.kill()
        if self.embedded:
            self.embedded.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="warroom", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("serve", "web", "demo"):
        p = sub.add_parser(name)
        p.add_argument("--host", default=None)
        p.add_argument("--port", type=int, default=None)
        if name != "web":
            p.add_argument("--workers", type=int, default=1)
    w = sub.add_parser("worker")
    w.add_argument("--host", default=None, help="unused; accepted for symmetry")
    w.add_argument("--port", type=int, default=None, help="unused; accepted for symmetry")
    r = sub.add_parser("rebuild")
    r.add_argument("slug")
    sub.add_parser("migrate", help="bring the SQL schema to the newest revision, then exit")
    d = sub.choices["demo"]
    d.add_argument("--slug", default="demo")
    d.add_argument("--time-scale", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    host = getattr(args, "host", None) or settings.host
    port = getattr(args, "port", None) or settings.port

    if args.cmd == "web":
        _web(settings, host, port)
        return 0
    if args.cmd == "worker":
        asyncio.run(_worker_main(settings))
        return 0
    if args.cmd == "migrate":
        from warroom.bootstrap import sync_store
        from warroom.migrations import current, head

        store = sync_store(settings)  # migrates, under the lock
        with store.engine.connect() as conn:
            print(f"schema at {current(conn)} (newest {head()})", flush=True)
        store.engine.dispose()
        return 0
    if args.cmd == "rebuild":
        n = asyncio.run(_rebuild_main(settings, args.slug))
        print(f"rebuilt {args.slug} from {n} ledger events")
        return 0
    sup = Supervisor(settings, host, port, args.workers)
    sup.start()
    print(f"Warroom on http://{host}:{port}  (API docs: /api/docs)", flush=True)
    try:
        if args.cmd == "demo":
            from warroom.demo import run_demo

            return run_demo(sup, args)
        return sup.wait()
    finally:
        sup.stop()


if __name__ == "__main__":
    sys.exit(main())
