"""auth_state: one row whose version is bumped by every transaction that changes an existing key,
user or grant (the API's principal cache trusts its entries only while it has read the current
version within its lease; docs/architecture.md → Authentication per request).

Revision ID: 0009_auth_state
Revises: 0008_signals
Create Date: 2026-11-23 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_auth_state"
down_revision = "0008_signals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "auth_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_state")),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("auth_state")
