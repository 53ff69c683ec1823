"""The one place that builds clients and picks implementations."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from warroom.adapters.health import require_noeviction
from warroom.adapters.outbound.webhook import WebhookStore
from warroom.adapters.redis.hotstate import HotState
from warroom.adapters.redis.streams import EventStream
from warroom.adapters.sql.engine import make_engine
from warroom.adapters.sql.report_store import ReportStore
from warroom.adapters.sql.store import Store
from warroom.services.announcer import Announcer
from warroom.services.campaigns import CampaignDirectory
from warroom.settings import Settings


def redis_client(url: str, cluster: bool = False, connect_timeout_s: float = 10.0) -> Redis:
    # BLOCK on XREADGROUP stays well below this timeout (see DESIGN.md pitfalls).
    if cluster:
        from redis.asyncio.cluster import RedisCluster

        # The same command surface as Redis for everything Warroom calls; typed as
        # Redis so adapters stay oblivious (they branch only where a cluster differs).
        return RedisCluster.from_url(  # type: ignore[return-value]
            url,
            socket_timeout=30,
            socket_connect_timeout=connect_timeout_s,
            health_check_interval=15,
        )
    return Redis.from_url(
        url,
        socket_timeout=30,
        socket_connect_timeout=connect_timeout_s,
        health_check_interval=15,
    )


def is_cluster(redis: object) -> bool:
    from redis.asyncio.cluster import RedisCluster

    return isinstance(redis, RedisCluster)


def sync_store(settings: Settings) -> Store:
    if not settings.database_url:
        settings.warroom_data_dir.mkdir(parents=True, exist_ok=True)
    timeout_s = settings.warroom_dependency_timeout_s
    engine = make_engine(
        settings.effective_database_url,
        timeout_s=timeout_s,
        synchronous=settings.warroom_sqlite_synchronous,
    )
    store = Store(engine, write_timeout_s=timeout_s)
    store.create_schema()
    return store


@dataclass
class Runtime:
    settings: Settings
    redis: Redis
    store: Store
    hot: HotState
    stream: EventStream
    campaigns: CampaignDirectory
    reports: ReportStore
    webhooks: WebhookStore
    announcer: Announcer

    async def close(self) -> None:
        await self.redis.aclose()
        self.store.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set (warroom serve starts an embedded Redis)")
    # An evicting Redis would silently drop stream entries and counters: refuse it.
    require_noeviction(settings.redis_url, settings.warroom_dependency_timeout_s)
    redis = redis_client(
        settings.redis_url, settings.warroom_redis_cluster, settings.warroom_dependency_timeout_s
    )
    store = sync_store(settings)
    stream = EventStream(redis)
    hot = HotState(redis)
    reports = ReportStore(store.engine)
    webhooks = WebhookStore(store.engine)
    return Runtime(
        settings=settings,
        redis=redis,
        store=store,
        hot=hot,
        stream=stream,
        campaigns=CampaignDirectory(store, stream),
        reports=reports,
        webhooks=webhooks,
        announcer=Announcer(hot, reports, webhooks),
    )
