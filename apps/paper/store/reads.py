"""The paper venue's rows the books read in their own transaction (`ports.StoredVenueState`):
its prices (always current), an account's wallet and its leverages."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.paper.domain.state import DEFAULT_LEVERAGE
from apps.paper.store.tables import paper_accounts, paper_balances, paper_prices

P = paper_prices.c


class PaperStoreReads:
    """`StoredVenueState` of the paper venue (stateless: one for every process)."""

    default_leverage = DEFAULT_LEVERAGE

    async def last(self, conn: AsyncConnection, symbol: str) -> Decimal | None:
        row = (await conn.execute(select(P.last).where(P.symbol == symbol))).first()
        return None if row is None else Decimal(row[0])

    async def lasts(self, conn: AsyncConnection, symbols: Iterable[str]) -> dict[str, Decimal]:
        rows = await conn.execute(select(P.symbol, P.last).where(P.symbol.in_(sorted(symbols))))
        return {str(r[0]): Decimal(r[1]) for r in rows}

    async def wallet(self, conn: AsyncConnection, account_id: int) -> list[tuple[str, Decimal]]:
        """A paper account's balances (currency, total), by currency."""
        rows = await conn.execute(select(paper_balances.c.currency, paper_balances.c.total)
                                  .where(paper_balances.c.account_id == account_id)
                                  .order_by(paper_balances.c.currency))  # fmt: skip
        return [(str(r[0]), Decimal(r[1])) for r in rows]

    async def leverages(self, conn: AsyncConnection, account_id: int) -> tuple[int, dict[str, int]]:
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
