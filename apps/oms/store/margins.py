"""What the margin fields of `/oms/portfolio` are read from: a paper account's leverages, and
the newest venue positions a reconciliation run stored for a CCXT account (`venue_payloads`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.tables import venue_payloads
from apps.paper.store.tables import paper_accounts

VP = venue_payloads.c


async def paper_leverages(conn: AsyncConnection, account_id: int) -> tuple[int, dict[str, int]]:
    """The paper account's leverage and its per-symbol overrides (`set_leverage`); `(0, {})`
    before the account's first venue call created its row."""
    row = (
        await conn.execute(
            select(paper_accounts.c.leverage, paper_accounts.c.leverages).where(
                paper_accounts.c.account_id == account_id
            )
        )
    ).first()
    if row is None:
        return 0, {}
    return int(row.leverage), {str(k): int(v) for k, v in (row.leverages or {}).items()}


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
