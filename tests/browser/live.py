"""A live stack for socket and browser tests: real `warroom web` processes (uvicorn, as
in production) on loopback ports, plus an aggregator running in the test's event loop
against the same Redis and database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.bounded import bounded, cancel_all
from tests.conftest import ADMIN, clean_settings
from warroom.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds")


class WebProcess:
    """`python -m warroom.cli web` in a subprocess; restartable on the same port."""

    def __init__(self, settings: Settings, log_dir: Path, env: dict[str, str] | None = None):
        self.settings = settings
        self.port = free_port()
        self.log_path = log_dir / f"web-{self.port}.log"
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90.0) -> None:
        env = dict(os.environ)
        env.update(
            REDIS_URL=str(self.settings.redis_url),
            DATABASE_URL=str(self.settings.database_url),
            WARROOM_ADMIN_TOKEN=ADMIN,
            WARROOM_DATA_DIR=str(self.settings.warroom_data_dir),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "warroom.cli",
                "web",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"web process exited: see {self.log_path}\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"web process did not answer in {timeout_s} s\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stats(self) -> dict[str, Any]:
        res = httpx.get(self.url + "/ws/stats", headers={"Authorization": f"Bearer {ADMIN}"})
        res.raise_for_status()
        return res.json()


class Stack:
    """Web processes + an aggregator; create campaigns, post events, push feed items."""

    def __init__(self, settings: Settings, webs: list[WebProcess]) -> None:
        self.settings = settings
        self.webs = webs
        self.runtime: Any = None
        self.client: httpx.AsyncClient | None = None
        self._stop = asyncio.Event()
        self._agg_task: asyncio.Task[None] | None = None

    @property
    def web(self) -> WebProcess:
        return self.webs[0]

    async def start(self) -> None:
        from warroom.bootstrap import build_runtime

        self.runtime = build_runtime(self.settings)
        self.resume_aggregator()
        self.client = httpx.AsyncClient(base_url=self.web.url, timeout=10)

    def resume_aggregator(self) -> None:
        from warroom.workers.aggregator import Aggregator

        agg = Aggregator(
            self.runtime.hot,
            self.runtime.stream,
            consumer="live-test",
            block_ms=50,
            reclaim_idle_ms=500,
        )
        self._stop = asyncio.Event()
        self._agg_task = asyncio.create_task(agg.run(self._stop))

    async def pause_aggregator(self) -> None:
        """Stop applying events (a dead worker): the screens' freshness figure grows."""
        self._stop.set()
        if self._agg_task is not None:
            self._agg_task.cancel()
            with contextlib.suppress(BaseException):
                await self._agg_task
            self._agg_task = None

    async def close(self) -> None:
        self._stop.set()
        if self._agg_task is not None:
            await cancel_all([self._agg_task], "the stack's aggregator")
        if self.client is not None:
            await self.client.aclose()
        if self.runtime is not None:
            await self.runtime.close()

    async def create_campaign(self, **overrides: Any) -> dict[str, str]:
        """By default a campaign that opened an hour ago and runs six more hours."""
        now = datetime.now(UTC)
        body: dict[str, Any] = {
            "slug": "sale",
            "name": "双十一社群快闪",
            "starts_at": iso(now - timedelta(hours=1)),
            "ends_at": iso(now + timedelta(hours=6)),
            "target_base_fen": 100_000_000,
            "target_stretch_fen": 150_000_000,
        }
        body.update(overrides)
        assert self.client is not None
        res = await self.client.post(
            "/api/v1/campaigns", json=body, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert res.status_code == 201, res.text
        return res.json()

    async def post(self, slug: str, ingest_token: str, events: list[dict[str, Any]]) -> None:
        assert self.client is not None
        res = await self.client.post(
            f"/api/v1/campaigns/{slug}/events",
            json=events,
            headers={"Authorization": f"Bearer {ingest_token}"},
        )
        assert res.status_code == 202, res.text
        assert not res.json()["rejected"], res.text

    async def settle(
        self, slug: str, viewer_token: str, gmv_fen: int, timeout: float = 5.0
    ) -> None:
        """Wait until the aggregator has applied what was posted (GMV reached)."""
        assert self.client is not None
        deadline = time.monotonic() + timeout
        while True:
            res = await self.client.get(
                f"/api/v1/campaigns/{slug}/snapshot",
                headers={"Authorization": f"Bearer {viewer_token}"},
            )
            if res.json()["totals"]["gmv_fen"] == gmv_fen:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"GMV stuck at {res.json()['totals']['gmv_fen']}")
            await asyncio.sleep(0.02)

    async def push_report(
        self, slug: str, report_id: int, text: str, kind: str = "milestone"
    ) -> dict[str, Any]:
        item = {"id": report_id, "kind": kind, "at": iso(datetime.now(UTC)), "text": text}
        await self.runtime.hot.push_feed(slug, "reports", item)
        return item

    async def push_stimulus(self, slug: str, fire_id: int, text: str) -> dict[str, Any]:
        item = {
            "id": fire_id,
            "rule": "slump",
            "kind": "red_packet_rain",
            "at": iso(datetime.now(UTC)),
            "amount_fen": 50_000,
            "text": text,
            "uplift": None,
        }
        current = await self.runtime.hot.read_feed(slug, "stimuli")
        await self.runtime.hot.replace_feed(slug, "stimuli", [*current, item])
        return item


def order(
    i: int | str,
    amount_fen: int,
    seller: str = "s1",
    *,
    seller_name: str | None = None,
    group: str = "g1",
    product: str = "p1",
    ts: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "type": "order",
        "order_id": f"o{i}",
        "amount_fen": amount_fen,
        "seller_id": seller,
        "group_id": group,
        "buyer_id": f"b{i}",
        "product_id": product,
        **extra,
    }
    if seller_name is not None:
        ev["seller_name"] = seller_name
    if ts is not None:
        ev["ts"] = ts
    return ev


@asynccontextmanager
async def live_stack(
    settings: Settings, log_dir: Path, webs: int = 1, env: dict[str, str] | None = None
) -> AsyncIterator[Stack]:
    procs = [WebProcess(settings, log_dir, env) for _ in range(webs)]
    try:
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in procs))
        stack = Stack(settings, procs)
        await stack.start()
        try:
            yield stack
        finally:
            await bounded(stack.close(), "the stack's close")
    finally:
        for p in procs:
            p.stop()


@contextlib.contextmanager
def shots_settings(prefix: str) -> Iterator[tuple[Settings, Path]]:
    """A screenshot script's stack settings and scratch folder: the caller's Redis
    (REDIS_URL) or an embedded one, SQLite in the folder; all removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    embedded = None
    redis_url = os.environ.get("REDIS_URL")
    try:
        if not redis_url:
            from warroom.adapters.redis.embedded import EmbeddedRedis

            embedded = EmbeddedRedis(tmp / "redis")
            redis_url = embedded.start()
        yield (
            Settings(
                redis_url=redis_url,
                database_url=f"sqlite:///{tmp}/shots.db",
                warroom_admin_token=ADMIN,
                warroom_data_dir=tmp / "data",
            ),
            tmp,
        )
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def console_sign_in(page: Any, base: str) -> None:
    """Sign in to the console with the admin token (the break-glass form, folded away
    under the email and password form)."""
    await page.goto(f"{base}/admin")
    await page.click(".token-login summary")
    await page.fill("input[name=token]", ADMIN)
    await page.click("#token-login button[type=submit]")
    await page.wait_for_selector("text=全部活动")


def fresh_settings(redis_url: str, database_url: str, tmp: Path, **overrides: Any) -> Settings:
    """Like the `settings` fixture, for module-scoped stacks: a clean Redis database and
    a clean schema, once per module."""
    return clean_settings(redis_url, database_url, tmp, **overrides)


class WsClient:
    """A dashboard-socket viewer that records every frame with its arrival time."""

    def __init__(self, url: str, **connect_kw: Any) -> None:
        self.url = url
        self.connect_kw = connect_kw
        self.frames: list[dict[str, Any]] = []
        self.arrived: list[float] = []
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> WsClient:
        from websockets.asyncio.client import connect

        self._ws = await connect(self.url, open_timeout=10, max_size=2**24, **self.connect_kw)
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            await cancel_all([self._task], "the socket's reader")
        with contextlib.suppress(Exception):
            await bounded(self._ws.close(), "the socket's close", 10.0)

    async def _read(self) -> None:
        import orjson

        async for raw in self._ws:
            self.frames.append(orjson.loads(raw))
            self.arrived.append(time.perf_counter())
            self._changed.set()

    async def send(self, data: str) -> None:
        await self._ws.send(data)

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        """The first frame (from the start) for which predicate(frame) is true."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for frame in self.frames[seen:]:
                if predicate(frame):
                    return frame
            seen = len(self.frames)
            left = deadline - time.monotonic()
            if left <= 0:
                kinds = [(f["type"], f.get("seq")) for f in self.frames[-10:]]
                raise AssertionError(f"no matching frame in {timeout} s; last frames: {kinds}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]


def ws_url(web: WebProcess, slug: str, token: str, extra: str = "") -> str:
    return f"ws://127.0.0.1:{web.port}/ws/campaigns/{slug}?token={token}{extra}"
