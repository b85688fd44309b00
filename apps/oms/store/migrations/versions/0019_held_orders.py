"""held orders: conditional orders the gateway holds when the venue lacks them (trailing stops,
stops, if-touched orders, good-till-date), their armed state in `held_orders` and, on `orders`,
who executes each order's conditional part, a child's parent and the new order fields
(docs/orders.md).

Revision ID: 0019_held_orders
Revises: 0018_paper_position_modes
Create Date: 2026-11-27 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types

revision = "0019_held_orders"
down_revision = "0018_paper_position_modes"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = apps.oms.store.types.UtcDateTime()


def _money() -> apps.oms.store.types.Money:
    return apps.oms.store.types.Money(precision=36, scale=18)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("trailing_trigger_price", _money(), nullable=True))
        batch.add_column(sa.Column("trigger_price_type", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("expire_at", UTC, nullable=True))
        batch.add_column(sa.Column("emulation", sa.String(length=8), nullable=False,
                                   server_default="venue"))
        batch.add_column(sa.Column("parent_order_id", BIG, nullable=True))
    op.create_table(
        "held_orders",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("account_id", BIG, nullable=False),
        sa.Column("order_id", BIG, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("trigger_price", _money(), nullable=True),
        sa.Column("trailing_amount", _money(), nullable=True),
        sa.Column("trailing_percent", _money(), nullable=True),
        sa.Column("activation_price", _money(), nullable=True),
        sa.Column("activated", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("price_type", sa.String(length=8), server_default="last", nullable=False),
        sa.Column("expire_at", UTC, nullable=True),
        sa.Column("child_order_id", BIG, nullable=True),
        sa.Column("group_id", BIG, nullable=True),
        sa.Column("fired_at", UTC, nullable=True),
        sa.Column("fired_price", _money(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_held_orders_account_id_accounts")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"],
                                name=op.f("fk_held_orders_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_held_orders_order_id")),
    )
    op.create_index(op.f("ix_held_orders_account_id_state"), "held_orders",
                    ["account_id", "state"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_held_orders_account_id_state"), table_name="held_orders")
    op.drop_table("held_orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("parent_order_id")
        batch.drop_column("emulation")
        batch.drop_column("expire_at")
        batch.drop_column("trigger_price_type")
        batch.drop_column("trailing_trigger_price")
