"""The ports: what the services call on the stores, the hot state and the stream, as
Protocols. The adapters satisfy them structurally (nothing subclasses them), the
composition root hands in the real ones, and tests/fakes.py holds in-memory ones for
the service tests (tests/unit).

Only what a service actually calls is here: a method no service uses stays on its
adapter. Signatures mirror the adapters', parameter names included, so that mypy
checks that every real adapter still fits its port.

Three leaks are named rather than hidden: `LiveState.redis` (the watermark reads the
stream's positions through it, adapters/redis/frontier.applied_before_real_ms),
`ReportRecords.engine` (the announcer hands it to the watermark's relay check,
adapters/sql/store.oldest_unrelayed_ts) and `CampaignStreams.redis` (the campaign
directory starts a campaign's first generation and publishes its hints with it). They
are ports still to be drawn (a `Settlement` handed to the announcer, a `HintChannel`
to the directory); until then the fakes carry stand-ins."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, Literal, Protocol, overload

from warroom.adapters.clock import Clock
from warroom.adapters.outbound.delivery import Deliverer, Outcome
from warroom.adapters.outbound.webhook import Job, WebhookStore
from warroom.adapters.redis.client import Redis
from warroom.adapters.redis.hotstate import HotState
from warroom.adapters.redis.keys import FEED_KEEP
from warroom.adapters.redis.streams import EventStream
from warroom.adapters.sql.report_store import Claim, ReportStore, Written
from warroom.adapters.sql.store import Store
from warroom.core.campaign import CampaignSettings, StimulusAction
from warroom.core.live.shapes import RawState, ReportItem, StimulusItem
from warroom.core.records import CampaignRecord, FireRecord, ReportRecord, WebhookTarget

# -- SQL: adapters/sql/store.py `Store` satisfies both of these ----------------------


class CampaignStore(Protocol):
    """Campaigns and the audit log (the campaign directory, the operator actions).
    `create_campaign` raises `SlugTaken` when the slug exists (a unique row)."""

    def create_campaign(
        self, settings: CampaignSettings, ingest_hash: str, viewer_hash: str, created_at_ms: int
    ) -> CampaignRecord: ...

    def get_campaign(self, slug: str) -> CampaignRecord | None: ...

    def list_campaigns(self) -> list[CampaignRecord]: ...

    def update_settings(self, slug: str, settings: CampaignSettings) -> None: ...

    def update_tokens(
        self, slug: str, *, ingest_hash: str | None = None, viewer_hash: str | None = None
    ) -> None: ...

    def audit(self, campaign_id: int, at_ms: int, action: str, detail: dict[str, Any]) -> None: ...

    def audit_log(self, campaign_id: int, limit: int = 100) -> list[dict[str, Any]]: ...


class LedgerStore(Protocol):
    """The durable event ledger (the ledger writer): unique per (campaign, key)."""

    def append_checked(
        self, rows: Sequence[dict[str, Any]], mark_relayed: Sequence[int] = ()
    ) -> tuple[dict[tuple[int, str], int], dict[tuple[int, str], str]]:
        """Insert rows whose identity is new; returns (ledger id of each row inserted,
        stored body of each identity that was already there), by (campaign_id, key)."""
        ...

    def mark_relayed(self, ids: Sequence[int]) -> None: ...


# -- SQL: adapters/sql/report_store.py `ReportStore` ---------------------------------


class ReportRecords(Protocol):
    """Reports, stimulus fires and template overrides (the announcer, the operator,
    the feeds' catch-up). A claim is a unique (campaign, key) row: the first caller
    wins, later ones get `Claim(existing_id, won=False)`. A won report claim queues one
    pending delivery per enabled webhook target of the campaign in the same
    transaction. Rows are read by attribute (`row.id`, ...)."""

    @property
    def engine(self) -> Any: ...  # a leak: see the module's docstring

    def claim_report(
        self,
        campaign_id: int,
        key: str,
        kind: str,
        at_ms: int,
        text: str,
        memo_json: str,
        *,
        skip_groups: Collection[str] = (),
    ) -> Claim: ...

    def report(self, report_id: int) -> ReportRecord | None: ...

    def reports(self, campaign_id: int) -> list[ReportRecord]: ...

    def last_report(self, campaign_id: int, kinds: tuple[str, ...]) -> ReportRecord | None: ...

    def written_since(self, report_after: int, fire_after: int) -> list[Written]: ...

    def claim_fire(
        self, *, budget_fen: int | None = None, max_fires: int | None = None, **values: Any
    ) -> Claim: ...

    def fires(self, campaign_id: int) -> list[FireRecord]: ...

    def spent_fen(self, campaign_id: int) -> int: ...

    def templates(self, campaign_id: int) -> dict[str, str]: ...


# -- SQL: adapters/outbound/webhook.py `WebhookStore` --------------------------------


class WebhookTargets(Protocol):
    """A campaign's webhook targets (their deliveries are queued by the report's claim,
    `ReportRecords.claim_report`)."""

    def list(self, campaign_id: int) -> list[WebhookTarget]: ...


# -- Redis: adapters/redis/hotstate.py `HotState` ------------------------------------


class LiveState(Protocol):
    """A campaign's hot figures and its live feeds (`reports`, `stimuli`: the newest
    `FEED_KEEP` items, oldest first). Writing a feed hints every web process."""

    @property
    def redis(self) -> Redis: ...  # a leak: see the module's docstring

    async def read(
        self, slug: str, recent_from_ms: int, top: int | None = None, prev: bool = True
    ) -> RawState: ...

    @overload
    async def read_feed(
        self, slug: str, kind: Literal["reports"], newest: int = FEED_KEEP
    ) -> list[ReportItem]: ...

    @overload
    async def read_feed(
        self, slug: str, kind: Literal["stimuli"], newest: int = FEED_KEEP
    ) -> list[StimulusItem]: ...

    async def push_feed(self, slug: str, kind: str, item: ReportItem | StimulusItem) -> bool:
        """Put the item on the feed once (by its id, in id order); False when it was
        there already."""
        ...

    async def replace_feed(
        self, slug: str, kind: str, items: list[ReportItem] | list[StimulusItem]
    ) -> None: ...

    async def restoring(self, slug: str) -> bool: ...

    async def group_sales(self, slug: str) -> dict[str, int] | None: ...


# -- Redis: adapters/redis/streams.py `EventStream` ----------------------------------


class CampaignStreams(Protocol):
    """The per-campaign streams: one entry per campaign per ledger batch."""

    @property
    def redis(self) -> Redis: ...  # a leak: see the module's docstring

    async def register(self, slug: str) -> None: ...

    async def publish(self, batches: dict[str, list[dict[str, Any]]]) -> None: ...


# -- What the operator actions call (services/operator.py) ---------------------------


class Sender(Protocol):
    """adapters/outbound/delivery.py `Deliverer`, as a test message uses it."""

    async def send_now(self, job: Job) -> Outcome: ...

    async def close(self) -> None: ...


class FireRecorder(Protocol):
    """services/announcer.py `Announcer`, as a manual fire uses it."""

    async def record_fire(
        self,
        record: CampaignRecord,
        key: str,
        rule: str,
        action: StimulusAction,
        at_ms: int,
        *,
        metric: str = "gmv_per_min",
        window_minutes: int = 10,
        manual: bool = False,
        holdout_share: float = 0.0,
        effect_minutes: int | None = None,
        max_fires: int | None = None,
    ) -> StimulusItem | None: ...


class SettingsUpdater(Protocol):
    """services/campaigns.py `CampaignDirectory`, as ending early uses it."""

    async def update(
        self, record: CampaignRecord, settings: CampaignSettings, action: str = "update"
    ) -> CampaignRecord: ...


class OperatorContext(Protocol):
    """The part of the runtime (services/runtime.py `Runtime`) that the operator
    actions use. Read-only members, so the runtime's concrete fields fit."""

    @property
    def store(self) -> CampaignStore: ...

    @property
    def reports(self) -> ReportRecords: ...

    @property
    def webhooks(self) -> WebhookTargets: ...

    @property
    def hot(self) -> LiveState: ...

    @property
    def announcer(self) -> FireRecorder: ...

    @property
    def campaigns(self) -> SettingsUpdater: ...

    @property
    def deliverer(self) -> Callable[[], Sender]: ...

    @property
    def clock(self) -> Clock: ...


def _adapters_fit(
    store: Store,
    reports: ReportStore,
    webhooks: WebhookStore,
    hot: HotState,
    stream: EventStream,
    deliverer: Deliverer,
) -> None:
    """Never called: here mypy checks that every real adapter satisfies its port (the
    runtime's fit to `OperatorContext` is checked where the web calls the operator)."""
    fits: tuple[
        CampaignStore,
        LedgerStore,
        ReportRecords,
        WebhookTargets,
        LiveState,
        CampaignStreams,
        Sender,
    ] = (store, store, reports, webhooks, hot, stream, deliverer)
    del fits
