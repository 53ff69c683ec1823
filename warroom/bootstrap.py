"""The one composition root: builds every client and service once, from one Settings,
into the typed containers (services/runtime.py) that the web app, the worker, the CLI
and the tests share. Nothing else constructs a client or picks an implementation."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any

from warroom.adapters.clock import SYSTEM_CLOCK, Clock
from warroom.adapters.health import require_noeviction
from warroom.adapters.hub.fanout import Hub
from warroom.adapters.metrics import catalogue as metrics
from warroom.adapters.outbound.delivery import Deliverer
from warroom.adapters.outbound.webhook import WebhookStore
from warroom.adapters.private import private_dir, private_file, secret_in
from warroom.adapters.redis.client import redis_client
from warroom.adapters.redis.hotstate import HotState
from warroom.adapters.redis.streams import EventStream
from warroom.adapters.sql.engine import make_engine
from warroom.adapters.sql.import_store import ImportStore
from warroom.adapters.sql.link_store import LinkStore
from warroom.adapters.sql.people_store import PeopleStore
from warroom.adapters.sql.report_store import ReportStore
from warroom.adapters.sql.source_store import SourceStore
from warroom.adapters.sql.store import Store
from warroom.services.announcer import Announcer
from warroom.services.campaigns import CampaignDirectory
from warroom.services.ledger import LedgerWriter
from warroom.services.links import LinkBook
from warroom.services.people import People
from warroom.services.replay_loader import ReplayLoader
from warroom.services.review_loader import ReviewLoader
from warroom.services.runtime import Edge, Runtime
from warroom.services.snapshots import load_state
from warroom.services.vitals import Vitals
from warroom.settings import Settings

if TYPE_CHECKING:
    from warroom.web.app import App


def sync_store(settings: Settings) -> Store:
    if not settings.database_url:
        # 0700, and the database 0600 before SQLite opens it (its WAL and SHM follow).
        private_dir(settings.warroom_data_dir)
        private_file(settings.sqlite_path)
    timeout_s = settings.warroom_dependency_timeout_s
    engine = make_engine(
        settings.effective_database_url,
        timeout_s=timeout_s,
        synchronous=settings.warroom_sqlite_synchronous,
    )
    store = Store(engine, write_timeout_s=timeout_s)
    store.create_schema()
    return store


def build_runtime(settings: Settings, clock: Clock = SYSTEM_CLOCK) -> Runtime:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set (warroom serve starts an embedded Redis)")
    # An evicting Redis would silently drop stream entries and counters: refuse it.
    require_noeviction(settings.redis_url, settings.warroom_dependency_timeout_s)
    redis = redis_client(
        settings.redis_url,
        settings.warroom_redis_cluster,
        settings.warroom_dependency_timeout_s,
        max_connections=settings.warroom_redis_max_connections,
        # A short wait for a connection: never longer than the dependency bound.
        pool_timeout_s=min(
            settings.warroom_redis_pool_timeout_s, settings.warroom_dependency_timeout_s
        ),
    )
    store = sync_store(settings)
    stream = EventStream(redis)
    hot = HotState(redis)
    reports = ReportStore(store.engine)
    webhooks = WebhookStore(store.engine)
    announcer = Announcer(hot, reports, clock=clock)
    metrics.campaign_label.limit = settings.metrics.max_campaigns
    deliverer = partial(
        Deliverer,
        webhooks,
        redis,
        allow_private=settings.warroom_allow_private_webhooks,
        settings_of=store.settings_of,
        poster_font=settings.warroom_poster_font,
        clock=clock,
    )
    return Runtime(
        settings=settings,
        clock=clock,
        redis=redis,
        store=store,
        hot=hot,
        stream=stream,
        campaigns=CampaignDirectory(store, stream, clock=clock),
        reports=reports,
        webhooks=webhooks,
        announcer=announcer,
        deliverer=deliverer,
        review=ReviewLoader(store.engine, reports),
        replay=ReplayLoader(store.engine, reports),
        sources=SourceStore(store.engine),
        links=LinkBook(LinkStore(store.engine), link_secret(settings), redis, clock=clock),
        imports=ImportStore(store.engine),
        people=people_of(settings, store, clock),
        vitals=Vitals(
            store,
            hot,
            stream,
            announcer.watermark,
            clock=clock,
            timeout_s=settings.warroom_dependency_timeout_s,
        ),
    )


def link_secret(settings: Settings) -> bytes:
    """The key of the links' token hashes: WARROOM_LINK_SECRET, else a random one kept
    in the data directory (0600), made on first use (every process on the host reads
    the same one)."""
    if settings.warroom_link_secret:
        return settings.warroom_link_secret.encode()
    return secret_in(settings.warroom_data_dir / "link.key")


def key_secret(settings: Settings) -> bytes:
    """The server secret API keys are hashed under: WARROOM_KEY_SECRET, else a random
    one kept in the data directory (0600), made on first use."""
    if settings.warroom_key_secret:
        return settings.warroom_key_secret.encode()
    return secret_in(settings.warroom_data_dir / "api-keys.secret")


def people_of(settings: Settings, store: Store, clock: Clock = SYSTEM_CLOCK) -> People:
    return People(PeopleStore(store.engine), store, clock, key_secret(settings))


def build_edge(settings: Settings) -> Edge:
    """A web process's parts; the app's lifespan starts and stops them."""
    rt = build_runtime(settings)
    writer = LedgerWriter(
        rt.store,
        rt.stream,
        settings.warroom_max_pending_events,
        timeout_s=settings.warroom_dependency_timeout_s,
    )
    hub = Hub(rt.redis, rt.hot, rt.campaigns, load_state, settings.ws, rt.clock.now_ms)
    hub.on_unlink = rt.links.forget
    return Edge(rt, writer, hub)


def web_app(settings: Settings | None = None) -> App:
    # Imported here, not at the top: `warroom worker`, `rebuild` and `migrate` start
    # without loading the web edge (FastAPI and every route), and the web without the
    # worker loops.
    from warroom.web.app import create_app

    return create_app(settings or Settings(), build_edge)


Loop = Callable[[Any], Coroutine[Any, Any, None]]


def worker_loops(rt: Runtime) -> dict[str, Loop]:
    """Every loop a worker process runs, by name; each takes the stop event. The
    restorer repairs a wipe while running (FLUSHALL, an empty replica) in seconds."""
    from warroom.workers import delivery
    from warroom.workers.aggregator import Aggregator
    from warroom.workers.rebuild import Restorer
    from warroom.workers.relay import Relay
    from warroom.workers.triggers import Triggers

    settings = rt.settings
    feeds = rt.announcer.restore_feeds
    idle_ms = int(settings.warroom_reclaim_idle_s * 1000)
    agg = Aggregator(rt.hot, rt.stream, reclaim_idle_ms=idle_ms, clock=rt.clock)
    triggers = Triggers(rt.store, rt.hot, rt.reports, rt.announcer, clock=rt.clock)
    return {
        "aggregator": agg.run,
        "relay": Relay(rt.store, rt.stream, clock=rt.clock).run,
        "restorer": Restorer(rt.store, rt.hot, rt.stream, feeds).run,
        "triggers": triggers.run,
        "webhooks": partial(delivery.run, rt.deliverer()),
    }
