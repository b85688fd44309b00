"""SQL of the CCXT gateway: an account's venue settings and credentials, and the stored raw venue
payloads behind `GET /ccxt/orders/raw` and `/ccxt/trades/raw`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.accounts import get_credentials
from apps.oms.store.order_records import TRADE_REF
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
    found = [dict(r) for r in rows.mappings()]
    if kind == "order":
        await with_trades(conn, found)
    return found, total


async def order_payload(conn: AsyncConnection, order_id: int) -> dict[str, Any] | None:
    """The latest stored CCXT order structure of an OMS order (by its exchange order id)."""
    from apps.oms.store.tables import orders

    row = (
        await conn.execute(
            select(VP.account_id, VP.payload)
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
    if row is None:
        return None
    (found,) = await with_trades(conn, [{"account_id": row.account_id, "payload": row.payload}])
    return dict(found["payload"])


async def with_trades(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put back, in place, the trades that `order` payload rows (`account_id`, `payload`) hold
    by reference to their own `trade` rows (`order_records.TRADE_REF`): one read for all."""
    wanted: set[tuple[int, str]] = set()
    for row in rows:
        for trade in _trades(row["payload"]):
            if isinstance(trade, dict) and isinstance(trade.get(TRADE_REF), str):
                wanted.add((int(row["account_id"]), trade[TRADE_REF]))
    if not wanted:
        return rows
    found = {
        (int(r.account_id), str(r.content_hash)): r.payload
        for r in await conn.execute(
            select(VP.account_id, VP.content_hash, VP.payload).where(
                VP.account_id.in_(sorted({a for a, _ in wanted})),
                VP.content_hash.in_(sorted({h for _, h in wanted})),
            )
        )
    }
    for row in rows:
        trades = _trades(row["payload"])
        if any(isinstance(t, dict) and TRADE_REF in t for t in trades):
            account_id = int(row["account_id"])
            row["payload"] = {**row["payload"], "trades": [
                found.get((account_id, t[TRADE_REF]), t)
                if isinstance(t, dict) and isinstance(t.get(TRADE_REF), str) else t
                for t in trades]}  # fmt: skip
    return rows


def _trades(payload: Any) -> list[Any]:
    trades = payload.get("trades") if isinstance(payload, dict) else None
    return trades if isinstance(trades, list) else []
