"""signals: the signal intake (every signal with its outcome), per-account signing secrets, and
shadow mode flags on accounts (`account_risk_state.shadow`) and strategies
(`strategy_accounts.shadow`).

Tables defined in apps/oms/store/signal_tables.py; flags in apps/oms/store/tables.py.

Revision ID: 0008_signals
Revises: 0007_paper_market
Create Date: 2026-11-22 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types

revision = "0008_signals"
down_revision = "0007_paper_market"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _shadow() -> sa.Column[bool]:
    return sa.Column("shadow", sa.Boolean(), server_default=sa.text("0"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "signals",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("signal_id", sa.String(length=100), nullable=True),
        sa.Column("auth", sa.String(length=16), nullable=False),
        sa.Column("api_key_id", ID, nullable=True),
        sa.Column("strategy_id", ID, server_default="0", nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("sent_at", apps.oms.store.types.UtcDateTime(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("command_id", ID, nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", apps.oms.store.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_signals_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
        sa.UniqueConstraint(
            "account_id", "signal_id", name=op.f("uq_signals_account_id_signal_id")
        ),
    )
    op.create_index(op.f("ix_signals_account_id_id"), "signals", ["account_id", "id"])
    op.create_table(
        "account_signal_secrets",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("updated_at", apps.oms.store.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"],
            name=op.f("fk_account_signal_secrets_account_id_accounts"),
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_signal_secrets")),
    )
    op.add_column("account_risk_state", _shadow())
    op.add_column("strategy_accounts", _shadow())


def downgrade() -> None:
    with op.batch_alter_table("strategy_accounts") as batch:
        batch.drop_column("shadow")
    with op.batch_alter_table("account_risk_state") as batch:
        batch.drop_column("shadow")
    op.drop_table("account_signal_secrets")
    op.drop_index(op.f("ix_signals_account_id_id"), table_name="signals")
    op.drop_table("signals")
