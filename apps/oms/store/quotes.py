"""The last quotes the store holds of real venues (`market_quotes`, with their time). Read by
acceptance (a notional rule's reference price) and the portfolio; a venue whose prices are rows
of its own tables answers through `ports.StoredVenueState` instead."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.tables import market_quotes

Q = market_quotes.c


async def venue_quote(
    conn: AsyncConnection, venue: str, symbol: str
) -> tuple[Decimal, datetime] | None:
    """The venue's last quote of the symbol and when it was seen."""
    row = (await conn.execute(select(Q.last, Q.quoted_at).where(
        Q.venue == venue, Q.symbol == symbol))).first()  # fmt: skip
    return None if row is None or row[0] is None else (Decimal(row[0]), row[1])


async def venue_lasts(
    conn: AsyncConnection, venue: str, symbols: Iterable[str]
) -> dict[str, Decimal]:
    rows = await conn.execute(select(Q.symbol, Q.last).where(
        Q.venue == venue, Q.symbol.in_(sorted(symbols))))  # fmt: skip
    return {str(r[0]): Decimal(r[1]) for r in rows if r[1] is not None}
