"""pre-trade controls: risk limits per API key (`risk_limits.api_key_id`), the price collar,
the duplicate-order window and the maximum of open orders; `command_rates`, the per-minute
command counters `max_commands_per_minute` is enforced against; `risk_halts`, the kill switch
(docs/identity-and-risk.md → Pre-trade controls, Kill switch).

Revision ID: 0014_pretrade_controls
Revises: 0013_paper_last_funding
Create Date: 2026-11-27 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types

revision = "0014_pretrade_controls"
down_revision = "0013_paper_last_funding"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = apps.oms.store.types.UtcDateTime()
OLD_UNIQUE = "uq_risk_limits_account_id_strategy_id"
NEW_UNIQUE = "uq_risk_limits_account_id_strategy_id_api_key_id"


def upgrade() -> None:
    # the new unique key first: on MariaDB the account_id foreign key needs an index that
    # starts with account_id when the old one goes
    with op.batch_alter_table("risk_limits") as batch:
        batch.add_column(sa.Column("api_key_id", BIG, server_default="0", nullable=False))
        batch.add_column(sa.Column("price_collar_bps", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("price_collar_symbols", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("duplicate_window_ms", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_open_orders", sa.Integer(), nullable=True))
        batch.create_unique_constraint(NEW_UNIQUE, ["account_id", "strategy_id", "api_key_id"])
    with op.batch_alter_table("risk_limits") as batch:
        batch.drop_constraint(OLD_UNIQUE, type_="unique")
    op.create_table(
        "risk_halts",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_id", BIG, nullable=False),
        sa.Column("flatten", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("engaged_by_user_id", BIG, nullable=True),
        sa.Column("engaged_by_api_key_id", BIG, nullable=True),
        sa.Column("engaged_at", UTC, nullable=False),
        sa.Column("lifted_at", UTC, nullable=True),
        sa.Column("lifted_by_user_id", BIG, nullable=True),
        sa.Column("lifted_by_api_key_id", BIG, nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_halts")),
    )
    op.create_index(op.f("ix_risk_halts_lifted_at_scope_scope_id"), "risk_halts",
                    ["lifted_at", "scope", "scope_id"])
    op.create_table(
        "command_rates",
        sa.Column("account_id", BIG, autoincrement=False, nullable=False),
        sa.Column("api_key_id", BIG, autoincrement=False, nullable=False),
        sa.Column("window_start", UTC, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "api_key_id", "window_start", name=op.f("pk_command_rates")
        ),
    )


def downgrade() -> None:
    op.drop_table("command_rates")
    op.drop_index(op.f("ix_risk_halts_lifted_at_scope_scope_id"), table_name="risk_halts")
    op.drop_table("risk_halts")
    op.execute("DELETE FROM risk_limits WHERE api_key_id <> 0")
    with op.batch_alter_table("risk_limits") as batch:
        batch.create_unique_constraint(OLD_UNIQUE, ["account_id", "strategy_id"])
    with op.batch_alter_table("risk_limits") as batch:
        batch.drop_constraint(NEW_UNIQUE, type_="unique")
        batch.drop_column("max_open_orders")
        batch.drop_column("duplicate_window_ms")
        batch.drop_column("price_collar_symbols")
        batch.drop_column("price_collar_bps")
        batch.drop_column("api_key_id")
