"""The explicit classification of CCXT functions callable through `/ccxt` (security.md).

Four classes: `read` (market data and account reads, run in the API process), `trade` (create,
edit, cancel orders; queued for the worker), `restricted` (moves funds or changes account
settings, raw `private*`/`public*` endpoints: only with a per-key, per-account
`allowed_functions` grant) and `refused` (object internals such as `close`, `set_sandbox_mode`,
`fetch`, and every name not in this table). Names are accepted in snake_case or camelCase and
normalised to snake_case; grants name the snake_case form. Pure: no CCXT import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FunctionClass(StrEnum):
    READ = "read"
    TRADE = "trade"
    RESTRICTED = "restricted"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str  # snake_case, the attribute called on the exchange
    klass: FunctionClass
    has_key: str | None  # the `exchange.has` capability to check (None: none to check)


def _table(klass: FunctionClass, entries: dict[str, str | None]) -> dict[str, FunctionSpec]:
    return {name: FunctionSpec(name, klass, has) for name, has in entries.items()}


READ = _table(FunctionClass.READ, {
    "load_markets": None, "fetch_markets": "fetchMarkets", "fetch_currencies": "fetchCurrencies",
    "fetch_status": "fetchStatus", "fetch_time": "fetchTime", "fetch_ticker": "fetchTicker",
    "fetch_tickers": "fetchTickers", "fetch_bids_asks": "fetchBidsAsks",
    "fetch_order_book": "fetchOrderBook", "fetch_l2_order_book": "fetchL2OrderBook",
    "fetch_trades": "fetchTrades", "fetch_ohlcv": "fetchOHLCV",
    "fetch_mark_ohlcv": "fetchMarkOHLCV", "fetch_index_ohlcv": "fetchIndexOHLCV",
    "fetch_funding_rate": "fetchFundingRate", "fetch_funding_rates": "fetchFundingRates",
    "fetch_funding_rate_history": "fetchFundingRateHistory",
    "fetch_open_interest": "fetchOpenInterest", "fetch_balance": "fetchBalance",
    "fetch_order": "fetchOrder", "fetch_orders": "fetchOrders",
    "fetch_open_orders": "fetchOpenOrders", "fetch_closed_orders": "fetchClosedOrders",
    "fetch_canceled_orders": "fetchCanceledOrders", "fetch_my_trades": "fetchMyTrades",
    "fetch_order_trades": "fetchOrderTrades", "fetch_positions": "fetchPositions",
    "fetch_position": "fetchPosition", "fetch_leverage": "fetchLeverage",
    "fetch_leverages": "fetchLeverages", "fetch_margin_mode": "fetchMarginMode",
    "fetch_margin_modes": "fetchMarginModes", "fetch_leverage_tiers": "fetchLeverageTiers",
    "fetch_market_leverage_tiers": "fetchMarketLeverageTiers",
    "fetch_funding_history": "fetchFundingHistory",
    "fetch_position_mode": "fetchPositionMode", "fetch_trading_fee": "fetchTradingFee",
    "fetch_trading_fees": "fetchTradingFees", "fetch_deposits": "fetchDeposits",
    "fetch_withdrawals": "fetchWithdrawals", "fetch_deposit_address": "fetchDepositAddress",
    "fetch_ledger": "fetchLedger", "fetch_transfers": "fetchTransfers",
    "fetch_accounts": "fetchAccounts",
})  # fmt: skip
TRADE = _table(FunctionClass.TRADE, {
    "create_order": "createOrder", "create_orders": "createOrders",
    "create_limit_order": "createOrder", "create_market_order": "createOrder",
    "create_limit_buy_order": "createOrder", "create_limit_sell_order": "createOrder",
    "create_market_buy_order": "createOrder", "create_market_sell_order": "createOrder",
    "create_post_only_order": "createPostOnlyOrder",
    "create_reduce_only_order": "createReduceOnlyOrder", "create_stop_order": "createStopOrder",
    "create_stop_limit_order": "createStopLimitOrder",
    "create_stop_market_order": "createStopMarketOrder",
    "create_trigger_order": "createTriggerOrder", "edit_order": "editOrder",
    "cancel_order": "cancelOrder", "cancel_orders": "cancelOrders",
    "cancel_all_orders": "cancelAllOrders",
})  # fmt: skip
RESTRICTED = _table(FunctionClass.RESTRICTED, {
    "withdraw": "withdraw", "transfer": "transfer", "set_leverage": "setLeverage",
    "set_margin_mode": "setMarginMode", "set_position_mode": "setPositionMode",
    "set_margin": "setMargin", "add_margin": "addMargin", "reduce_margin": "reduceMargin",
    "borrow_cross_margin": "borrowCrossMargin", "borrow_isolated_margin": "borrowIsolatedMargin",
    "repay_cross_margin": "repayCrossMargin", "repay_isolated_margin": "repayIsolatedMargin",
    "create_deposit_address": "createDepositAddress",
})  # fmt: skip
REFUSED = _table(FunctionClass.REFUSED, dict.fromkeys((
    "close", "set_sandbox_mode", "fetch", "request", "sign", "set_markets", "describe",
    "check_required_credentials", "load_time_difference", "set_property", "throttle",
), None))  # fmt: skip
TABLE: dict[str, FunctionSpec] = {**READ, **TRADE, **RESTRICTED, **REFUSED}

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
_SPLIT = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_RAW = re.compile(r"^(private|public)_[a-z0-9_]+$")
# the plain "create order" family, placed as OMS orders (reason ccxt, strategy 0): name ->
# (positional parameters after what the name fixes, fixed type, fixed side)
ORDER_CREATORS: dict[str, tuple[tuple[str, ...], str | None, str | None]] = {
    "create_order": (("symbol", "type", "side", "amount", "price", "params"), None, None),
    "create_limit_order": (("symbol", "side", "amount", "price", "params"), "limit", None),
    "create_market_order": (("symbol", "side", "amount", "price", "params"), "market", None),
    "create_limit_buy_order": (("symbol", "amount", "price", "params"), "limit", "buy"),
    "create_limit_sell_order": (("symbol", "amount", "price", "params"), "limit", "sell"),
    "create_market_buy_order": (("symbol", "amount", "params"), "market", "buy"),
    "create_market_sell_order": (("symbol", "amount", "params"), "market", "sell"),
}


def order_arguments(name: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """`{symbol, type, side, amount, price, params}` of a create-order call (TypeError if the
    arguments do not fit the CCXT signature)."""
    names, fixed_type, fixed_side = ORDER_CREATORS[name]
    if len(args) > len(names):
        raise TypeError(f"{name} takes at most {len(names)} positional arguments")
    bound = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names or key in bound:
            raise TypeError(f"{name} got an unexpected or repeated argument {key!r}")
        bound[key] = value
    bound.setdefault("type", fixed_type)
    bound.setdefault("side", fixed_side)
    missing = [k for k in ("symbol", "type", "side", "amount") if bound.get(k) is None]
    if missing:
        raise TypeError(f"{name} is missing {', '.join(missing)}")
    return {"price": None, "params": {}, **bound}


def snake_case(name: str) -> str:
    """`fetchOHLCV` → `fetch_ohlcv`, `privatePostOrder` → `private_post_order`."""
    return _SPLIT.sub("_", name).lower()


def classify(name: str) -> FunctionSpec:
    """The spec of `name`; anything not in the table (and not a raw endpoint) is refused."""
    if not _NAME.match(name):
        return FunctionSpec(name, FunctionClass.REFUSED, None)
    snake = snake_case(name)
    spec = TABLE.get(snake)
    if spec is not None:
        return spec
    if _RAW.match(snake):
        return FunctionSpec(snake, FunctionClass.RESTRICTED, None)
    return FunctionSpec(snake, FunctionClass.REFUSED, None)
