"""request budget holders: per budget and process, the units it reserved in its latest window
(who spends an exchange limit; docs/operations.md → Request budget).

Revision ID: 0022_request_budget_holders
Revises: 0021_order_groups
Create Date: 2026-11-27 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types

revision = "0022_request_budget_holders"
down_revision = "0021_order_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_budget_holders",
        sa.Column("budget_key", sa.String(length=191), nullable=False),
        sa.Column("holder", sa.String(length=191), nullable=False),
        sa.Column("window_no", sa.BigInteger(), nullable=False),
        sa.Column("reserved", apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
        sa.Column("updated_at", apps.oms.store.types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("budget_key", "holder"),
    )


def downgrade() -> None:
    op.drop_table("request_budget_holders")
