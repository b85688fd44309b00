"""strategy_allocations: a strategy's budget on an account, in one currency (the balance a
strategy-restricted key's fetch_balance answers and acceptance checks orders against;
docs/identity-and-risk.md → Strategy allocations).

Revision ID: 0011_strategy_allocations
Revises: 0010_paper_candles
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types

revision = "0011_strategy_allocations"
down_revision = "0010_paper_candles"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MONEY = apps.oms.store.types.Money(precision=36, scale=18)
UTC = apps.oms.store.types.UtcDateTime()


def upgrade() -> None:
    op.create_table(
        "strategy_allocations",
        sa.Column("strategy_id", BIG, nullable=False),
        sa.Column("account_id", BIG, nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("updated_by_user_id", BIG, nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"],
            name=op.f("fk_strategy_allocations_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"], ["strategies.id"],
            name=op.f("fk_strategy_allocations_strategy_id_strategies"),
        ),
        sa.PrimaryKeyConstraint("strategy_id", "account_id", name=op.f("pk_strategy_allocations")),
    )
    op.create_index(
        op.f("ix_strategy_allocations_account_id"), "strategy_allocations", ["account_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_strategy_allocations_account_id"), table_name="strategy_allocations")
    op.drop_table("strategy_allocations")
