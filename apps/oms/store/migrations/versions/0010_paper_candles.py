"""paper candles: OHLCV of the shared paper market per symbol and timeframe, built from the
stored prices, with a seeded history before the first one (docs/paper-market.md → Candles).

Table defined in apps/paper/store/tables.py.

Revision ID: 0010_paper_candles
Revises: 0009_auth_state
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types

revision = "0010_paper_candles"
down_revision = "0009_auth_state"
branch_labels = None
depends_on = None

MONEY = apps.oms.store.types.Money(precision=36, scale=18)


def upgrade() -> None:
    op.create_table(
        "paper_candles",
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("open_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("open", MONEY, nullable=False),
        sa.Column("high", MONEY, nullable=False),
        sa.Column("low", MONEY, nullable=False),
        sa.Column("close", MONEY, nullable=False),
        sa.Column("volume", MONEY, nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "timeframe", "open_ms", name=op.f("pk_paper_candles")),
    )


def downgrade() -> None:
    op.drop_table("paper_candles")
