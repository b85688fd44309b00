"""paper reservation groups: paper_orders.reserve_group, the group (an order list) whose orders
share one reservation, the largest of theirs; NULL for an order alone.

Columns defined in apps/paper/store/tables.py.

Revision ID: 0027_paper_reserve_groups
Revises: 0026_time_limit
Create Date: 2026-11-29 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027_paper_reserve_groups"
down_revision = "0026_time_limit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("paper_orders") as batch:
        batch.add_column(sa.Column("reserve_group", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("paper_orders") as batch:
        batch.drop_column("reserve_group")
