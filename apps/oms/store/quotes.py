"""Prices the store holds: the paper market's own (`paper_prices`, always current) and the
last quotes seen of real venues (`market_quotes`, with their time); and the paper wallets'
balances. Read by acceptance (a notional rule's reference price) and the portfolio."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.tables import market_quotes
from apps.paper.store.tables import paper_balances, paper_prices

P, Q = paper_prices.c, market_quotes.c


async def paper_last(conn: AsyncConnection, symbol: str) -> Decimal | None:
    row = (await conn.execute(select(P.last).where(P.symbol == symbol))).first()
    return None if row is None else Decimal(row[0])


async def paper_lasts(conn: AsyncConnection, symbols: Iterable[str]) -> dict[str, Decimal]:
    rows = await conn.execute(select(P.symbol, P.last).where(P.symbol.in_(sorted(symbols))))
    return {str(r[0]): Decimal(r[1]) for r in rows}


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


async def paper_wallet(conn: AsyncConnection, account_id: int) -> list[tuple[str, Decimal]]:
    """A paper account's balances (currency, total), by currency."""
    rows = await conn.execute(select(paper_balances.c.currency, paper_balances.c.total)
                              .where(paper_balances.c.account_id == account_id)
                              .order_by(paper_balances.c.currency))  # fmt: skip
    return [(str(r[0]), Decimal(r[1])) for r in rows]
