"""Every table of the SQL schema, in one module: the stores read and write them, the
migrations (alembic, migrations/) compare against them. Changing one needs a revision."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import BigInteger, Column, Index, Integer, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only


class CampaignRow(SQLModel, table=True):
    __tablename__ = "campaign"
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=63, unique=True, index=True)
    settings_json: str
    ingest_token_hash: str = Field(max_length=64)
    viewer_token_hash: str = Field(max_length=64)
    created_at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class LedgerEvent(SQLModel, table=True):
    __tablename__ = "ledger_event"
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    __table_args__ = (
        UniqueConstraint("campaign_id", "key", name="uq_ledger_identity"),
        Index(
            "ix_ledger_unrelayed",
            "relayed",
            sqlite_where=Column("relayed") == False,  # noqa: E712
            postgresql_where=Column("relayed") == False,  # noqa: E712
        ),
    )
    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    campaign_id: int = Field(index=True)
    key: str = Field(max_length=200)
    type: str = Field(max_length=10)
    ts_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    received_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    body: str
    relayed: bool = Field(default=False)


class AuditRow(SQLModel, table=True):
    """What operators changed (console or admin API): settings edits, token rotations,
    manual fires, webhook changes. `detail_json` says what, never a secret."""

    __tablename__ = "console_audit"
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(index=True)
    at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    action: str = Field(max_length=40)
    detail_json: str = "{}"
    # Who (issue 18): an email, "key:<name>", "admin token", "cli" or "system". Rows
    # older than people were all made with the admin token. campaign_id 0: no campaign.
    actor: str = Field(
        default="admin token",
        max_length=300,
        index=True,
        sa_column_kwargs={"server_default": "admin token"},
    )
    actor_kind: str = Field(
        default="token", max_length=8, sa_column_kwargs={"server_default": "token"}
    )


class ReportRow(SQLModel, table=True):
    __tablename__ = "report"
    __table_args__ = (UniqueConstraint("campaign_id", "key", name="uq_report_key"),)
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    campaign_id: int = Field(index=True)
    key: str = Field(max_length=120)
    kind: str = Field(max_length=20)
    at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    memo_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class StimulusRow(SQLModel, table=True):
    __tablename__ = "stimulus_fire"
    __table_args__ = (UniqueConstraint("campaign_id", "key", name="uq_stimulus_key"),)
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    campaign_id: int = Field(index=True)
    key: str = Field(max_length=160)
    rule: str = Field(max_length=100)
    kind: str = Field(max_length=30)
    metric: str = Field(max_length=20, default="gmv_per_min")
    window_minutes: int = 10
    at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    manual: bool = False
    uplift: float | None = None
    # Contract v3, "Stimulus that proves itself": a proposal (mode "propose") waits for
    # an operator; only `fired` counts toward the budget and max fires.
    status: str = Field(default="fired", max_length=12)  # proposed|dismissed|expired|fired
    proposed_at_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    expires_at_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    decided_at_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    decided_by: str = Field(default="", max_length=200)
    holdout_share: float = 0.0
    effect_minutes: int = 10
    # The holdout draw (core/reports/holdout.py): its seed and {"treated", "holdout"}.
    seed: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    assignment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The effect (core/reports/effect.Effect.as_dict) once its window has passed.
    effect: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class TemplateRow(SQLModel, table=True):
    __tablename__ = "report_template"
    __table_args__ = (UniqueConstraint("campaign_id", "kind", name="uq_template_kind"),)
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(index=True)
    kind: str = Field(max_length=20)
    source: str = Field(sa_column=Column(Text, nullable=False))


class WebhookRow(SQLModel, table=True):
    __tablename__ = "webhook"
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(index=True)
    url: str = Field(max_length=2000)
    format: str = Field(max_length=24)  # webhook.FORMATS
    secret: str = Field(default="", max_length=200)
    enabled: bool = True
    # The group whose robot this is: a stimulus held out from that group is not posted.
    group_id: str | None = Field(default=None, max_length=128)  # an event id's bound


class DeliveryRow(SQLModel, table=True):
    __tablename__ = "webhook_delivery"
    __table_args__ = (UniqueConstraint("webhook_id", "report_id", name="uq_delivery_once"),)
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    webhook_id: int = Field(index=True)
    report_id: int
    status: str = Field(
        default="pending", max_length=12, index=True
    )  # pending|sending|delivered|failed
    attempts: int = 0
    next_at_ms: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    last_status: int | None = None
    last_error: str = Field(default="", max_length=500)
    done_at_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


# sources (issue 19)


class SourceRow(SQLModel, table=True):
    """A platform's feed into one campaign (`wecom` or `mapped`). `id` is random and is
    the path of its URL (`/hooks/{id}`); `config_json` holds the secrets the platform's
    signatures are checked with: never logged, never shown again in full."""

    __tablename__ = "source"
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: str = Field(primary_key=True, max_length=40)
    campaign_id: int = Field(index=True)
    slug: str = Field(max_length=63)  # the campaign's (a slug never changes)
    kind: str = Field(max_length=10)
    name: str = Field(max_length=200)
    config_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class SourceDeliveryRow(SQLModel, table=True):
    """One call of a source's URL: what it came to (the newest 50 per source are kept)."""

    __tablename__ = "source_delivery"
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    source_id: str = Field(max_length=40, index=True)
    at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: int  # the HTTP status answered
    outcome: str = Field(max_length=20)  # recorded | signature | refused | failed | verified
    accepted: int = 0
    duplicates: int = 0
    rejected_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    note: str = Field(default="", max_length=500)


# links (issue 18)


class LinkRow(SQLModel, table=True):
    """A scoped link of one campaign (services/links.py): its own token, stored only as
    a keyed hash (HMAC-SHA256 with the server's link secret), looked up by that hash."""

    __tablename__ = "campaign_link"
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(index=True)
    kind: str = Field(max_length=10)  # wall | host | review
    masked: bool = False
    seller_id: str | None = Field(default=None, max_length=200)
    label: str = Field(default="", max_length=100)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_at_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    revoked_at_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_used_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


# imports (issue 19)


class ImportRunRow(SQLModel, table=True):
    """One spreadsheet import (or dry run): its progress while it runs, its result
    after (the console polls it). `rejected_json` keeps the first rejections only."""

    __tablename__ = "import_run"
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(index=True)
    filename: str = Field(max_length=200)
    dry_run: bool = False
    state: str = Field(default="running", max_length=12)  # running | done | failed
    started_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    finished_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    scanned: int = 0  # rows after the header read so far, empty ones included
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected_count: int = 0
    rejected_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    stopped_json: str = Field(default="null", sa_column=Column(Text, nullable=False))
    error: str = Field(default="", max_length=500)


# people (issue 18)


class UserRow(SQLModel, table=True):
    """A person who signs in to the console: an email, a role and an Argon2id hash of
    the password (never the password)."""

    __tablename__ = "app_user"
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    role: str = Field(max_length=10)  # core.people.ROLES
    password_hash: str = Field(max_length=300)
    created_at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class ApiKeyRow(SQLModel, table=True):
    """An API key for automation: a keyed hash of the key (HMAC-SHA256), looked up by
    that hash; the key itself is shown once and never stored."""

    __tablename__ = "api_key"
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60)
    role: str = Field(max_length=10)
    key_hash: str = Field(max_length=64, unique=True, index=True)
    created_at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_used_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


# stimulus tasks (contract v3: an approved action is a task on its hosts' pages)


class StimulusTaskRow(SQLModel, table=True):
    """One host's task for one approved stimulus: the host's treated groups, and when
    the host marked it done (the first done is the fire's time)."""

    __tablename__ = "stimulus_task"
    __table_args__ = (UniqueConstraint("fire_id", "seller_id", name="uq_task_host"),)
    if TYPE_CHECKING:  # SQLModel declares no `__table__`; SQLAlchemy sets it
        __table__: ClassVar[Table]
    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    fire_id: int = Field(index=True)
    campaign_id: int = Field(index=True)
    seller_id: str = Field(max_length=128)
    groups: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of group ids
    done_at_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
