"""Strategy allocations (one row per strategy and account) and the rows a strategy's balance is
computed from: its open orders, open positions and the sums of its deals."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store import direct
from apps.oms.store.tables import deals, orders, positions, strategy_allocations

T = strategy_allocations
# read by every acceptance batch of an account: constants, sent directly (`store/direct.py`);
# built per call through SQLAlchemy's execution they were about a tenth of the API's CPU
ALLOCATIONS = select(T).where(T.c.account_id == bindparam("b_account"))
ALLOCATION_LOCKED = select(T).where(
    T.c.account_id == bindparam("b_account"), T.c.strategy_id == bindparam("b_strategy")
).with_for_update()


async def allocations_of(
    conn: AsyncConnection, account_id: int, *, lock_strategy: int | None = None
) -> dict[int, dict[str, Any]]:
    """The account's allocations by strategy. `lock_strategy`: that strategy's row only, locked
    for the transaction (acceptances of one strategy's orders serialise on it)."""
    if lock_strategy is None:
        rows = await direct.fetch(conn, ALLOCATIONS, {"b_account": account_id})
    else:
        rows = await direct.fetch(conn, ALLOCATION_LOCKED,
                                  {"b_account": account_id, "b_strategy": lock_strategy})
    return {int(r["strategy_id"]): r for r in rows}


async def put_allocation(
    conn: AsyncConnection,
    *,
    account_id: int,
    strategy_id: int,
    currency: str,
    amount: Decimal,
    comment: str,
    user_id: int | None,
    now: datetime,
) -> None:
    """Insert or replace the allocation (the caller holds the row's lock or its absence)."""
    values = {"currency": currency, "amount": amount, "comment": comment,
              "updated_by_user_id": user_id, "updated_at": now}  # fmt: skip
    done = await conn.execute(
        update(T).where(T.c.account_id == account_id, T.c.strategy_id == strategy_id).values(values)
    )
    if done.rowcount == 0:
        await conn.execute(insert(T).values(account_id=account_id, strategy_id=strategy_id, **values))


async def delete_allocation(conn: AsyncConnection, account_id: int, strategy_id: int) -> bool:
    done = await conn.execute(
        delete(T).where(T.c.account_id == account_id, T.c.strategy_id == strategy_id)
    )
    return bool(done.rowcount)


async def open_orders_of(
    conn: AsyncConnection, account_id: int, strategy_ids: Iterable[int]
) -> list[dict[str, Any]]:
    o = orders.c
    query = select(
        o.symbol, o.side, o.order_type, o.qty, o.filled_qty, o.price, o.trigger_price,
        o.stop_price, o.reduce_only,
    ).where(o.account_id == account_id, o.is_open.is_(True), o.strategy_id.in_(list(strategy_ids)))  # fmt: skip
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def open_positions_of(
    conn: AsyncConnection, account_id: int, strategy_ids: Iterable[int]
) -> list[dict[str, Any]]:
    p = positions.c
    query = select(p.symbol, p.side, p.qty, p.avg_price, p.contract_size).where(
        p.account_id == account_id, p.is_open.is_(True), p.strategy_id.in_(list(strategy_ids))
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def deal_sums(
    conn: AsyncConnection, account_id: int, strategy_ids: Iterable[int]
) -> list[tuple[str, str | None, Decimal, Decimal]]:
    """(symbol, fee currency, Σ pnl, Σ fee) of the strategies' deals, funding deals included;
    summed in Python (SQLite stores money as TEXT)."""
    d = deals.c
    query = select(d.symbol, d.fee_currency, d.pnl, d.fee).where(
        d.account_id == account_id, d.strategy_id.in_(list(strategy_ids))
    )
    sums: dict[tuple[str, str | None], tuple[Decimal, Decimal]] = {}
    for row in await conn.execute(query):
        symbol, fee_currency, pnl, fee = row[0], row[1], row[2], row[3]
        pnl_sum, fee_sum = sums.get((symbol, fee_currency), (Decimal(0), Decimal(0)))
        sums[(symbol, fee_currency)] = (pnl_sum + pnl, fee_sum + fee)
    return [(s, c, pnl, fee) for (s, c), (pnl, fee) in sums.items()]


async def funding_deals(
    conn: AsyncConnection, account_id: int, strategy_ids: Iterable[int], symbol: str | None
) -> list[tuple[int, str, Decimal, datetime, str | None]]:
    """(deal id, symbol, payment, executed at, exchange trade id) of the strategies' funding
    deals, oldest first."""
    d = deals.c
    query = select(d.id, d.symbol, d.pnl, d.executed_at, d.exchange_trade_id).where(
        d.account_id == account_id, d.strategy_id.in_(list(strategy_ids)), d.reason == "funding"
    )
    if symbol is not None:
        query = query.where(d.symbol == symbol)
    rows = await conn.execute(query.order_by(d.executed_at, d.id))
    return [(int(r[0]), str(r[1]), r[2], r[3], r[4]) for r in rows]

