"""workers: an index on (status, heartbeat_at), the live workers that every liveness probe
(5 per second per worker) and every lease round read; the table keeps a row per worker process
ever started, which a scan reads in full (docs/worker.md → Liveness probe).

Revision ID: 0025_workers_live_index
Revises: 0024_worker_liveness
Create Date: 2026-11-28 01:45:00
"""

from __future__ import annotations

from alembic import op

revision = "0025_workers_live_index"
down_revision = "0024_worker_liveness"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.create_index(batch.f("ix_workers_status_heartbeat_at"), ["status", "heartbeat_at"])


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_index(batch.f("ix_workers_status_heartbeat_at"))
