"""user exposure limits: `user_risk_limits`, a user's gross and net exposure limits across the
accounts their keys may trade (docs/identity-and-risk.md → Exposure across a user's accounts).

Revision ID: 0016_user_exposure_limits
Revises: 0015_loss_breakers
Create Date: 2026-11-27 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types

revision = "0016_user_exposure_limits"
down_revision = "0015_loss_breakers"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "user_risk_limits",
        sa.Column("user_id", BIG, autoincrement=False, nullable=False),
        sa.Column("max_gross_exposure", apps.oms.store.types.Money(precision=36, scale=18),
                  nullable=True),
        sa.Column("max_net_exposure", apps.oms.store.types.Money(precision=36, scale=18),
                  nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("updated_at", apps.oms.store.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_user_risk_limits_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_risk_limits")),
    )


def downgrade() -> None:
    op.drop_table("user_risk_limits")
