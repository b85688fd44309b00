"""request budgets: one row per exchange limit shared by every process that calls it, the
units handed out in its current window (docs/operations.md → Request budget).

Revision ID: 0020_request_budgets
Revises: 0019_held_orders
Create Date: 2026-11-27 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types

revision = "0020_request_budgets"
down_revision = "0019_held_orders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_budgets",
        sa.Column("budget_key", sa.String(length=191), nullable=False),
        sa.Column("window_no", sa.BigInteger(), nullable=False),
        sa.Column("reserved", apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
        sa.Column("updated_at", apps.oms.store.types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("budget_key"),
    )


def downgrade() -> None:
    op.drop_table("request_budgets")
