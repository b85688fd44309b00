"""SQL of the CCXT gateway: an account's venue settings and credentials, and the stored raw venue
payloads behind `GET /ccxt/orders/raw` and `/ccxt/trades/raw`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.accounts import get_credentials
from apps.oms.store.tables import accounts, venue_payloads

VP = venue_payloads.c


async def venue_account(conn: AsyncConnection, account_id: int) -> dict[str, Any] | None:
    """`{id, exchange_id, is_testnet, is_live, status, config, credentials}` (encrypted as stored)."""
    row = (
        await conn.execute(
            select(
                accounts.c.id, accounts.c.exchange_id, accounts.c.is_testnet, accounts.c.is_live,
                accounts.c.status, accounts.c.config,
            ).where(accounts.c.id == account_id)
        )
    ).mappings().first()
    if row is None:
        return None
    found = dict(row)
    found["config"] = found["config"] if isinstance(found["config"], dict) else {}
    found["credentials"] = await get_credentials(conn, account_id)
    return found


async def raw_payloads(
    conn: AsyncConnection,
    *,
    account_ids: Sequence[int],
    kind: str,
    start: datetime | None,
    end: datetime | None,
    page: int,
    page_size: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page of stored payloads of `kind`, newest first, and the total."""
    where = [VP.account_id.in_(sorted(account_ids)), VP.kind == kind]
    if start is not None:
        where.append(VP.created_at >= start)
    if end is not None:
        where.append(VP.created_at < end)
    total = int((await conn.execute(select(func.count()).select_from(venue_payloads)
                                    .where(*where))).scalar_one())
    rows = await conn.execute(
        select(venue_payloads).where(*where)
        .order_by(VP.created_at.desc(), VP.id.desc())
        .limit(page_size).offset((page - 1) * page_size)
    )
    return [dict(r) for r in rows.mappings()], total


async def order_payload(conn: AsyncConnection, order_id: int) -> dict[str, Any] | None:
    """The latest stored CCXT order structure of an OMS order (by its exchange order id)."""
    from apps.oms.store.tables import orders

    row = (
        await conn.execute(
            select(VP.payload)
            .select_from(orders.join(
                venue_payloads,
                (VP.account_id == orders.c.account_id)
                & (VP.exchange_object_id == orders.c.exchange_order_id),
            ))
            .where(orders.c.id == order_id, VP.kind == "order")
            .order_by(VP.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else dict(row.payload)
