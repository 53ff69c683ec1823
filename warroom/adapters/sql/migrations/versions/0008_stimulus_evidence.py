"""stimulus that proves itself (issue 21): a fire's status, its holdout draw and effect;
the group a webhook's robot lives in; hosts' tasks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stimulus_fire", schema=None) as batch_op:
        # Every fire recorded before proposals existed fired: the default says so.
        batch_op.add_column(
            sa.Column("status", sa.String(length=12), nullable=False, server_default="fired")
        )
        batch_op.add_column(sa.Column("proposed_at_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("expires_at_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("decided_at_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("decided_by", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("holdout_share", sa.Float(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("effect_minutes", sa.Integer(), nullable=False, server_default="10")
        )
        batch_op.add_column(sa.Column("seed", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("assignment", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("effect", sa.Text(), nullable=True))
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_id", sa.String(length=128), nullable=True))
    op.create_table(
        "stimulus_task",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("fire_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("seller_id", sa.String(length=128), nullable=False),
        sa.Column("groups", sa.Text(), nullable=False),
        sa.Column("done_at_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fire_id", "seller_id", name="uq_task_host"),
    )
    with op.batch_alter_table("stimulus_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stimulus_task_fire_id"), ["fire_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_stimulus_task_campaign_id"), ["campaign_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("stimulus_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stimulus_task_campaign_id"))
        batch_op.drop_index(batch_op.f("ix_stimulus_task_fire_id"))
    op.drop_table("stimulus_task")
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.drop_column("group_id")
    with op.batch_alter_table("stimulus_fire", schema=None) as batch_op:
        for name in (
            "effect",
            "assignment",
            "seed",
            "effect_minutes",
            "holdout_share",
            "decided_by",
            "decided_at_ms",
            "expires_at_ms",
            "proposed_at_ms",
            "status",
        ):
            batch_op.drop_column(name)
