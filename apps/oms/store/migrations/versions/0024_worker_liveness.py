"""worker liveness: the lock each worker holds for its whole life (a GET_LOCK name or a lock
file), which peers probe to take a killed worker's accounts without waiting for its heartbeats
to go stale (docs/worker.md → Liveness probe).

Revision ID: 0024_worker_liveness
Revises: 0023_order_group_tags
Create Date: 2026-11-28 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024_worker_liveness"
down_revision = "0023_order_group_tags"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("liveness", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("liveness")
