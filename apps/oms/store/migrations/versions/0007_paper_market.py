"""paper market: the price scheduler's lease and status, the recent price path, per-symbol
leverage of paper accounts

Tables defined in apps/paper/store/tables.py.

Revision ID: 0007_paper_market
Revises: 0006_reconciliation
Create Date: 2026-11-22 12:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types

revision = "0007_paper_market"
down_revision = "0006_reconciliation"
branch_labels = None
depends_on = None

MONEY = apps.oms.store.types.Money(precision=36, scale=18)
WHEN = apps.oms.store.types.UtcDateTime()


def upgrade() -> None:
    op.create_table(
        "paper_price_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("lease_epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", WHEN, nullable=True),
        sa.Column("source", sa.String(length=512), nullable=True),
        sa.Column("speed", MONEY, nullable=True),
        sa.Column("at_end", sa.String(length=8), nullable=True),
        sa.Column("active_source", sa.String(length=512), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(length=512), nullable=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("ticks", sa.BigInteger(), nullable=False),
        sa.Column("last_update_at", WHEN, nullable=True),
        sa.Column("changed_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_price_feed")),
    )
    op.create_table(
        "paper_price_ticks",
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("last", MONEY, nullable=False),
        sa.Column("bid", MONEY, nullable=False),
        sa.Column("ask", MONEY, nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("symbol", "seq", name=op.f("pk_paper_price_ticks")),
    )
    with op.batch_alter_table("paper_accounts") as batch:
        batch.add_column(sa.Column("leverages", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("paper_accounts") as batch:
        batch.drop_column("leverages")
    op.drop_table("paper_price_ticks")
    op.drop_table("paper_price_feed")
