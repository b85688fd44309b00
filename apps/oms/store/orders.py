"""Order rows as the API sees them: insert at acceptance, lookups, cancel of a still-queued send."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store import direct
from apps.oms.store.many import insert_returning_ids
from apps.oms.store.tables import orders

ORDER_DEFAULTS: dict[str, Any] = {
    column.name: None for column in orders.columns
} | {
    "filled_qty": Decimal(0), "fee": Decimal(0), "strategy_id": 0, "position_id": 0, "reason": "api",
    "post_only": False, "reduce_only": False, "is_open": True, "outcome_unknown": False,
    "reconciled": True, "edit_replace_state": "none",
}  # fmt: skip


def inserted_row(order_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """The row as stored after `insert_order(values)` (column defaults applied), without a read."""
    return {**ORDER_DEFAULTS, **values, "id": order_id}


INSERT = insert(orders)


async def insert_order(conn: AsyncConnection, values: dict[str, Any]) -> int:
    return await direct.insert_row(conn, INSERT, values)


async def insert_orders(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert order rows, ids in row order, in one statement where the dialect can
    (`many.insert_returning_ids`). Rows of one statement need the same keys: when they differ
    (a close's order sets fewer columns than a send's), each gets the others' missing columns
    at their defaults, as the store would have set them."""
    keys = {key for row in rows for key in row}
    if any(len(row) != len(keys) for row in rows):
        rows = [{**{k: ORDER_DEFAULTS[k] for k in keys}, **row} for row in rows]
    return await insert_returning_ids(conn, orders, rows)


async def get_order(
    conn: AsyncConnection, order_id: int, *, for_update: bool = False
) -> dict[str, Any] | None:
    query = select(orders).where(orders.c.id == order_id)
    if for_update and conn.dialect.name == "mysql":
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def find_by_client_order_id(
    conn: AsyncConnection, client_order_id: str
) -> dict[str, Any] | None:
    row = (
        (await conn.execute(select(orders).where(orders.c.client_order_id == client_order_id)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def mark_canceled_before_send(conn: AsyncConnection, order_id: int, now: datetime) -> None:
    await conn.execute(
        update(orders)
        .where(orders.c.id == order_id, orders.c.status == "PENDING_SUBMIT")
        .values(status="CANCELED", is_open=False, closed_at=now, updated_at=now)
    )

