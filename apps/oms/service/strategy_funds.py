"""A strategy's funds on an account: load what its allocation's balance is computed from, answer
`fetch_balance` (and `fetch_funding_history`) for a strategy-restricted key through `/ccxt`, and
refuse at acceptance an order beyond the strategy's free balance (`insufficient_funds`).
The arithmetic is `domain/allocation.py`; docs/identity-and-risk.md → Strategy allocations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from apps.oms.clock import iso_z, utcnow
from apps.oms.domain import allocation as allocation_rules
from apps.oms.domain.allocation import (
    BalanceLine,
    Holding,
    Reserve,
    StrategyFunds,
    Terms,
    check_funds,
    strategy_balance,
    terms_of,
)
from apps.oms.domain.enums import Side
from apps.oms.domain.errors import RiskBlocked
from apps.oms.domain.money import ZERO, to_plain
from apps.oms.errors import PermissionDenied
from apps.oms.exchange.profiles import profile
from apps.oms.ports import Params, Structure
from apps.oms.security.principal import Principal
from apps.oms.service.acceptance import Ctx
from apps.oms.service.risk_snapshot import reference_price
from apps.oms.store import allocations as allocation_store
from apps.oms.store.accounts import get_account
from apps.oms.store.boundary import Connection
from apps.oms.store.records import AccountState
from apps.oms.store.store import Store


class TermsBook:
    """Terms of each symbol on one account: the paper market's contract size, fee rate and the
    account's leverage on it; for other venues the symbol's currencies, leverage 1, fee 0."""

    def __init__(self, exchange_id: str, leverage: int, leverages: Mapping[str, int]) -> None:
        self.exchange_id, self.leverage, self.leverages = exchange_id, leverage, leverages

    def of(self, symbol: str) -> Terms:
        market = profile(self.exchange_id).market(symbol)
        if market is None:
            return terms_of(symbol)
        return Terms(
            spot=not market.is_swap, base=market.base, quote=market.settle or market.quote,
            contract_size=market.contract_size,
            leverage=Decimal(self.leverages.get(symbol, self.leverage)),
            fee_rate=market.max_fee_rate,
        )  # fmt: skip


async def terms_book(conn: Connection, account: AccountState) -> TermsBook:
    exchange_id = account.exchange_id
    venue = profile(exchange_id)
    if not venue.wallet_in_store:
        return TermsBook(exchange_id, 1, {})
    leverage, leverages = await venue.stored_state().leverages(conn, account.account_id)
    return TermsBook(exchange_id, leverage or 1, leverages)  # 0: no venue row yet


async def load_funds(
    conn: Connection,
    account: AccountState,
    strategy_ids: Iterable[int],
    allocation: Mapping[str, Any],
    terms: TermsBook,
    now: datetime,
) -> StrategyFunds:
    """One strategy's (or several's, summed) funds from the store: realised PnL and fees of its
    deals, its open positions and its open orders (an unpriced one at the reference price;
    skipped when there is none)."""
    account_id, ids = account.account_id, list(strategy_ids)
    realized: dict[str, Decimal] = {}
    for symbol, fee_currency, pnl, fee in await allocation_store.deal_sums(conn, account_id, ids):
        settle = terms.of(symbol).quote
        realized[settle] = realized.get(settle, ZERO) + pnl
        realized[fee_currency or settle] = realized.get(fee_currency or settle, ZERO) - fee
    holdings = tuple(
        Holding(Side(r["side"]), r["qty"], r["avg_price"], terms.of(r["symbol"]))
        for r in await allocation_store.open_positions_of(conn, account_id, ids)
        if r["qty"] > 0
    )
    reserves = []
    for r in await allocation_store.open_orders_of(conn, account_id, ids):
        price = r["price"] or r["trigger_price"] or r["stop_price"]
        if price is None:
            price = await reference_price(conn, account.exchange_id, r["symbol"], now)
        remaining = r["qty"] - r["filled_qty"]
        if price is not None and remaining > 0:
            reserves.append(Reserve(Side(r["side"]), remaining, price, terms.of(r["symbol"]),
                                    bool(r["reduce_only"])))  # fmt: skip
    return StrategyFunds(str(allocation["currency"]), allocation["amount"], realized, holdings,
                         tuple(reserves))  # fmt: skip


def _restricted_ids(principal: Principal, account_id: int, params: Mapping[str, Any]) -> list[int]:
    """The key's strategies the balance is for: `params.strategy_id` (one of them), else all."""
    flags = principal.flags_for(account_id)
    strategy_ids = flags.strategy_ids if flags is not None else frozenset()
    asked = params.get("strategy_id", params.get("strategyId"))
    if asked is None:
        return sorted(strategy_ids)
    if isinstance(asked, bool) or not str(asked).isdigit() or int(asked) not in strategy_ids:
        raise PermissionDenied(
            f"this key is not granted strategy {asked}", code="strategy_permission_denied"
        )
    return [int(asked)]


def call_params(args: list[Any], kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """The CCXT `params` of a call whose only parameter (or last) is `params`."""
    params = kwargs.get("params", args[-1] if args else None)
    return params if isinstance(params, dict) else {}


async def restricted_balance(
    store: Store, principal: Principal, account_id: int, params: Mapping[str, Any]
) -> Structure:
    """`fetch_balance` for a strategy-restricted key: its strategies' allocations as a CCXT
    balance (summed over the strategies asked for that have one). No allocation: 403
    `strategy_permission_denied`, as before allocations existed."""
    ids = _restricted_ids(principal, account_id, params)
    now = utcnow()
    async with store.read() as conn:
        account = await get_account(conn, account_id)
        allocations = await allocation_store.allocations_of(conn, account_id)
        chosen = {sid: allocations[sid] for sid in ids if sid in allocations}
        if account is None or not chosen:
            raise PermissionDenied(
                "strategy-restricted keys read a balance only when their strategy has an "
                "allocation on the account (set by a portfolio manager or admin)",
                code="strategy_permission_denied",
                details={"strategy_ids": ids, "reason": "no_allocation"},
            )
        terms = await terms_book(conn, account)
        lines: dict[str, BalanceLine] = {}
        for sid, row in sorted(chosen.items()):
            funds = await load_funds(conn, account, [sid], row, terms, now)
            for currency, line in strategy_balance(funds).items():
                lines[currency] = _plus(lines.get(currency), line)
    info = {str(sid): {"currency": r["currency"], "amount": to_plain(r["amount"])}
            for sid, r in chosen.items()}  # fmt: skip
    return balance_structure(lines, now, {"strategy_allocations": info})


def _plus(a: BalanceLine | None, b: BalanceLine) -> BalanceLine:
    if a is None:
        return b
    return BalanceLine(a.free + b.free, a.used + b.used, a.total + b.total)


def balance_structure(
    lines: Mapping[str, BalanceLine], now: datetime, info: Structure
) -> Structure:
    """The CCXT balance structure, decimals as strings (as the venue's through `/ccxt`)."""
    result: Structure = {
        "info": info, "timestamp": int(now.timestamp() * 1000), "datetime": iso_z(now),
        "free": {}, "used": {}, "total": {},
    }  # fmt: skip
    for currency, line in sorted(lines.items()):
        entry = {"free": to_plain(line.free), "used": to_plain(line.used),
                 "total": to_plain(line.total)}  # fmt: skip
        result[currency] = entry
        for key, value in entry.items():
            result[key][currency] = value
    return result


async def restricted_funding_history(
    store: Store, principal: Principal, account_id: int, args: list[Any], kwargs: Params
) -> list[Structure]:
    """`fetch_funding_history(symbol, since, limit, params)` for a strategy-restricted key,
    answered from its strategies' funding deals (CCXT funding history structures, oldest
    first)."""
    names = ("symbol", "since", "limit", "params")
    bound = {**dict(zip(names, args, strict=False)), **kwargs}
    ids = _restricted_ids(principal, account_id, call_params([], bound))
    async with store.read() as conn:
        account = await get_account(conn, account_id)
        symbol = str(bound["symbol"]) if bound.get("symbol") else None
        rows = await allocation_store.funding_deals(conn, account_id, ids, symbol)
    terms = TermsBook(account.exchange_id if account else "", 1, {})
    items = []
    for deal_id, symbol, pnl, executed_at, trade_id in rows:
        ms = int(executed_at.timestamp() * 1000)
        if isinstance(bound.get("since"), int) and ms < bound["since"]:
            continue
        items.append({"info": {"deal_id": deal_id, "exchange_trade_id": trade_id},
                      "symbol": symbol, "code": terms.of(symbol).quote, "timestamp": ms,
                      "datetime": iso_z(executed_at), "id": str(deal_id),
                      "amount": to_plain(pnl)})  # fmt: skip
    limit = bound.get("limit")
    return items[-limit:] if isinstance(limit, int) and limit > 0 else items


async def _locked_allocation(ctx: Ctx, strategy_id: int) -> Mapping[str, Any] | None:
    """The strategy's allocation row, locked (acceptances of one strategy's orders serialise on
    it); None without one (the account's allocations are read once per batch; an order of no
    strategy has none, so it reads nothing)."""
    if strategy_id <= 0:
        return None
    allocations = ctx.share.allocations.get(ctx.account_id)
    if allocations is None:
        allocations = await allocation_store.allocations_of(ctx.conn, ctx.account_id)
        ctx.share.allocations[ctx.account_id] = allocations
    if strategy_id not in allocations:
        return None
    locked = await allocation_store.allocations_of(
        ctx.conn, ctx.account_id, lock_strategy=strategy_id
    )
    return locked.get(strategy_id)  # None: cleared since the batch read it


async def check_allocation(
    ctx: Ctx, strategy_id: int, symbol: str, side: Side, qty: Decimal, price: Decimal | None
) -> None:
    """Refuse (`insufficient_funds`) an order of `strategy_id` beyond its allocation's free
    balance; nothing to check without an allocation. Callers skip closing orders. The batch's
    held orders are written first, so they count among the strategy's open orders."""
    allocation = await _locked_allocation(ctx, strategy_id)
    if allocation is None:
        return
    await ctx.write_held()
    if price is None:
        price = await reference_price(ctx.conn, ctx.account.exchange_id, symbol, ctx.now)
    if price is None:
        raise RiskBlocked(
            "no_reference_price", "no price to value the order against the strategy's allocation",
            "strategy",
        )
    terms = await terms_book(ctx.conn, ctx.account)
    funds = await load_funds(ctx.conn, ctx.account, [strategy_id], allocation, terms, ctx.now)
    check_funds(funds, Reserve(side, qty, price, terms.of(symbol)), strategy_id)


async def check_change(
    ctx: Ctx, order: Mapping[str, Any], new_qty: Decimal | None, new_price: Decimal | None
) -> None:
    """Refuse a `change_order` that would make an open order of a strategy with an allocation
    hold more than the free balance allows (reduce-only orders and smaller holds pass)."""
    strategy_id = int(order["strategy_id"])
    allocation = await _locked_allocation(ctx, strategy_id)
    price: Decimal | None = order["price"] or order["trigger_price"] or order["stop_price"]
    price = price if price is not None else new_price
    if allocation is None or order["reduce_only"] or price is None:
        return
    await ctx.write_held()
    book = await terms_book(ctx.conn, ctx.account)
    terms = book.of(str(order["symbol"]))
    side, filled = Side(order["side"]), order["filled_qty"]
    old = Reserve(side, order["qty"] - filled, price, terms)
    new = Reserve(side, (new_qty or order["qty"]) - filled, new_price or price, terms)
    funds = await load_funds(ctx.conn, ctx.account, [strategy_id], allocation, book, ctx.now)
    allocation_rules.check_change(funds, old, new, strategy_id)
