"""paper venue: accounts, balances, positions, orders, fills and shared prices

Tables defined in apps/paper/store/tables.py.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:17:40.948454
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import apps.oms.store.types


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('paper_prices',
    sa.Column('symbol', sa.String(length=64), nullable=False),
    sa.Column('last', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('bid', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('ask', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('updated_at', apps.oms.store.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('symbol', name=op.f('pk_paper_prices'))
    )
    op.create_table('paper_accounts',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('next_seq', sa.BigInteger(), nullable=False),
    sa.Column('fault_seq', sa.BigInteger(), nullable=False),
    sa.Column('leverage', sa.Integer(), nullable=False),
    sa.Column('created_at', apps.oms.store.types.UtcDateTime(), nullable=False),
    sa.Column('updated_at', apps.oms.store.types.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_paper_accounts_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_paper_accounts'))
    )
    op.create_table('paper_balances',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('currency', sa.String(length=32), nullable=False),
    sa.Column('total', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_paper_balances_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'currency', name=op.f('pk_paper_balances'))
    )
    op.create_table('paper_fills',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('trade_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('client_order_id', sa.String(length=64), nullable=True),
    sa.Column('symbol', sa.String(length=64), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('price', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('qty', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('cost', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('fee', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('fee_currency', sa.String(length=32), nullable=False),
    sa.Column('taker_or_maker', sa.String(length=8), nullable=False),
    sa.Column('executed_at', apps.oms.store.types.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_paper_fills_account_id_accounts')),
    sa.PrimaryKeyConstraint('trade_id', name=op.f('pk_paper_fills'))
    )
    with op.batch_alter_table('paper_fills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_fills_account_id_executed_at'), ['account_id', 'executed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_paper_fills_account_id_seq'), ['account_id', 'seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_paper_fills_order_id'), ['order_id'], unique=False)

    op.create_table('paper_orders',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('client_order_id', sa.String(length=64), nullable=True),
    sa.Column('symbol', sa.String(length=64), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('time_in_force', sa.String(length=8), nullable=False),
    sa.Column('post_only', sa.Boolean(), nullable=False),
    sa.Column('reduce_only', sa.Boolean(), nullable=False),
    sa.Column('qty', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('price', apps.oms.store.types.Money(precision=36, scale=18), nullable=True),
    sa.Column('trigger_price', apps.oms.store.types.Money(precision=36, scale=18), nullable=True),
    sa.Column('trigger_direction', sa.String(length=8), nullable=True),
    sa.Column('triggered', sa.Boolean(), nullable=False),
    sa.Column('filled', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('cost', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('fee', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('fee_currency', sa.String(length=32), nullable=False),
    sa.Column('reserved', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('reserve_currency', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('price_seq', sa.BigInteger(), nullable=False),
    sa.Column('created_at', apps.oms.store.types.UtcDateTime(), nullable=False),
    sa.Column('updated_at', apps.oms.store.types.UtcDateTime(), nullable=False),
    sa.Column('last_trade_at', apps.oms.store.types.UtcDateTime(), nullable=True),
    sa.Column('fill_after', apps.oms.store.types.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_paper_orders_account_id_accounts')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_paper_orders'))
    )
    with op.batch_alter_table('paper_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_orders_account_id_client_order_id'), ['account_id', 'client_order_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_paper_orders_account_id_status_seq'), ['account_id', 'status', 'seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_paper_orders_account_id_updated_at'), ['account_id', 'updated_at'], unique=False)

    op.create_table('paper_positions',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('symbol', sa.String(length=64), nullable=False),
    sa.Column('qty', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('entry_price', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('realized_pnl', apps.oms.store.types.Money(precision=36, scale=18), nullable=False),
    sa.Column('leverage', sa.Integer(), nullable=False),
    sa.Column('updated_at', apps.oms.store.types.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_paper_positions_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'symbol', name=op.f('pk_paper_positions'))
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; dropping them first fails on MySQL, where the account
    # foreign key needs one of them.
    for table in (
        "paper_positions", "paper_orders", "paper_fills", "paper_balances", "paper_accounts",
        "paper_prices",
    ):
        op.drop_table(table)
