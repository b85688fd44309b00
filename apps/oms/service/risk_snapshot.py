"""Build the pre-trade risk snapshot (limits + counters) the domain's `check_order` decides on."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from apps.oms.domain.risk import RiskLimits, RiskScope
from apps.oms.exchange.profiles import profile
from apps.oms.store import quotes
from apps.oms.store import risk as risk_store
from apps.oms.store.boundary import Connection

QUOTE_MAX_AGE = timedelta(seconds=10)
NO_LIMITS = RiskLimits()  # a scope without a limits row


def reads_counters(limits: dict[int, RiskLimits], strategy_id: int) -> bool:
    """Whether `risk_scopes` will count open positions and orders for an order of
    `strategy_id` (a scope with any limit set; `_scope`)."""
    names = (0, strategy_id) if strategy_id > 0 else (0,)
    return any(not limits.get(name, NO_LIMITS).checks_nothing for name in names)


async def _scope(
    conn: Connection,
    name: str,
    account_id: int,
    symbol: str,
    strategy_id: int | None,
    limits: RiskLimits,
    allow_new: bool,
    position_qty: Decimal,
    now: datetime,
) -> RiskScope:
    if limits.checks_nothing:  # no limits: counters are not needed
        return RiskScope(name, limits, allow_new_positions=allow_new, position_qty=position_qty)
    total, in_symbol = await risk_store.open_position_counts(conn, account_id, symbol, strategy_id)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return RiskScope(
        name,
        limits,
        allow_new_positions=allow_new,
        open_positions=total,
        open_positions_in_symbol=in_symbol,
        open_orders_in_symbol=await risk_store.open_order_count(
            conn, account_id, symbol, strategy_id
        ),
        daily_realized_pnl=await risk_store.realized_pnl_between(
            conn, account_id, day, day + timedelta(days=1), strategy_id
        ),
        position_qty=position_qty,
    )


async def risk_scopes(
    conn: Connection,
    *,
    account_id: int,
    symbol: str,
    strategy_id: int,
    strategy_allow_new: bool,
    position_qty: Decimal,
    now: datetime,
    account_allow_new: bool | None = None,
    limits: dict[int, RiskLimits] | None = None,
    out_of_sync: bool = False,
) -> list[RiskScope]:
    """The account scope, plus the strategy scope when the order is attributed to one.
    `account_allow_new` and `limits` are read from the store unless the caller has them."""
    if account_allow_new is None:
        account_allow_new = await risk_store.account_allows_new(conn, account_id)
    if limits is None:
        limits = await risk_store.get_limits(conn, account_id)
    scopes = [
        replace(await _scope(
            conn,
            "account",
            account_id,
            symbol,
            None,
            limits.get(0, NO_LIMITS),
            account_allow_new,
            position_qty,
            now,
        ), out_of_sync=out_of_sync)
    ]
    if strategy_id > 0:
        scopes.append(
            await _scope(
                conn,
                "strategy",
                account_id,
                symbol,
                strategy_id,
                limits.get(strategy_id, NO_LIMITS),
                strategy_allow_new,
                position_qty,
                now,
            )
        )
    return scopes


async def reference_price(
    conn: Connection, exchange_id: str, symbol: str, now: datetime
) -> Decimal | None:
    """Latest quote no older than 10 s; the paper market's own price is always current."""
    venue = profile(exchange_id)
    if venue.prices_in_store:
        return await venue.stored_state().last(conn, symbol)
    quote = await quotes.venue_quote(conn, exchange_id, symbol)
    if quote is None or quote[1] < now - QUOTE_MAX_AGE:
        return None
    return quote[0]


def needs_reference_price(scopes: list[RiskScope]) -> bool:
    """Only notional rules need a price: skip the quote lookup otherwise."""
    return any(
        s.limits.max_order_notional is not None
        or s.limits.min_order_notional is not None
        or s.limits.max_position_notional is not None
        for s in scopes
    )
