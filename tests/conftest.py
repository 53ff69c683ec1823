"""Real parts only: an embedded redis-server and a SQLite file by default, the machine's
Redis and PostgreSQL when REDIS_URL / DATABASE_URL are set."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.bounded import bounded, cancel_leftovers
from warroom.adapters.redis.embedded import EmbeddedRedis
from warroom.adapters.sql.engine import make_engine
from warroom.adapters.sql.store import Store
from warroom.settings import Settings

ADMIN = "test-admin-token"

# The tiers of the test pyramid, one per directory under tests/ (markers in pyproject.toml).
TIERS = ("unit", "integration", "e2e", "browser", "chaos")
_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier, by the directory it lives in, so `-m unit` selects
    the fast tier without each file having to say so."""
    for item in items:
        try:
            rel = item.path.resolve().relative_to(_TESTS)
        except ValueError:
            continue
        tier = rel.parts[0] if len(rel.parts) > 1 else None
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


# The watchdog: pytest-timeout (signal method) fails a test that overruns, but only
# once; a teardown that then hangs (the app's shutdown waiting on a task that will not
# stop) would wait forever. So each test also gets a thread that, `timeout` plus this
# grace after the test began (setup, call and teardown together), prints every thread's
# stack and ends the run with a failure: a CI log with stacks, never a silent hang.
WATCHDOG_GRACE_S = float(os.environ.get("WARROOM_TEST_WATCHDOG_GRACE_S", "60"))


def _watchdog(item: pytest.Item) -> threading.Timer | None:
    try:
        import pytest_timeout
    except ImportError:  # pragma: no cover - a test dependency
        return None
    settings = pytest_timeout._get_item_settings(item)
    if not settings.timeout:
        return None
    timer = threading.Timer(
        settings.timeout + WATCHDOG_GRACE_S, pytest_timeout.timeout_timer, (item, settings)
    )
    timer.name = f"watchdog {item.nodeid}"
    timer.daemon = True
    return timer


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    timer = _watchdog(item)
    if timer is not None:
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db')}/t.db"


def clean_settings(redis_url: str, database_url: str, tmp: Path, **overrides: Any) -> Settings:
    """Empty the Redis database and recreate the schema, then the settings to use them."""
    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    r.close()
    store = Store(make_engine(database_url))
    store.drop_schema()
    store.create_schema()
    store.engine.dispose()
    return Settings(
        redis_url=redis_url,
        database_url=database_url,
        warroom_admin_token=ADMIN,
        warroom_data_dir=tmp / "data",
        **overrides,
    )


@pytest.fixture
def settings(redis_url: str, database_url: str, tmp_path: Path) -> Settings:
    """A clean Redis database and a clean schema for every test."""
    return clean_settings(redis_url, database_url, tmp_path, warroom_reclaim_idle_s=0.2)


class Harness:
    """The app in-process plus an aggregator: ingest, drain, assert."""

    def __init__(self, app: Any, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client
        self._agg: Any = None

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    async def create_campaign(self, **overrides: Any) -> dict[str, str]:
        body = {
            "slug": "sale",
            "name": "双十一社群快闪",
            "starts_at": "2026-11-11T10:00:00+08:00",
            "ends_at": "2026-11-11T17:00:00+08:00",
            "target_base_fen": 100_000_000,
            "target_stretch_fen": 150_000_000,
            "milestones_fen": [10_000_000, 50_000_000],
        }
        body.update(overrides)
        res = await self.client.post(
            "/api/v1/campaigns", json=body, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert res.status_code == 201, res.text
        return res.json()

    async def post_events(
        self, slug: str, token: str, payload: Any, *, ndjson: bool = False
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if ndjson:
            headers["Content-Type"] = "application/x-ndjson"
            return await self.client.post(
                f"/api/v1/campaigns/{slug}/events", content=payload, headers=headers
            )
        return await self.client.post(
            f"/api/v1/campaigns/{slug}/events", json=payload, headers=headers
        )

    async def drain(self) -> int:
        from warroom.workers.aggregator import Aggregator

        if self._agg is None:
            rt = self.runtime
            self._agg = Aggregator(rt.hot, rt.stream, consumer="test", reclaim_idle_ms=200)
        return await self._agg.run_until_idle()

    async def drain_with(self, workers: int) -> None:
        """Several aggregators racing over the same streams, as separate consumers."""
        from warroom.workers.aggregator import Aggregator

        rt = self.runtime
        aggs = [
            Aggregator(rt.hot, rt.stream, consumer=f"w{i}", entries_per_read=2, reclaim_idle_ms=200)
            for i in range(workers)
        ]
        await asyncio.gather(*(a.run_until_idle() for a in aggs))

    async def snapshot(self, slug: str, token: str) -> dict[str, Any]:
        res = await self.client.get(
            f"/api/v1/campaigns/{slug}/snapshot", headers={"Authorization": f"Bearer {token}"}
        )
        assert res.status_code == 200, res.text
        return res.json()


@asynccontextmanager
async def harness_for(settings: Settings) -> AsyncIterator[Harness]:
    """The app with its lifespan. Startup and shutdown each have a deadline, and what the
    test left running is cancelled with one too: a failed test fails, it never hangs."""
    from warroom.bootstrap import web_app

    app = web_app(settings)
    lifespan = app.router.lifespan_context(app)
    await bounded(lifespan.__aenter__(), "the app's startup")
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Harness(app, client)
    finally:
        try:
            await bounded(lifespan.__aexit__(None, None, None), "the app's shutdown")
        finally:
            await cancel_leftovers("tasks the test left running")


@pytest.fixture
async def harness(settings: Settings) -> AsyncIterator[Harness]:
    async with harness_for(settings) as h:
        yield h
