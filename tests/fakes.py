"""In-memory fakes of the ports (warroom/services/ports.py), for the service tests in
tests/unit. Each copies its adapter's semantics, not a guess at them:

- a unique SQL row is a unique dict key, and a claim is atomic (a lock, where the
  adapter has one transaction): the first caller wins, the second is told
  "already claimed" with the winner's id;
- what Redis or SQL would serialize goes through JSON here too (orjson), so a value
  that would not survive the trip does not survive it here either;
- feeds keep the newest `FEED_KEEP` items, oldest first, and every feed write hints
  the campaign, as hotstate.py does.

The integration tests keep using the real Redis and SQL; these are for the unit tier
only. Each fake names the adapter (and method) it copies."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import orjson

from warroom.adapters.outbound.delivery import Outcome
from warroom.adapters.outbound.webhook import Job
from warroom.adapters.redis import keys
from warroom.adapters.redis.hotstate import MINUTE_METRICS, empty_raw
from warroom.adapters.sql.report_store import Claim, Written
from warroom.adapters.sql.store import SlugTaken
from warroom.core.campaign import CampaignSettings
from warroom.core.live.aggregate import BOARDS
from warroom.core.live.ranking import rank_order
from warroom.core.live.shapes import RawState, RawTotals
from warroom.core.records import CampaignRecord, FireRecord, ReportRecord, WebhookTarget
from warroom.services.announcer import Announcer
from warroom.services.campaigns import CampaignDirectory


def _json(value: Any) -> Any:
    """What comes back from a store: a copy, through the wire format."""
    return orjson.loads(orjson.dumps(value))


@dataclass
class Row:
    """A row read by attribute, as SQLAlchemy's rows are (`row.id`, `row.kind`)."""

    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


# -- adapters/sql/store.py `Store` ----------------------------------------------------


class FakeCampaignStore:
    """`Store`'s campaigns and audit log. The slug is unique (`SlugTaken`); settings
    are stored as JSON and read back through `CampaignSettings` as the real store does."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {}
        self._audit: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def create_campaign(
        self, settings: CampaignSettings, ingest_hash: str, viewer_hash: str, created_at_ms: int
    ) -> CampaignRecord:
        with self._lock:
            if settings.slug in self._rows:
                raise SlugTaken(settings.slug)
            self._rows[settings.slug] = {
                "id": len(self._rows) + 1,
                "settings_json": settings.model_dump_json(),
                "ingest_token_hash": ingest_hash,
                "viewer_token_hash": viewer_hash,
                "created_at_ms": created_at_ms,
            }
        found = self.get_campaign(settings.slug)
        assert found is not None
        return found

    def get_campaign(self, slug: str) -> CampaignRecord | None:
        row = self._rows.get(slug)
        if row is None:
            return None
        return CampaignRecord(
            id=row["id"],
            settings=CampaignSettings.model_validate_json(row["settings_json"], strict=False),
            ingest_token_hash=row["ingest_token_hash"],
            viewer_token_hash=row["viewer_token_hash"],
            created_at_ms=row["created_at_ms"],
        )

    def list_campaigns(self) -> list[CampaignRecord]:
        by_id = sorted(self._rows, key=lambda slug: self._rows[slug]["id"])
        return [r for r in map(self.get_campaign, by_id) if r is not None]

    def update_settings(self, slug: str, settings: CampaignSettings) -> None:
        if slug in self._rows:  # an UPDATE ... WHERE slug: no row, no change
            self._rows[slug]["settings_json"] = settings.model_dump_json()

    def update_tokens(
        self, slug: str, *, ingest_hash: str | None = None, viewer_hash: str | None = None
    ) -> None:
        row = self._rows.get(slug)
        if row is None:
            return
        if ingest_hash is not None:
            row["ingest_token_hash"] = ingest_hash
        if viewer_hash is not None:
            row["viewer_token_hash"] = viewer_hash

    def audit(self, campaign_id: int, at_ms: int, action: str, detail: dict[str, Any]) -> None:
        with self._lock:
            self._audit.append(
                {
                    "id": len(self._audit) + 1,
                    "campaign_id": campaign_id,
                    "at_ms": at_ms,
                    "action": action,
                    "detail": _json(detail),
                }
            )

    def audit_log(self, campaign_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first, as the real store orders by id descending."""
        rows = [r for r in reversed(self._audit) if r["campaign_id"] == campaign_id][:limit]
        return [
            {"at_ms": r["at_ms"], "action": r["action"], "detail": _json(r["detail"])} for r in rows
        ]


class FakeLedgerStore:
    """`Store`'s ledger: one row per (campaign_id, key) (`ON CONFLICT DO NOTHING`);
    each call is one transaction, which either happens whole or not at all."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, str], Row] = {}
        self.writes: list[int] = []  # rows offered by each committed write that had any
        self.fail: Exception | None = None  # the next transactions raise this
        self._lock = threading.Lock()

    def append_checked(
        self, rows: Sequence[dict[str, Any]], mark_relayed: Sequence[int] = ()
    ) -> tuple[dict[tuple[int, str], int], dict[tuple[int, str], str]]:
        with self._lock:
            if self.fail is not None:
                raise self.fail
            inserted: dict[tuple[int, str], int] = {}
            existing: dict[tuple[int, str], str] = {}
            for r in rows:
                ident = (r["campaign_id"], r["key"])
                if ident in self.rows:
                    if ident not in inserted:
                        existing[ident] = self.rows[ident].body
                    continue
                lid = len(self.rows) + 1
                self.rows[ident] = Row({**r, "id": lid, "relayed": False})
                inserted[ident] = lid
            wanted = set(mark_relayed)
            for row in self.rows.values():
                if row.id in wanted:
                    row.values["relayed"] = True
            if rows:
                self.writes.append(len(rows))
        return inserted, existing

    def mark_relayed(self, ids: Sequence[int]) -> None:
        if ids:
            self.append_checked([], ids)

    def relayed(self) -> set[int]:
        return {r.id for r in self.rows.values() if r.relayed}


# -- adapters/sql/report_store.py `ReportStore` ---------------------------------------


class FakeReportRecords:
    """Reports, fires and template overrides. A claim is a unique (campaign, key) row:
    the winner gets `Claim(id, True)`, everyone after it `Claim(that id, False)`. The
    winning report is numbered in the same step (`n` in its memo), and one pending
    delivery per enabled target of `webhooks` is queued with it, as the real one does
    in the claim's transaction."""

    engine: Any = None  # stands in for the SQL engine the announcer hands its watermark

    def __init__(self, webhooks: FakeWebhookTargets | None = None) -> None:
        self.webhooks = webhooks if webhooks is not None else FakeWebhookTargets()
        self._reports: list[ReportRecord] = []
        self._fires: list[FireRecord] = []
        self._templates: dict[int, dict[str, str]] = {}
        self._lock = threading.Lock()

    def claim_report(
        self, campaign_id: int, key: str, kind: str, at_ms: int, text: str, memo_json: str
    ) -> Claim:
        with self._lock:
            for r in self._reports:
                if (r.campaign_id, r.key) == (campaign_id, key):
                    return Claim(r.id, False)
            rid = len(self._reports) + 1
            memo = orjson.loads(memo_json or "{}")
            memo["n"] = 1 + sum(1 for r in self._reports if r.campaign_id == campaign_id)
            memo_text = orjson.dumps(memo).decode()
            self._reports.append(ReportRecord(rid, campaign_id, key, kind, at_ms, text, memo_text))
            self.webhooks.queue(campaign_id, rid)
            return Claim(rid, True)

    def report(self, report_id: int) -> ReportRecord | None:
        return next((r for r in self._reports if r.id == report_id), None)

    def reports(self, campaign_id: int) -> list[ReportRecord]:
        return [r for r in self._reports if r.campaign_id == campaign_id]

    def last_report(self, campaign_id: int, kinds: tuple[str, ...]) -> ReportRecord | None:
        found = [r for r in self.reports(campaign_id) if r.kind in kinds]
        return found[-1] if found else None

    def written_since(self, report_after: int, fire_after: int) -> list[Written]:
        return [
            Written("reports", r.id, r.campaign_id) for r in self._reports if r.id > report_after
        ] + [Written("stimuli", f.id, f.campaign_id) for f in self._fires if f.id > fire_after]

    def claim_fire(
        self, *, budget_fen: int | None = None, max_fires: int | None = None, **values: Any
    ) -> Claim:
        """As the real one: a fired claim over the budget or the rule's max fires
        (fired stimuli only) writes nothing and answers `Claim(0, False)`."""
        with self._lock:
            for f in self._fires:
                if (f.campaign_id, f.key) == (values["campaign_id"], values["key"]):
                    return Claim(f.id, False)
            if values.get("status", "fired") == "fired":
                mine = self.fires(values["campaign_id"])
                spent = sum(f.amount_fen for f in mine)
                if budget_fen is not None and spent + values["amount_fen"] > budget_fen:
                    return Claim(0, False)
                ruled = sum(1 for f in mine if f.rule == values["rule"])
                if max_fires is not None and ruled >= max_fires:
                    return Claim(0, False)
            fid = len(self._fires) + 1
            defaults = {"metric": "gmv_per_min", "window_minutes": 10, "manual": False}
            self._fires.append(FireRecord(**{**defaults, **values, "id": fid, "uplift": None}))
            return Claim(fid, True)

    def fires(self, campaign_id: int) -> list[FireRecord]:
        """Fired stimuli only (a proposal is not a fire until approved)."""
        return [f for f in self._fires if f.campaign_id == campaign_id and f.status == "fired"]

    def spent_fen(self, campaign_id: int) -> int:
        return sum(f.amount_fen for f in self.fires(campaign_id))

    def set_template(self, campaign_id: int, kind: str, source: str | None) -> None:
        mine = self._templates.setdefault(campaign_id, {})
        mine.pop(kind, None)
        if source is not None:
            mine[kind] = source

    def templates(self, campaign_id: int) -> dict[str, str]:
        return dict(self._templates.get(campaign_id, {}))


# -- adapters/outbound/webhook.py `WebhookStore` --------------------------------------


class FakeWebhookTargets:
    """Targets, and deliveries unique per (target, report), queued by the report's
    claim (`FakeReportRecords.claim_report`, as report_store.queue_deliveries does in
    the claim's transaction). Only enabled targets get a delivery."""

    def __init__(self) -> None:
        self._hooks: list[WebhookTarget] = []
        self.deliveries: dict[tuple[int, int], Row] = {}  # (webhook_id, report_id)
        self._lock = threading.Lock()

    def add(self, campaign_id: int, url: str, fmt: str, secret: str) -> int:
        hid = len(self._hooks) + 1
        self._hooks.append(WebhookTarget(hid, campaign_id, url, fmt, secret, True))
        return hid

    def disable(self, webhook_id: int) -> None:
        i = next(i for i, h in enumerate(self._hooks) if h.id == webhook_id)
        self._hooks[i] = self._hooks[i]._replace(enabled=False)

    def list(self, campaign_id: int) -> list[WebhookTarget]:
        return [h for h in self._hooks if h.campaign_id == campaign_id]

    def queue(self, campaign_id: int, report_id: int) -> int:
        hooks = [h for h in self.list(campaign_id) if h.enabled]
        with self._lock:
            for h in hooks:
                self.deliveries.setdefault(
                    (h.id, report_id),
                    Row(
                        {
                            "id": len(self.deliveries) + 1,
                            "webhook_id": h.id,
                            "report_id": report_id,
                            "status": "pending",
                            "attempts": 0,
                            "next_at_ms": 0,
                        }
                    ),
                )
        return len(hooks)


# -- adapters/redis/hotstate.py `HotState` --------------------------------------------


@dataclass
class _Figures:
    totals: dict[str, int] = field(default_factory=dict)
    minutes: dict[str, dict[int, int]] = field(default_factory=dict)
    boards: dict[str, dict[str, int]] = field(default_factory=dict)
    board_orders: dict[str, dict[str, int]] = field(default_factory=dict)
    board_names: dict[str, dict[str, str]] = field(default_factory=dict)
    board_minutes: dict[str, dict[int, dict[str, int]]] = field(default_factory=dict)


class FakeLiveState:
    """Hot figures as the aggregator left them (set by the test with `set_figures`:
    folding events is the Lua script's job, tested against the real Redis), the live
    feeds, and the campaign-changed hints. A campaign without a live generation (never
    set, or `lose`) reads as restoring, with empty figures."""

    redis: Any = None  # stands in for the client the watermark reads streams with

    def __init__(self) -> None:
        self._figures: dict[str, _Figures] = {}
        self._feeds: dict[tuple[str, str], list[bytes]] = {}
        self.hints: list[str] = []  # slugs published on the campaign-changed channel
        self.group_sales_of: dict[str, dict[str, int]] = {}

    def set_figures(
        self,
        slug: str,
        *,
        totals: dict[str, int] | None = None,
        minutes: dict[str, dict[int, int]] | None = None,
        boards: dict[str, dict[str, int]] | None = None,
        board_names: dict[str, dict[str, str]] | None = None,
    ) -> None:
        f = _Figures(totals=dict(totals or {}))
        f.minutes = {m: dict((minutes or {}).get(m, {})) for m in MINUTE_METRICS}
        for b in BOARDS:
            f.boards[b] = dict((boards or {}).get(b, {}))
            f.board_orders[b] = {x: 1 for x in f.boards[b]}
            f.board_names[b] = dict((board_names or {}).get(b, {}))
        self._figures[slug] = f

    def lose(self, slug: str) -> None:
        """The live generation is gone (a wipe): reads say `restoring` until restored."""
        self._figures.pop(slug, None)

    async def read(
        self, slug: str, recent_from_ms: int, top: int | None = None, prev: bool = True
    ) -> RawState:
        f = self._figures.get(slug)
        if f is None:
            return empty_raw(restoring=True)
        totals = cast(RawTotals, dict(f.totals))
        minutes = {m: dict(v) for m, v in f.minutes.items()}
        boards = {b: dict(v) for b, v in f.boards.items()}
        orders = {b: dict(v) for b, v in f.board_orders.items()}
        names = {b: dict(v) for b, v in f.board_names.items()}
        if top is None:  # the full read also brings the recent minutes of each board
            recent = sorted(m for m in minutes["gmv"] if m >= recent_from_ms)
            board_minutes = {
                b: {m: dict(f.board_minutes.get(b, {}).get(m, {})) for m in recent} for b in BOARDS
            }
            return RawState(totals, minutes, boards, orders, names, board_minutes, generation=1)
        before: dict[str, dict[str, int | None]] = {}
        for b in BOARDS:  # bounded by what is shown: the top rows, no prev ranks here
            chosen = rank_order(boards[b])[:top]
            boards[b] = {x: boards[b][x] for x in chosen}
            orders[b] = {x: orders[b][x] for x in chosen}
            names[b] = {x: names[b][x] for x in chosen if x in names[b]}
            before[b] = {x: None for x in chosen}
        return RawState(totals, minutes, boards, orders, names, generation=1, board_prev=before)

    async def push_feed(self, slug: str, kind: str, item: Any) -> bool:
        """Once per id, in id order, the newest FEED_KEEP kept (lua/push_feed.lua)."""
        feed = self._feeds.setdefault((slug, kind), [])
        ids = [orjson.loads(i)["id"] for i in feed]
        if item["id"] in ids:
            return False
        at = next((n for n, other in enumerate(ids) if other > item["id"]), len(feed))
        feed.insert(at, orjson.dumps(item))
        del feed[: -keys.FEED_KEEP]
        self.hints.append(slug)
        return True

    async def replace_feed(self, slug: str, kind: str, items: list[Any]) -> None:
        self._feeds[(slug, kind)] = [orjson.dumps(i) for i in items[-keys.FEED_KEEP :]]
        self.hints.append(slug)

    async def read_feed(self, slug: str, kind: str, newest: int = keys.FEED_KEEP) -> list[Any]:
        return [orjson.loads(i) for i in self._feeds.get((slug, kind), [])[-newest:]]

    async def restoring(self, slug: str) -> bool:
        return slug not in self._figures

    async def group_sales(self, slug: str) -> dict[str, int] | None:
        """The groups board (net GMV per group): `group_sales_of[slug]`, set by a test."""
        return None if slug not in self._figures else dict(self.group_sales_of.get(slug, {}))


# -- adapters/redis/streams.py `EventStream` ------------------------------------------


class FakeHintRedis:
    """The few Redis commands the campaign directory sends through `stream.redis` (the
    first generation of a new campaign: hotstate.init_generation; the hints: PUBLISH)."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.published: list[tuple[str, str]] = []

    async def exists(self, *names: str) -> int:
        return sum(1 for n in names if n in self.values)

    async def incr(self, name: str) -> int:
        value = int(self.values.get(name, b"0")) + 1
        self.values[name] = str(value).encode()
        return value

    async def set(self, name: str, value: Any, nx: bool = False) -> bool | None:
        if nx and name in self.values:
            return None
        self.values[name] = str(value).encode()
        return True

    async def publish(self, channel: str, message: str) -> int:
        self.published.append((channel, message))
        return 0


class FakeCampaignStreams:
    """One stream per registered campaign; `publish` appends one entry per campaign
    batch, all or nothing (`fail`: Redis is down, nothing is appended)."""

    def __init__(self) -> None:
        self.hint_redis = FakeHintRedis()
        self.redis: Any = self.hint_redis  # what the directory reaches through the leak
        self.registered: set[str] = set()
        self.entries: dict[str, list[list[dict[str, Any]]]] = {}
        self.fail: Exception | None = None

    async def register(self, slug: str) -> None:
        self.registered.add(slug)
        self.entries.setdefault(slug, [])

    async def publish(self, batches: dict[str, list[dict[str, Any]]]) -> None:
        if self.fail is not None:
            raise self.fail
        for slug, events in batches.items():
            self.entries.setdefault(slug, []).append(_json(events))


# -- what the announcer and the operator actions reach beyond the stores --------------


class FakeWatermark:
    """services/watermark.py `Watermark`: the campaign time up to which figures are
    settled, or None (restoring, or the stream's state unknown), as the test says."""

    def __init__(self, settled: int | None = None) -> None:
        self.settled = settled

    async def settled_ms(
        self, record: CampaignRecord, now_real_ms: int | None = None
    ) -> int | None:
        return self.settled


class FakeSender:
    """adapters/outbound/delivery.py `Deliverer`, as the test message uses it: records
    what it was asked to send, answers `outcome` (or raises `fail`), and its closing."""

    def __init__(self, outcome: Outcome | None = None, fail: Exception | None = None) -> None:
        self.outcome = outcome or Outcome(ok=True, status=200)
        self.fail = fail
        self.sent: list[Job] = []
        self.closed = 0

    async def send_now(self, job: Job) -> Outcome:
        self.sent.append(job)
        if self.fail is not None:
            raise self.fail
        return self.outcome

    async def close(self) -> None:
        self.closed += 1


@dataclass
class FakeRuntime:
    """The runtime as the operator actions see it (ports.OperatorContext), built from
    fakes by `fake_runtime`: the test suite's composition root."""

    store: FakeCampaignStore
    reports: FakeReportRecords
    webhooks: FakeWebhookTargets
    hot: FakeLiveState
    streams: FakeCampaignStreams
    announcer: Announcer
    campaigns: CampaignDirectory
    sender: FakeSender
    deliverer: Callable[[], FakeSender]
    watermark: FakeWatermark
    clock: FixedClock


class FixedClock:
    """adapters/clock.py `Clock`, standing still until the test moves it."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


def fake_runtime(now_ms: int = 1_700_000_000_000, settled: int | None = None) -> FakeRuntime:
    """The real services (announcer, campaign directory) over fakes, wired as
    bootstrap.build_runtime wires them over the real adapters."""
    store, webhooks = FakeCampaignStore(), FakeWebhookTargets()
    reports = FakeReportRecords(webhooks)
    hot, streams = FakeLiveState(), FakeCampaignStreams()
    announcer = Announcer(hot, reports)
    watermark = FakeWatermark(settled)
    announcer.watermark = watermark  # type: ignore[assignment]
    sender = FakeSender()
    clock = FixedClock(now_ms)
    return FakeRuntime(
        store=store,
        reports=reports,
        webhooks=webhooks,
        hot=hot,
        streams=streams,
        announcer=announcer,
        campaigns=CampaignDirectory(store, streams, clock=clock),
        sender=sender,
        deliverer=lambda: sender,
        watermark=watermark,
        clock=clock,
    )


if TYPE_CHECKING:  # mypy tests/fakes.py: every fake still fits its port
    from warroom.services import ports

    def _fakes_fit(rt: FakeRuntime, ledger: FakeLedgerStore) -> None:
        fits: tuple[
            ports.CampaignStore,
            ports.LedgerStore,
            ports.ReportRecords,
            ports.WebhookTargets,
            ports.LiveState,
            ports.CampaignStreams,
            ports.Sender,
            ports.OperatorContext,
        ] = (rt.store, ledger, rt.reports, rt.webhooks, rt.hot, rt.streams, rt.sender, rt)
        del fits
