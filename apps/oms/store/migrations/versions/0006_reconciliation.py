"""account_risk_state.out_of_sync_blocks: reconciliation found the account out of sync and the
account is configured to refuse new positions until a later run matches (fail-closed).

Revision ID: 0006_reconciliation
Revises: 0005_client_strategy_id
Create Date: 2026-11-22 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_reconciliation"
down_revision = "0005_client_strategy_id"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account_risk_state") as batch:
        batch.add_column(
            sa.Column("out_of_sync_blocks", sa.Boolean(), server_default=sa.text("0"),
                      nullable=False)
        )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("account_risk_state") as batch:
        batch.drop_column("out_of_sync_blocks")
