"""Worker-side book writes: load an account book for the allocation core, persist the deals and
positions it produced (real ids from auto-increment), and the dedupe keys of booked trades.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.book import AccountBook
from apps.oms.domain.enums import PositionMode
from apps.oms.domain.positions import Deal, Position
from apps.oms.store import direct
from apps.oms.store.leases import lock
from apps.oms.store.many import insert_returning_ids, update_by_id_later
from apps.oms.store.positions import (
    deal_from_row,
    position_from_row,
    position_values,
)
from apps.oms.store.tables import deals, positions

P = positions.c
D = deals.c
UPDATE_POSITION = update(positions).where(P.id == bindparam("b_id"))
INSERT_POSITION = insert(positions)
WITH_TARGETS = select(positions).where(
    P.account_id == bindparam("b_account"), P.is_open.is_(True),
    or_(P.stop_loss.is_not(None), P.stop_gain.is_not(None)))  # fmt: skip


async def load_book(
    conn: AsyncConnection,
    account_id: int,
    mode: PositionMode,
    symbol: str,
    position_ids: Iterable[int] = (),
    trade_ids: Iterable[str] = (),
    *,
    all_open: bool = True,
) -> AccountBook:
    """The named positions plus, with `all_open` (see `consults_open_positions`), every open
    position of `symbol` (locked on MySQL); and which of `trade_ids` are booked already."""
    wanted = [p for p in position_ids if p > 0]
    book_positions: dict[int, Position] = {}
    if all_open or wanted:
        scope: Any = P.id.in_(wanted)
        if all_open:
            scope = (P.is_open.is_(True)) & (P.symbol == symbol)
            if wanted:
                scope = or_(scope, P.id.in_(wanted))
        query = lock(select(positions).where(P.account_id == account_id, scope), conn.dialect.name)
        rows = (await conn.execute(query.order_by(P.id))).mappings()
        book_positions = {int(r["id"]): position_from_row(dict(r)) for r in rows}
    return AccountBook(
        account_id, mode, book_positions, await booked_keys(conn, account_id, trade_ids)
    )


async def booked_keys(
    conn: AsyncConnection, account_id: int, trade_ids: Iterable[str]
) -> frozenset[tuple[str, int]]:
    ids = sorted(set(trade_ids))
    if not ids:
        return frozenset()
    rows = await conn.execute(
        select(D.exchange_trade_id, D.leg).where(
            D.account_id == account_id, D.exchange_trade_id.in_(ids)
        )
    )
    return frozenset((str(r.exchange_trade_id), int(r.leg)) for r in rows)


async def has_trade_id_prefix(conn: AsyncConnection, account_id: int, prefix: str) -> bool:
    """Whether a deal of the account has an `exchange_trade_id` starting with `prefix`."""
    query = (
        select(D.id)
        .where(D.account_id == account_id, D.exchange_trade_id.startswith(prefix, autoescape=True))
        .limit(1)
    )
    return (await conn.execute(query)).first() is not None


async def insert_position(conn: AsyncConnection, position: Position) -> int:
    return await direct.insert_row(conn, INSERT_POSITION, position_values(position))


async def insert_positions(conn: AsyncConnection, new: list[Position]) -> list[int]:
    """Insert new positions, ids in list order (`many.insert_returning_ids`)."""
    return await insert_returning_ids(conn, positions, [position_values(p) for p in new])


async def update_position(conn: AsyncConnection, position: Position) -> None:
    # the SET list comes from the parameter names: no statement is built per call
    await direct.execute(conn, UPDATE_POSITION,
                         {**position_values(position), "b_id": position.position_id})  # fmt: skip


async def update_positions(conn: AsyncConnection, changed: dict[int, Position]) -> None:
    """Several (locked) positions' updates (id -> position as it is now) in one statement."""
    if len(changed) == 1:  # held back to the next statement or the commit (`direct.later`)
        (position,) = changed.values()
        await direct.later(conn, UPDATE_POSITION,
                           {**position_values(position), "b_id": position.position_id})  # fmt: skip
    elif changed:
        await update_by_id_later(conn, positions,
                                 {pid: position_values(p) for pid, p in changed.items()})  # fmt: skip


async def insert_deals(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert deal rows (`deal_values`) and return their ids in row order
    (`many.insert_returning_ids`)."""
    return await insert_returning_ids(conn, deals, rows)


async def get_position_row(conn: AsyncConnection, position_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(select(positions).where(P.id == position_id))).mappings().first()
    return dict(row) if row else None


async def require_position_row(conn: AsyncConnection, position_id: int) -> dict[str, Any]:
    row = await get_position_row(conn, position_id)
    if row is None:
        raise LookupError(f"position {position_id} not found")
    return row


async def positions_with_targets(conn: AsyncConnection, account_id: int) -> list[Position]:
    """Open positions carrying a stop-loss or take-profit (what the trigger check watches)."""
    rows = await direct.fetch(conn, WITH_TARGETS, {"b_account": account_id})
    return [position_from_row(r) for r in rows]


async def deals_of_account(conn: AsyncConnection, account_id: int) -> list[Deal]:
    """Every deal in booking order (for rebuild checks)."""
    rows = (
        await conn.execute(select(deals).where(D.account_id == account_id).order_by(D.id))
    ).mappings()
    return [deal_from_row(dict(r)) for r in rows]
