"""The typed container that the composition root (bootstrap.py) fills once per process
and every entry point shares: the web app, the worker, the CLI and the tests.

It lives here, below the web and the workers, so that they can name its type without
importing the root that builds it (imports point inward, docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from warroom.adapters.clock import Clock
from warroom.adapters.hub.fanout import Hub
from warroom.adapters.outbound.delivery import Deliverer
from warroom.adapters.outbound.webhook import WebhookStore
from warroom.adapters.redis.client import Redis
from warroom.adapters.redis.hotstate import HotState
from warroom.adapters.redis.streams import EventStream
from warroom.adapters.sql.import_store import ImportStore
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
from warroom.services.vitals import Vitals
from warroom.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    redis: Redis
    store: Store
    hot: HotState
    stream: EventStream
    campaigns: CampaignDirectory
    reports: ReportStore
    webhooks: WebhookStore
    announcer: Announcer
    # A new Deliverer with the runtime's guard, pace and poster settings: the worker
    # runs one; the console's test message sends through a short-lived one.
    deliverer: Callable[[], Deliverer]
    # The retrospective and the replay, computed from the ledger and kept for the next
    # viewer (one scan per campaign and ledger state).
    review: ReviewLoader
    replay: ReplayLoader
    # The platforms' own feeds (issue 19): sources and their recent deliveries.
    sources: SourceStore
    # Scoped links (wall, host, review): their tokens' keyed hashes, revocation.
    links: LinkBook
    # Spreadsheet imports: their runs, and the ledger look-up of a dry run.
    imports: ImportStore
    # People and API keys (issue 18).
    people: People
    # The engineers' figures read at scrape time (/metrics, the console's engineers' page).
    vitals: Vitals

    async def close(self) -> None:
        await self.redis.aclose()
        self.store.engine.dispose()


@dataclass
class Edge:
    """A web process: the runtime, its ledger writer (batched ingest) and its hub (the
    screens' fan-out), started and stopped together by the app's lifespan."""

    runtime: Runtime
    writer: LedgerWriter
    hub: Hub

    async def start(self) -> None:
        await self.writer.start()
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        await self.writer.stop()
        await self.runtime.close()
