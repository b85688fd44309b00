"""Signals and signing secrets (SQL for the signal intake lives only here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.signal_tables import account_signal_secrets, signals


async def insert_signal(conn: AsyncConnection, values: dict[str, Any]) -> int:
    result = await conn.execute(insert(signals).values(**values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def find_signal(
    conn: AsyncConnection, account_id: int, signal_id: str
) -> dict[str, Any] | None:
    row = (
        (
            await conn.execute(
                select(signals).where(
                    signals.c.account_id == account_id, signals.c.signal_id == signal_id
                )
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def list_signals(
    conn: AsyncConnection,
    account_id: int,
    *,
    strategy_ids: frozenset[int] | None,
    status: str | None,
    before_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first; `strategy_ids` narrows to those strategies (restricted keys)."""
    query = select(signals).where(signals.c.account_id == account_id)
    if strategy_ids is not None:
        query = query.where(signals.c.strategy_id.in_(sorted(strategy_ids)))
    if status is not None:
        query = query.where(signals.c.status == status)
    if before_id is not None:
        query = query.where(signals.c.id < before_id)
    rows = await conn.execute(query.order_by(signals.c.id.desc()).limit(limit))
    return [dict(r) for r in rows.mappings()]


async def get_secret(conn: AsyncConnection, account_id: int) -> str | None:
    """The stored (normally `enc:v1:`) signing secret of the account."""
    row = (
        await conn.execute(
            select(account_signal_secrets.c.secret).where(
                account_signal_secrets.c.account_id == account_id
            )
        )
    ).first()
    return None if row is None else str(row[0])


async def put_secret(
    conn: AsyncConnection, account_id: int, stored: str | None, now: datetime
) -> bool:
    """Set (or with None remove) the prepared secret; returns whether one existed before."""
    where = account_signal_secrets.c.account_id == account_id
    if stored is None:
        return bool((await conn.execute(delete(account_signal_secrets).where(where))).rowcount)
    result = await conn.execute(
        update(account_signal_secrets).where(where).values(secret=stored, updated_at=now)
    )
    if result.rowcount:
        return True
    await conn.execute(
        insert(account_signal_secrets).values(account_id=account_id, secret=stored, updated_at=now)
    )
    return False


async def all_secrets(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(select(account_signal_secrets))
    return [dict(r) for r in rows.mappings()]
