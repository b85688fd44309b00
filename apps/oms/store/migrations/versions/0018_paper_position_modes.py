"""paper position modes: a paper account's position mode (`oneway` / `hedge`), the position
side of each venue position (one row per side in hedge mode: the side joins the primary key)
and of each order and fill (docs/paper-venue.md → Position modes).

Columns defined in apps/paper/store/tables.py.

Revision ID: 0018_paper_position_modes
Revises: 0017_kill_webhook_secrets
Create Date: 2026-11-27 11:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types

revision = "0018_paper_position_modes"
down_revision = "0017_kill_webhook_secrets"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MONEY = apps.oms.store.types.Money(precision=36, scale=18)
COLUMNS = "account_id, symbol, qty, entry_price, realized_pnl, leverage, updated_at"


def upgrade() -> None:
    with op.batch_alter_table("paper_accounts") as batch:
        batch.add_column(sa.Column("position_mode", sa.String(16), nullable=True))
    for table in ("paper_orders", "paper_fills"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("position_side", sa.String(8), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_positions(with_side=True)
    else:  # one statement: the key keeps backing the account foreign key throughout
        op.execute("ALTER TABLE paper_positions ADD COLUMN position_side VARCHAR(8) NOT NULL "
                   "DEFAULT 'both', DROP PRIMARY KEY, "
                   "ADD PRIMARY KEY (account_id, symbol, position_side)")  # fmt: skip


def downgrade() -> None:
    op.execute("DELETE FROM paper_positions WHERE position_side <> 'both'")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_positions(with_side=False)
    else:
        op.execute("ALTER TABLE paper_positions DROP PRIMARY KEY, "
                   "ADD PRIMARY KEY (account_id, symbol), DROP COLUMN position_side")  # fmt: skip
    for table in ("paper_fills", "paper_orders"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("position_side")
    with op.batch_alter_table("paper_accounts") as batch:
        batch.drop_column("position_mode")


def _rebuild_positions(*, with_side: bool) -> None:
    """SQLite cannot change a primary key: a new table, the rows copied, the old one dropped."""
    key = ["account_id", "symbol", *(["position_side"] if with_side else [])]
    side = ([sa.Column("position_side", sa.String(8), nullable=False, server_default="both")]
            if with_side else [])  # fmt: skip
    op.create_table(
        "_paper_positions_new",
        sa.Column("account_id", BIG, nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        *side,
        sa.Column("qty", MONEY, nullable=False),
        sa.Column("entry_price", MONEY, nullable=False),
        sa.Column("realized_pnl", MONEY, nullable=False),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("updated_at", apps.oms.store.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_paper_positions_account_id_accounts")),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_paper_positions")),
    )  # fmt: skip
    op.execute(f"INSERT INTO _paper_positions_new ({COLUMNS}) "  # noqa: S608 - fixed names
               f"SELECT {COLUMNS} FROM paper_positions")  # fmt: skip
    op.drop_table("paper_positions")
    op.rename_table("_paper_positions_new", "paper_positions")
