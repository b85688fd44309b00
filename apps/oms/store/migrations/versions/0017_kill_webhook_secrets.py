"""kill switch webhook: `kill_webhook_secrets`, one signing secret per API key and the newest
accepted call's timestamp (docs/identity-and-risk.md → Kill switch, signed webhook).

Revision ID: 0017_kill_webhook_secrets
Revises: 0016_user_exposure_limits
Create Date: 2026-11-27 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types

revision = "0017_kill_webhook_secrets"
down_revision = "0016_user_exposure_limits"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "kill_webhook_secrets",
        sa.Column("api_key_id", BIG, autoincrement=False, nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("last_sent_at", apps.oms.store.types.UtcDateTime(), nullable=True),
        sa.Column("updated_at", apps.oms.store.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"],
                                name=op.f("fk_kill_webhook_secrets_api_key_id_api_keys")),
        sa.PrimaryKeyConstraint("api_key_id", name=op.f("pk_kill_webhook_secrets")),
    )


def downgrade() -> None:
    op.drop_table("kill_webhook_secrets")
