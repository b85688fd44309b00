"""order groups: contingent groups the gateway holds (OCO legs, a bracket's entry and exits),
their state and members, and on `orders` the group an order belongs to (docs/orders.md →
Groups).

Revision ID: 0021_order_groups
Revises: 0020_request_budgets
Create Date: 2026-11-27 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types

revision = "0021_order_groups"
down_revision = "0020_request_budgets"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = apps.oms.store.types.UtcDateTime()


def _money() -> apps.oms.store.types.Money:
    return apps.oms.store.types.Money(precision=36, scale=18)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("group_id", BIG, nullable=True))
    op.create_table(
        "order_groups",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("account_id", BIG, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("strategy_id", BIG, server_default="0", nullable=False),
        sa.Column("parent_order_id", BIG, nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("alerted", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_order_groups_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_groups")),
    )
    op.create_index(op.f("ix_order_groups_account_id_state"), "order_groups",
                    ["account_id", "state"], unique=False)
    op.create_table(
        "order_group_members",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("group_id", BIG, nullable=False),
        sa.Column("order_id", BIG, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["order_groups.id"],
                                name=op.f("fk_order_group_members_group_id_order_groups")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"],
                                name=op.f("fk_order_group_members_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_group_members")),
        sa.UniqueConstraint("group_id", "role", name=op.f("uq_order_group_members_group_id_role")),
        sa.UniqueConstraint("order_id", name=op.f("uq_order_group_members_order_id")),
    )


def downgrade() -> None:
    op.drop_table("order_group_members")
    op.drop_index(op.f("ix_order_groups_account_id_state"), table_name="order_groups")
    op.drop_table("order_groups")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("group_id")
