"""mt5_driver: MetaTrader 5's Python API (`import MetaTrader5 as mt5`) backed by the ccxt-oms
gateway, on any machine. Its own product: it imports nothing from `apps/` and shares only the
wire contract (docs/api.md). `import mt5_driver as mt5`, or let `import MetaTrader5` find it
where the official package is not installed (`python -m mt5_driver.alias install`).
The mapping, and what has no meaning on a crypto exchange: docs/mt5.md."""

from __future__ import annotations

from typing import Final

from mt5_driver.api import (
    account_info,
    copy_rates_from,
    copy_rates_from_pos,
    copy_rates_range,
    copy_ticks_from,
    copy_ticks_range,
    history_deals_get,
    history_deals_total,
    history_orders_get,
    history_orders_total,
    initialize,
    last_error,
    login,
    market_book_add,
    market_book_get,
    market_book_release,
    order_calc_margin,
    order_calc_profit,
    order_check,
    order_send,
    orders_get,
    orders_total,
    positions_get,
    positions_total,
    shutdown,
    symbol_info,
    symbol_info_tick,
    symbol_select,
    symbols_get,
    symbols_total,
    terminal_info,
    version,
)
from mt5_driver.constants import *  # noqa: F403 - MetaTrader's constants, by their names
from mt5_driver.structures import (
    AccountInfo,
    BookInfo,
    OrderCheckResult,
    OrderSendResult,
    SymbolInfo,
    TerminalInfo,
    Tick,
    TradeDeal,
    TradeOrder,
    TradePosition,
    TradeRequest,
)

__version__: Final = "5.0.5735"  # the official package's version this API follows
__author__: Final = "MetaQuotes Ltd."  # the API's author; this implementation: ccxt-oms

__all__ = [  # noqa: RUF022 - functions, then types (constants come with the star import)
    "account_info", "copy_rates_from", "copy_rates_from_pos", "copy_rates_range",
    "copy_ticks_from", "copy_ticks_range", "history_deals_get", "history_deals_total",
    "history_orders_get", "history_orders_total", "initialize", "last_error", "login",
    "market_book_add", "market_book_get", "market_book_release", "order_calc_margin",
    "order_calc_profit", "order_check", "order_send", "orders_get", "orders_total",
    "positions_get", "positions_total", "shutdown", "symbol_info", "symbol_info_tick",
    "symbol_select", "symbols_get", "symbols_total", "terminal_info", "version",
    "AccountInfo", "BookInfo", "OrderCheckResult", "OrderSendResult", "SymbolInfo",
    "TerminalInfo", "Tick", "TradeDeal", "TradeOrder", "TradePosition", "TradeRequest",
]  # fmt: skip
