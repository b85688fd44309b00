"""orders.fire_at and held_orders.fire_at: when a bracket's time-limit exit fires (its entry's
first fill plus the limit asked), on the order for every read and event, and on the held row
the worker watches (docs/orders.md → Groups).

Revision ID: 0026_time_limit
Revises: 0025_workers_live_index
Create Date: 2026-11-28 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from apps.oms.store.types import UtcDateTime

revision = "0026_time_limit"
down_revision = "0025_workers_live_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("orders", "held_orders"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("fire_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    for table in ("held_orders", "orders"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("fire_at")
