"""strategies.client_strategy_id: an optional numeric label (integer >= 1, not unique), as in the
reference design whose clients send an integer. Non-numeric labels stored earlier become NULL.

Revision ID: 0005_client_strategy_id
Revises: 0004
Create Date: 2026-11-22 10:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_client_strategy_id"
down_revision = "0004"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    conn = op.get_bind()
    table = sa.table("strategies", sa.column("id"), sa.column("client_strategy_id"))
    for row in conn.execute(sa.select(table.c.id, table.c.client_strategy_id)).all():
        value = row.client_strategy_id
        numeric = value is not None and str(value).isascii() and str(value).isdigit()
        if value is not None and not (numeric and 1 <= int(value) < 2**62):
            conn.execute(table.update().where(table.c.id == row.id).values(client_strategy_id=None))
    with op.batch_alter_table("strategies") as batch:
        batch.drop_constraint("uq_strategies_client_strategy_id", type_="unique")
        batch.alter_column(
            "client_strategy_id", existing_type=sa.String(length=100), type_=BIG,
            existing_nullable=True,
        )  # fmt: skip
        batch.create_index("ix_strategies_client_strategy_id", ["client_strategy_id"])


def downgrade() -> None:
    # labels were unique before: keep each label on its oldest strategy only
    conn = op.get_bind()
    table = sa.table("strategies", sa.column("id"), sa.column("client_strategy_id"))
    seen: set[int] = set()
    rows = conn.execute(
        sa.select(table.c.id, table.c.client_strategy_id)
        .where(table.c.client_strategy_id.is_not(None))
        .order_by(table.c.id)
    ).all()
    for row in rows:
        if row.client_strategy_id in seen:
            conn.execute(table.update().where(table.c.id == row.id).values(client_strategy_id=None))
        seen.add(row.client_strategy_id)
    with op.batch_alter_table("strategies") as batch:
        batch.drop_index("ix_strategies_client_strategy_id")
        batch.alter_column(
            "client_strategy_id", existing_type=BIG, type_=sa.String(length=100),
            existing_nullable=True,
        )  # fmt: skip
        batch.create_unique_constraint("uq_strategies_client_strategy_id", ["client_strategy_id"])
