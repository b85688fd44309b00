"""Statistics and portfolio reads: the domain computes, this module gathers rows and prices.

A portfolio position carries its margin fields (what CCXT's position structure requires):
`leverage`, `margin_mode`, `collateral`. Spot positions are unleveraged and their own
collateral (1, `isolated`, the position's cost). Paper swaps: the account's leverage of the
symbol (`set_leverage`, else the account's), `cross`, the settle currency's wallet. CCXT venues:
the venue's values from the newest venue position a reconciliation run stored (null before the
account's first run).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, TypedDict

from apps.oms.domain.events import PositionView
from apps.oms.domain.money import DecimalFormatError, parse_decimal, to_plain
from apps.oms.domain.stats import compute_stats
from apps.oms.exchange.profiles import profile
from apps.oms.security.principal import Principal
from apps.oms.service.reads import Items, Query, build_scope, filters_of
from apps.oms.service.views import position_view, wire_value
from apps.oms.store import margins, quotes, reads
from apps.oms.store.accounts import list_accounts
from apps.oms.store.boundary import Connection
from apps.oms.store.positions import deal_from_row, position_from_row
from apps.oms.store.records import AccountRecord, ColumnValues
from apps.oms.store.store import Store


class PortfolioPosition(PositionView):
    """An open position with its mark price, unrealised PnL, notional and margin."""

    mark_price: str | None
    unrealized_pnl: str | None
    notional: str | None
    leverage: str | None
    margin_mode: str | None
    collateral: str | None


class Balance(TypedDict):
    currency: str
    total: str


class AccountPortfolio(TypedDict):
    account_id: int
    exchange_id: str
    positions: list[PortfolioPosition]
    balances: list[Balance]


class Portfolio(TypedDict):
    items: list[AccountPortfolio]


async def stats(store: Store, principal: Principal, q: Query) -> Items:
    """Per account: statistics of positions opened in the range (domain.md → Statistics)."""
    items = []
    for account_id in q.account_ids:
        scope = build_scope(principal, [account_id], q.strategy_id)
        async with store.read() as conn:
            position_rows = await reads.all_rows(conn, "positions", scope, filters_of(q))
            deal_rows = await reads.all_rows(conn, "deals", scope, filters_of(q))
        result = compute_stats(map(position_from_row, position_rows), map(deal_from_row, deal_rows))
        items.append(
            {"account_id": account_id, **{k: wire_value(v) for k, v in asdict(result).items()}}
        )
    return {"items": items}


async def marks(conn: Connection, exchange_id: str, symbols: set[str]) -> dict[str, Decimal]:
    """The mark of each symbol that has one: the paper market's last (else its start price),
    else the venue's latest stored quote (`service/breakers.py` decides on them too)."""
    if not symbols:
        return {}
    venue = profile(exchange_id)
    if venue.prices_in_store:
        found = await venue.stored_state().lasts(conn, symbols)
        for symbol in symbols - set(found):
            if (start := venue.start_price(symbol)) is not None:
                found[symbol] = start
        return found
    return await quotes.venue_lasts(conn, exchange_id, symbols)


@dataclass(frozen=True)
class Margin:
    leverage: Decimal | None = None
    margin_mode: str | None = None
    collateral: Decimal | None = None


def _exact(value: Any) -> Decimal | None:
    """A number of a stored venue structure (a plain string, or a JSON number), exactly."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return parse_decimal(value if isinstance(value, int | Decimal) else str(value))
    except DecimalFormatError:
        return None


def _settle(symbol: str) -> str:
    """The settle currency of a CCXT derivative symbol (`BTC/USDT:USDT-251226` → USDT)."""
    return symbol.split(":", 1)[1].split("-", 1)[0]


async def _margins(conn: Connection, account: AccountRecord, symbols: set[str],
                   wallet: dict[str, Decimal]) -> dict[str, Margin]:  # fmt: skip
    """Margin fields of the account's derivative symbols (spot: see `_position_view`)."""
    derivatives = {s for s in symbols if ":" in s}
    if not derivatives:
        return {}
    venue = profile(account.exchange_id)
    if venue.wallet_in_store:
        state = venue.stored_state()
        default, per_symbol = await state.leverages(conn, account.account_id)
        return {
            s: Margin(Decimal(per_symbol.get(s, default or state.default_leverage)), "cross",
                      wallet.get(_settle(s)))
            for s in derivatives
        }  # fmt: skip
    stored = await margins.venue_positions(conn, account.account_id, derivatives)
    return {
        s: Margin(_exact(p.get("leverage")), p.get("marginMode"), _exact(p.get("collateral")))
        for s, p in stored.items()
    }


def _position_view(row: ColumnValues, mark: Decimal | None, margin: Margin | None
                   ) -> PortfolioPosition:  # fmt: skip
    position = position_from_row(row)
    if ":" not in row["symbol"]:  # spot: unleveraged, the holding is its own collateral
        cost = abs(position.qty) * position.contract_size * position.avg_price
        margin = Margin(Decimal(1), "isolated", cost)
    margin = margin or Margin()
    return {
        **position_view(row),
        "mark_price": wire_value(mark),
        "unrealized_pnl": None if mark is None else wire_value(position.unrealized_pnl(mark)),
        "notional": None if mark is None else wire_value(position.notional(mark)),
        "leverage": wire_value(margin.leverage),
        "margin_mode": margin.margin_mode,
        "collateral": wire_value(margin.collateral),
    }


async def _balances(
    conn: Connection, exchange_id: str, account_id: int
) -> list[Balance]:
    venue = profile(exchange_id)
    if not venue.wallet_in_store:
        return []  # CCXT balances come from the venue: POST /ccxt/{account_id}/fetch_balance
    return [{"currency": currency, "total": to_plain(total)}
            for currency, total in await venue.stored_state().wallet(conn, account_id)]


async def portfolio(store: Store, principal: Principal, account_ids: list[int]) -> Portfolio:
    """Open positions with mark price, unrealised PnL and notional, plus balances, per account."""
    scope = build_scope(principal, account_ids)
    items: list[AccountPortfolio] = []
    async with store.read() as conn:
        accounts = {a.account_id: a for a in await list_accounts(conn, account_ids)}
        open_rows = await reads.open_rows(conn, "positions", scope, reads.Filters(), 5000)
        for account_id in account_ids:
            account = accounts.get(account_id)
            if account is None:
                continue
            mine = [r for r in open_rows if int(r["account_id"]) == account_id]
            symbols = {r["symbol"] for r in mine}
            at = await marks(conn, account.exchange_id, symbols)
            balances = await _balances(conn, account.exchange_id, account_id)
            wallet = {b["currency"]: Decimal(b["total"]) for b in balances}
            found = await _margins(conn, account, symbols, wallet)
            views = [_position_view(r, at.get(r["symbol"]), found.get(r["symbol"]))
                     for r in mine]  # fmt: skip
            items.append({"account_id": account_id, "exchange_id": account.exchange_id,
                          "positions": views, "balances": balances})  # fmt: skip
    return {"items": items}
