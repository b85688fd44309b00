"""worker liveness: the lock each worker holds for its whole life (a GET_LOCK name or a lock
file), which peers probe to take a killed worker's accounts without waiting for its heartbeats
to go stale (docs/worker.md → Liveness probe).

Revision ID: 0023_worker_liveness
Revises: 0022_request_budget_holders
Create Date: 2026-11-28 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_worker_liveness"
down_revision = "0022_request_budget_holders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("liveness", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("liveness")
