"""Worker-side order writes: order rows, their venue orders (exchange and client ids), and raw
venue payloads (append-only, deduplicated by content hash).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.money import to_plain
from apps.oms.store.leases import lock
from apps.oms.store.tables import order_venue_orders, orders, venue_payloads

OC = orders.c
V = order_venue_orders.c


def plain_json(value: Any) -> Any:
    """A JSON-ready copy: Decimals as plain strings (never floats), tuples as lists."""
    if isinstance(value, Decimal):
        return to_plain(value)
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    return value


async def get_order(conn: AsyncConnection, order_id: int) -> dict[str, Any] | None:
    query = lock(select(orders).where(OC.id == order_id), conn.dialect.name)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def require_order(conn: AsyncConnection, order_id: int) -> dict[str, Any]:
    """The locked order row; `LookupError` if it vanished (never expected)."""
    row = await get_order(conn, order_id)
    if row is None:
        raise LookupError(f"order {order_id} not found")
    return row


async def update_order(
    conn: AsyncConnection, row: dict[str, Any], values: dict[str, Any]
) -> dict[str, Any]:
    """Write `values` to the (locked) order `row` and return the row as now stored, for the
    event payload, without reading it back."""
    await conn.execute(update(orders).where(OC.id == row["id"]).values(**values))
    return {**row, **values}


async def open_orders(
    conn: AsyncConnection,
    account_id: int,
    *,
    symbol: str | None = None,
    strategy_ids: list[int] | None = None,
    position_id: int | None = None,
) -> list[dict[str, Any]]:
    query = select(orders).where(OC.account_id == account_id, OC.is_open.is_(True))
    if symbol is not None:
        query = query.where(OC.symbol == symbol)
    if strategy_ids is not None:
        query = query.where(OC.strategy_id.in_(strategy_ids))
    if position_id is not None:
        query = query.where(OC.position_id == position_id)
    return [dict(r) for r in (await conn.execute(query.order_by(OC.id))).mappings()]


async def add_venue_order(
    conn: AsyncConnection,
    *,
    order_id: int,
    account_id: int,
    client_order_id: str,
    now: datetime,
) -> None:
    """Record the venue order we are about to send (idempotent on its client order id)."""
    exists = (await conn.execute(select(V.id).where(V.client_order_id == client_order_id))).first()
    if exists is None:
        await conn.execute(
            insert(order_venue_orders).values(
                order_id=order_id,
                account_id=account_id,
                client_order_id=client_order_id,
                created_at=now,
            )
        )


async def venue_order_started(conn: AsyncConnection, client_order_id: str) -> datetime | None:
    """When the venue order with this client id was first sent (start of the lookup window)."""
    row = (
        await conn.execute(select(V.created_at).where(V.client_order_id == client_order_id))
    ).first()
    return None if row is None else row[0]


async def set_exchange_id(
    conn: AsyncConnection, client_order_id: str, exchange_order_id: str
) -> None:
    await conn.execute(
        update(order_venue_orders)
        .where(V.client_order_id == client_order_id)
        .values(exchange_order_id=exchange_order_id)
    )


async def order_for_exchange_id(
    conn: AsyncConnection, account_id: int, exchange_order_id: str
) -> int | None:
    row = (
        await conn.execute(
            select(V.order_id).where(
                V.account_id == account_id, V.exchange_order_id == exchange_order_id
            )
        )
    ).first()
    return None if row is None else int(row[0])


async def venue_orders_of(conn: AsyncConnection, order_id: int) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(select(order_venue_orders).where(V.order_id == order_id).order_by(V.id))
    ).mappings()
    return [dict(r) for r in rows]


async def store_payload(
    conn: AsyncConnection,
    *,
    account_id: int,
    kind: str,
    exchange_id: str,
    object_id: str | None,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Append a raw venue payload unless the same content is stored already."""
    body = plain_json(payload)
    digest = hashlib.sha256(
        json.dumps([kind, body], sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    # one statement: the unique (account_id, content_hash) key turns a repeat into a no-op
    await conn.execute(
        insert(venue_payloads)
        .prefix_with("IGNORE", dialect="mysql")
        .prefix_with("OR IGNORE", dialect="sqlite")
        .values(
            account_id=account_id,
            kind=kind,
            content_hash=digest,
            exchange_id=exchange_id,
            exchange_object_id=object_id,
            payload=body,
            created_at=now,
        )
    )
