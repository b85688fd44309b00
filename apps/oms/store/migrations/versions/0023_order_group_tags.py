"""orders.group_kind and orders.group_role: a group member's kind and role on the order itself,
so every order read and event carries them (docs/orders.md → Groups); filled in for the members
linked before.

Revision ID: 0023_order_group_tags
Revises: 0022_request_budget_holders
Create Date: 2026-11-28 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_order_group_tags"
down_revision = "0022_request_budget_holders"
branch_labels = None
depends_on = None


# the members linked before: their group's kind and their role (SQLite, MariaDB and MySQL)
FILL = (
    "UPDATE orders SET"
    " group_kind = (SELECT g.kind FROM order_groups g WHERE g.id = orders.group_id),"
    " group_role = (SELECT m.role FROM order_group_members m WHERE m.order_id = orders.id)"
    " WHERE group_id IS NOT NULL"
)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("group_kind", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("group_role", sa.String(length=16), nullable=True))
    op.execute(FILL)


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("group_role")
        batch.drop_column("group_kind")
