"""paper margin mode: the per-symbol margin mode (`cross` / `isolated`) of paper accounts, set
by `set_margin_mode` (docs/paper-venue.md → Margin modes and leverage tiers)

Column defined in apps/paper/store/tables.py.

Revision ID: 0012_paper_margin_mode
Revises: 0011_strategy_allocations
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_paper_margin_mode"
down_revision = "0011_strategy_allocations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("paper_accounts") as batch:
        batch.add_column(sa.Column("margin_modes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("paper_accounts") as batch:
        batch.drop_column("margin_modes")
