"""The baseline: the schema as `create_all` made it before migrations existed.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The big ids: BIGINT on PostgreSQL, INTEGER on SQLite (which autoincrements only that).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("settings_json", sa.String(), nullable=False),
        sa.Column("ingest_token_hash", sa.String(length=64), nullable=False),
        sa.Column("viewer_token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_campaign_slug", "campaign", ["slug"], unique=True)

    op.create_table(
        "ledger_event",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("relayed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "key", name="uq_ledger_identity"),
    )
    op.create_index("ix_ledger_event_campaign_id", "ledger_event", ["campaign_id"])
    op.create_index(
        "ix_ledger_unrelayed",
        "ledger_event",
        ["relayed"],
        sqlite_where=sa.text("relayed = 0"),
        postgresql_where=sa.text("relayed = false"),
    )

    op.create_table(
        "report",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("memo_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "key", name="uq_report_key"),
    )
    op.create_index("ix_report_campaign_id", "report", ["campaign_id"])

    op.create_table(
        "report_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "kind", name="uq_template_kind"),
    )
    op.create_index("ix_report_template_campaign_id", "report_template", ["campaign_id"])

    op.create_table(
        "stimulus_fire",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("metric", sa.String(length=20), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("uplift", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "key", name="uq_stimulus_key"),
    )
    op.create_index("ix_stimulus_fire_campaign_id", "stimulus_fire", ["campaign_id"])

    op.create_table(
        "webhook",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhook_campaign_id", "webhook", ["campaign_id"])

    op.create_table(
        "webhook_delivery",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("done_at_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id", "report_id", name="uq_delivery_once"),
    )
    op.create_index("ix_webhook_delivery_status", "webhook_delivery", ["status"])
    op.create_index("ix_webhook_delivery_webhook_id", "webhook_delivery", ["webhook_id"])


def downgrade() -> None:
    for table in (
        "webhook_delivery",
        "webhook",
        "stimulus_fire",
        "report_template",
        "report",
        "ledger_event",
        "campaign",
    ):
        op.drop_table(table)  # their indexes go with them
