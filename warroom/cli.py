"""warroom serve | web | worker | demo | rebuild | migrate | user add | doctor."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from warroom import logconfig
from warroom.settings import Settings

log = logging.getLogger("warroom")


def _web(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from warroom.bootstrap import web_app
    from warroom.web.shutdown import GoingAway, Server

    app = GoingAway(web_app(settings))
    trusted = [p.strip() for p in settings.warroom_trusted_proxies.split(",") if p.strip()]
    http = settings.http
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        # Our root handler (logconfig): one format, query strings redacted, and the
        # WebSocket handshake lines dropped unless the access log is on.
        log_config=None,
        log_level=None,
        access_log=settings.warroom_access_log,
        ws_per_message_deflate=False,  # doubles CPU per frame for numbers that change anyway
        # Pings find dead phones and half-open TCP; the hub then drops the viewer.
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        # Viewers send only tiny control messages: a bigger one is closed with 1009
        # before it is buffered (the server default would take 16 MiB).
        ws_max_size=settings.warroom_ws_max_message_bytes,
        timeout_graceful_shutdown=5,
        # The client address is the socket's peer unless a named proxy sent the request
        # (uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1, so a fresh
        # header reset every per-address limit).
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or [],
        # Limits of the HTTP server itself (docs/operations.md).
        http=http.parser,
        h11_max_incomplete_event_size=http.max_header_bytes,
        limit_concurrency=http.limit_concurrency,
        timeout_keep_alive=http.keepalive_s,
    )
    server = Server(config, app, read_timeout_s=http.read_timeout_s)
    server.run()
    return 0 if server.started else 3  # as uvicorn.run: the app did not start


async def _worker_main(settings: Settings) -> None:
    from warroom.bootstrap import build_runtime, worker_loops
    from warroom.workers.rebuild import restore_lost

    rt = build_runtime(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    rebuilt = await restore_lost(rt.store, rt.hot, rt.stream, rt.announcer.restore_feeds)
    if rebuilt:
        log.warning("hot state was lost; rebuilt from the ledger: %s", ", ".join(rebuilt))
    tasks = [asyncio.create_task(run(stop), name=name) for name, run in worker_loops(rt).items()]
    m = settings.metrics
    if m.port:
        from warroom.web.metrics import serve_worker_metrics

        tasks.append(
            asyncio.create_task(
                serve_worker_metrics(rt.vitals, m.token, m.host, m.port, stop), name="metrics"
            )
        )
    await stop.wait()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await rt.close()


async def _rebuild_main(settings: Settings, slug: str) -> int:
    from warroom.bootstrap import build_runtime
    from warroom.workers.rebuild import rebuild

    rt = build_runtime(settings)
    try:
        return await rebuild(
            rt.store, rt.hot, rt.stream, slug, rt.announcer.restore_feeds, rt.clock
        )
    finally:
        await rt.close()


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
    u = sub.add_parser("user", help="people who sign in to the console")
    usub = u.add_subparsers(dest="user_cmd", required=True)
    ua = usub.add_parser("add", help="add a person; prints a one-time password")
    ua.add_argument("email")
    ua.add_argument("--role", default="owner", choices=("owner", "operator", "analyst"))
    ua.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of making one",
    )
    doc = sub.add_parser(
        "doctor", help="check this deployment's configuration; exit 1 if anything FAILs"
    )
    doc.add_argument("--json", action="store_true", help="print the findings as a JSON list")
    doc.add_argument(
        "--processes",
        type=int,
        default=3,  # `warroom serve`: a web process, a worker, and one more
        help="web and worker processes sharing Redis and the database (default 3), "
        "for the connection checks",
    )
    doc.add_argument(
        "--url", default=None, help="a web process's base URL: check its /metrics and /healthz"
    )
    doc.add_argument("--timeout", type=float, default=3.0, help="seconds per probe (default 3)")
    d = sub.choices["demo"]
    d.add_argument("--slug", default="demo")
    d.add_argument("--time-scale", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.cmd == "doctor":
        from warroom.doctor import main as doctor

        return doctor(args)  # reads the settings itself: an invalid one is a finding
    if args.cmd == "demo":  # the terminal is the demo's figures: servers say only warnings
        os.environ.setdefault("WARROOM_LOG_LEVEL", "WARNING")
    settings = Settings()
    logconfig.configure(
        settings.warroom_log_level,
        settings.warroom_access_log,
        fmt=settings.warroom_log_format,
        process=args.cmd,
    )
    host = getattr(args, "host", None) or settings.host
    port = getattr(args, "port", None) or settings.port

    if args.cmd == "web":
        return _web(settings, host, port)
    if args.cmd == "worker":
        asyncio.run(_worker_main(settings))
        return 0
    if args.cmd == "migrate":
        from warroom.adapters.sql.migrations import current, head
        from warroom.bootstrap import sync_store

        store = sync_store(settings)  # migrates, under the lock
        with store.engine.connect() as conn:
            print(f"schema at {current(conn)} (newest {head()})", flush=True)
        store.engine.dispose()
        return 0
    if args.cmd == "user":
        return _user_add(settings, args)
    if args.cmd == "rebuild":
        n = asyncio.run(_rebuild_main(settings, args.slug))
        print(f"rebuilt {args.slug} from {n} ledger events")
        return 0
    return _serve(settings, host, port, args)


def _user_add(settings: Settings, args: argparse.Namespace) -> int:
    """`warroom user add EMAIL --role owner`: the first owner (or any person) from the
    server's shell. The password is made and printed once, or read from stdin; only
    its Argon2id hash is stored. Audited as "cli"."""
    from warroom.bootstrap import people_of, sync_store
    from warroom.core.people import CLI, acting
    from warroom.services.refusal import Refused

    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    store = sync_store(settings)
    acting(CLI)
    try:
        user, made = asyncio.run(people_of(settings, store).add(args.email, args.role, password))
    except Refused as exc:
        print(f"warroom user add: {exc.message}", file=sys.stderr)
        return 2
    finally:
        store.engine.dispose()
    print(f"added {user.email} ({user.role}), id {user.id}", flush=True)
    if made is not None:
        print(f"one-time password: {made}", flush=True)
        print("(shown once; sign in at /admin and change it under 我的账号)", flush=True)
    return 0


def _serve(settings: Settings, host: str, port: int, args: argparse.Namespace) -> int:
    from warroom.supervisor import Interrupted, StartFailed, Supervisor

    sup = Supervisor(settings, host, port, args.workers)
    try:
        sup.start()  # on any failure, nothing it started is left running
    except StartFailed as exc:
        log.error("warroom %s could not start: %s", args.cmd, exc)
        return 1
    except Interrupted as exc:
        log.warning("stopped by %s while starting", exc)
        return 0
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
