"""Held orders (`held_orders`): the armed state of the orders the gateway holds, and the rows a
firing writes (the child's queued command, unique per parent, and its order) in the firing's
transaction (`service/execution/held.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.enums import OrderStatus
from apps.oms.domain.held_orders import HeldState
from apps.oms.store.tables import commands, held_orders, orders

HeldRow = dict[str, Any]
LIVE = (HeldState.ARMED.value, HeldState.FIRING.value, HeldState.FIRED.value)


async def arm(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """Insert the armed row of an order; False if that order was armed already (its unique
    key: a savepoint, so the transaction goes on)."""
    try:
        async with conn.begin_nested():
            await conn.execute(insert(held_orders).values(**values))
    except IntegrityError:
        return False
    return True


async def live_of(conn: AsyncConnection, account_id: int) -> list[HeldRow]:
    """The account's armed and fired held orders, oldest first."""
    query = select(held_orders).where(held_orders.c.account_id == account_id,
                                      held_orders.c.state.in_(LIVE)).order_by(held_orders.c.id)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def of_order(conn: AsyncConnection, order_id: int, *, lock: bool = False
                   ) -> HeldRow | None:  # fmt: skip
    """The held row of a parent order (None: the order is not held), locked with `lock`."""
    query = select(held_orders).where(held_orders.c.order_id == order_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else dict(row)


async def change(conn: AsyncConnection, held_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(held_orders).where(held_orders.c.id == held_id).values(**values))


async def queue_child(
    conn: AsyncConnection, account_id: int, request_id: str, content_hash: str,
    payload: dict[str, Any], now: datetime,
) -> int | None:  # fmt: skip
    """The child's queued `send_order`; None if its request id was queued already (the
    parent fired before: nothing is written twice)."""
    try:
        async with conn.begin_nested():
            inserted = await conn.execute(insert(commands).values(
                account_id=account_id, command_type="send_order", request_id=request_id,
                content_hash=content_hash, payload=payload, status="queued", attempts=0,
                created_at=now, updated_at=now))  # fmt: skip
    except IntegrityError:
        return None
    return int(inserted.inserted_primary_key[0])  # type: ignore[index]


async def firings_so_far(conn: AsyncConnection, account_id: int, parent_order_id: int) -> int:
    """How many children the parent's firings queued (their request ids `held:{id}:fire…`)."""
    prefix = f"held:{parent_order_id}:fire"
    count = await conn.scalar(select(func.count()).select_from(commands).where(
        commands.c.account_id == account_id,
        (commands.c.request_id == prefix) | commands.c.request_id.like(f"{prefix}:%")))
    return int(count or 0)


async def link_command(conn: AsyncConnection, command_id: int, order_id: int) -> None:
    """The queued command names its order (written after it)."""
    await conn.execute(update(commands).where(commands.c.id == command_id)
                       .values(order_id=order_id))  # fmt: skip


async def add_child(conn: AsyncConnection, command_id: int, values: dict[str, Any]) -> int:
    """The child order (PENDING_SUBMIT), linked to its command."""
    result = await conn.execute(insert(orders).values(
        command_id=command_id, status=OrderStatus.PENDING_SUBMIT.value, is_open=True,
        **values))  # fmt: skip
    order_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    await conn.execute(update(commands).where(commands.c.id == command_id)
                       .values(order_id=order_id))  # fmt: skip
    return order_id
