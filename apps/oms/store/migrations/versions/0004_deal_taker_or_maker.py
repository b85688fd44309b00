"""deals.taker_or_maker: whether the venue fill was the taker or the maker side (NULL: unknown,
internal deals)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deals", sa.Column("taker_or_maker", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deals") as batch:
        batch.drop_column("taker_or_maker")
