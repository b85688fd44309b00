"""SQL of reassign: the selected orders, their deals, the positions they touch, and the writes
of the move (deals re-homed and re-priced, orders re-attributed)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.positions import Deal, Position
from apps.oms.store.leases import lock
from apps.oms.store.positions import deal_from_row, position_from_row
from apps.oms.store.tables import deals, orders, positions, strategy_accounts

OC = orders.c
D = deals.c
P = positions.c


async def select_orders(
    conn: AsyncConnection,
    order_ids: list[int],
    *,
    account_ids: list[int] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    reconciled: bool | None = None,
    statuses: list[str] | None = None,
    for_update: bool = False,
) -> list[dict[str, Any]]:
    query = select(orders).where(OC.id.in_(sorted(set(order_ids))))
    if account_ids is not None:
        query = query.where(OC.account_id.in_(account_ids))
    if start is not None:
        query = query.where(OC.created_at >= start)
    if end is not None:
        query = query.where(OC.created_at <= end)
    if reconciled is not None:
        query = query.where(OC.reconciled.is_(reconciled))
    if statuses:
        query = query.where(OC.status.in_(statuses))
    query = query.order_by(OC.id)
    if for_update:
        query = lock(query, conn.dialect.name)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def deals_of_orders(conn: AsyncConnection, order_ids: Iterable[int]) -> list[Deal]:
    ids = sorted(set(order_ids))
    if not ids:
        return []
    rows = await conn.execute(select(deals).where(D.order_id.in_(ids)).order_by(D.id))
    return [deal_from_row(dict(r)) for r in rows.mappings()]


async def deals_of_positions(conn: AsyncConnection, position_ids: Iterable[int]) -> list[Deal]:
    ids = sorted(set(position_ids))
    if not ids:
        return []
    rows = await conn.execute(select(deals).where(D.position_id.in_(ids)).order_by(D.id))
    return [deal_from_row(dict(r)) for r in rows.mappings()]


async def positions_by_id(
    conn: AsyncConnection, position_ids: Iterable[int], *, for_update: bool = False
) -> dict[int, Position]:
    ids = sorted({p for p in position_ids if p > 0})
    if not ids:
        return {}
    query = select(positions).where(P.id.in_(ids))
    if for_update:
        query = lock(query, conn.dialect.name)
    rows = (await conn.execute(query)).mappings()
    return {int(r["id"]): position_from_row(dict(r)) for r in rows}


async def open_positions(
    conn: AsyncConnection, account_id: int, symbols: Iterable[str]
) -> list[Position]:
    wanted = sorted(set(symbols))
    if not wanted:
        return []
    query = select(positions).where(
        P.account_id == account_id, P.is_open.is_(True), P.symbol.in_(wanted)
    )
    rows = (await conn.execute(lock(query.order_by(P.id), conn.dialect.name))).mappings()
    return [position_from_row(dict(r)) for r in rows]


async def write_deal(conn: AsyncConnection, deal: Deal) -> None:
    await conn.execute(
        update(deals)
        .where(D.id == deal.deal_id)
        .values(
            position_id=deal.position_id,
            strategy_id=deal.strategy_id,
            reason=deal.reason,
            reconciled=deal.reconciled,
            entry=deal.entry.value,
            pnl=deal.pnl,
        )
    )


async def write_order(conn: AsyncConnection, order_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(orders).where(OC.id == order_id).values(**values))


async def strategy_linked(conn: AsyncConnection, account_id: int, strategy_id: int) -> bool:
    c = strategy_accounts.c
    row = (
        await conn.execute(
            select(c.strategy_id).where(c.account_id == account_id, c.strategy_id == strategy_id)
        )
    ).first()
    return row is not None
