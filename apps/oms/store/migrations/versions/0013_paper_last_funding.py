"""paper last funding: the latest funding time a paper account was charged and the marks it
used, so that a funding time is charged once and the books can book it from the venue's answer
(docs/paper-market.md → Funding)

Column defined in apps/paper/store/tables.py.

Revision ID: 0013_paper_last_funding
Revises: 0012_paper_margin_mode
Create Date: 2026-11-27 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_paper_last_funding"
down_revision = "0012_paper_margin_mode"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("paper_accounts") as batch:
        batch.add_column(sa.Column("last_funding", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("paper_accounts") as batch:
        batch.drop_column("last_funding")
