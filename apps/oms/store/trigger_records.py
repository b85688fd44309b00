"""The rows a fired stop-loss / take-profit writes (`service/execution/triggers.py`): its
queued close command (unique per trigger: a second firing finds it and writes nothing) and
the close order it reserves."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.enums import OrderStatus
from apps.oms.store.tables import commands, orders


async def trigger_orders_so_far(conn: AsyncConnection, position_id: int, reason: str) -> int:
    """How many orders the position's trigger of this kind (`reason`) has made so far."""
    query = select(func.count()).select_from(orders).where(
        orders.c.position_id == position_id, orders.c.reason == reason)  # fmt: skip
    return int((await conn.execute(query)).scalar_one())


async def queue_close(
    conn: AsyncConnection, account_id: int, request_id: str, content_hash: str,
    payload: dict[str, Any], now: datetime,
) -> int | None:  # fmt: skip
    """The queued `close_position` command of a trigger; None if that trigger's request id was
    queued already (its unique key: a savepoint, so the transaction goes on)."""
    try:
        async with conn.begin_nested():
            inserted = await conn.execute(insert(commands).values(
                account_id=account_id, command_type="close_position", request_id=request_id,
                content_hash=content_hash, payload=payload, status="queued", attempts=0,
                created_at=now, updated_at=now))  # fmt: skip
    except IntegrityError:
        return None
    return int(inserted.inserted_primary_key[0])  # type: ignore[index]


async def add_close_order(
    conn: AsyncConnection, *, account_id: int, command_id: int, client_order_id: str,
    symbol: str, side: str, qty: Decimal, strategy_id: int, position_id: int, reason: str,
    now: datetime,
) -> int:  # fmt: skip
    """The trigger's reduce-only market order (pending submit), linked to its command."""
    result = await conn.execute(insert(orders).values(
        account_id=account_id, command_id=command_id, client_order_id=client_order_id,
        symbol=symbol, side=side, order_type="market", qty=qty, reduce_only=True,
        status=OrderStatus.PENDING_SUBMIT.value, is_open=True, strategy_id=strategy_id,
        position_id=position_id, reason=reason, created_at=now, updated_at=now))  # fmt: skip
    order_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    await conn.execute(update(commands).where(commands.c.id == command_id)
                       .values(order_id=order_id))  # fmt: skip
    return order_id
