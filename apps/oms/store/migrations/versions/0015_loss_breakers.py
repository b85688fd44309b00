"""loss breakers: `risk_limits.loss_breaker`, `drawdown_breaker`, `breaker_action`, and
`loss_breakers`, each watched scope's day, baseline, peak equity and trip
(docs/identity-and-risk.md → Loss breakers).

Revision ID: 0015_loss_breakers
Revises: 0014_pretrade_controls
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types

revision = "0015_loss_breakers"
down_revision = "0014_pretrade_controls"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = apps.oms.store.types.UtcDateTime()


def _money() -> apps.oms.store.types.Money:
    return apps.oms.store.types.Money(precision=36, scale=18)


def upgrade() -> None:
    with op.batch_alter_table("risk_limits") as batch:
        batch.add_column(sa.Column("loss_breaker", _money(), nullable=True))
        batch.add_column(sa.Column("drawdown_breaker", _money(), nullable=True))
        batch.add_column(sa.Column("breaker_action", sa.String(length=16), nullable=True))
    op.create_table(
        "loss_breakers",
        sa.Column("account_id", BIG, autoincrement=False, nullable=False),
        sa.Column("strategy_id", BIG, autoincrement=False, nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("baseline", _money(), nullable=True),
        sa.Column("peak", _money(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=True),
        sa.Column("limit_value", _money(), nullable=True),
        sa.Column("value", _money(), nullable=True),
        sa.Column("tripped_at", UTC, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_loss_breakers_account_id_accounts")),
        sa.PrimaryKeyConstraint("account_id", "strategy_id", name=op.f("pk_loss_breakers")),
    )


def downgrade() -> None:
    op.drop_table("loss_breakers")
    with op.batch_alter_table("risk_limits") as batch:
        batch.drop_column("breaker_action")
        batch.drop_column("drawdown_breaker")
        batch.drop_column("loss_breaker")
