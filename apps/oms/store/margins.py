"""What the margin fields of `/oms/portfolio` are read from for a CCXT account: the newest venue
positions a reconciliation run stored (`venue_payloads`); a venue whose leverages are rows of
its own tables answers through `ports.StoredVenueState` instead."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.tables import venue_payloads

VP = venue_payloads.c


async def venue_positions(
    conn: AsyncConnection, account_id: int, symbols: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The newest stored venue position (a CCXT structure) of each symbol, where one exists:
    one query per symbol, newest first along the `(account_id, kind, created_at)` index."""
    newest: dict[str, dict[str, Any]] = {}
    for symbol in sorted(set(symbols)):
        query = (
            select(VP.payload)
            .where(VP.account_id == account_id, VP.kind == "position",
                   VP.exchange_object_id == symbol)
            .order_by(VP.created_at.desc(), VP.id.desc())
            .limit(1)
        )  # fmt: skip
        payload = (await conn.execute(query)).scalar()
        if isinstance(payload, dict):
            newest[symbol] = payload
    return newest
