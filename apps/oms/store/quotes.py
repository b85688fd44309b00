"""The last quotes the store holds of real venues (`market_quotes`, with their time). Read by
acceptance (a notional rule's reference price) and the portfolio; a venue whose prices are rows
of its own tables answers through `ports.StoredVenueState` instead."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.tables import market_quotes

Q = market_quotes.c


async def venue_quote(
    conn: AsyncConnection, venue: str, symbol: str
) -> tuple[Decimal, datetime] | None:
    """The venue's last quote of the symbol and when it was seen: its last price, else the
    middle of its bid and ask (a quote seen in an order book has no last price)."""
    row = (await conn.execute(select(Q.last, Q.bid, Q.ask, Q.quoted_at).where(
        Q.venue == venue, Q.symbol == symbol))).first()  # fmt: skip
    if row is None:
        return None
    quoted_at: datetime = row.quoted_at
    if row.last is not None:
        return Decimal(row.last), quoted_at
    if row.bid is None or row.ask is None:
        return None
    return (Decimal(row.bid) + Decimal(row.ask)) / 2, quoted_at


async def record_quote(
    conn: AsyncConnection, venue: str, symbol: str, bid: Decimal | None, ask: Decimal | None,
    last: Decimal | None, quoted_at: datetime,
) -> None:  # fmt: skip
    """The venue's quote of the symbol as just seen (one row per venue and symbol)."""
    values = {"bid": bid, "ask": ask, "last": last, "quoted_at": quoted_at}
    updated = await conn.execute(update(market_quotes).where(
        Q.venue == venue, Q.symbol == symbol).values(**values))  # fmt: skip
    if updated.rowcount == 0:
        await conn.execute(insert(market_quotes).values(venue=venue, symbol=symbol, **values))


async def venue_lasts(
    conn: AsyncConnection, venue: str, symbols: Iterable[str]
) -> dict[str, Decimal]:
    rows = await conn.execute(select(Q.symbol, Q.last).where(
        Q.venue == venue, Q.symbol.in_(sorted(symbols))))  # fmt: skip
    return {str(r[0]): Decimal(r[1]) for r in rows if r[1] is not None}
