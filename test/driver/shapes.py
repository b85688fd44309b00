"""Reference key sets of CCXT's unified structures, taken from CCXT itself (its `safe_*` helpers
and the TypedDicts of `ccxt.base.types`), and field checks shared by the driver tests."""

from __future__ import annotations

from typing import Any

import ccxt
from ccxt.base import types
from ccxt.base.precise import Precise

_EX = ccxt.Exchange()


def _keys(typed: Any, *safe: dict[str, Any]) -> frozenset[str]:
    keys = set(typed.__annotations__)
    for produced in safe:
        keys |= set(produced)
    return frozenset(keys)


ORDER_KEYS = _keys(types.Order, _EX.safe_order({}))
TRADE_KEYS = _keys(types.Trade, _EX.safe_trade({}))
# `maintenanceMarginPercentage`: returned by CCXT's own parse_position of most venues (binance, bybit)
POSITION_KEYS = _keys(types.Position, _EX.safe_position({})) | {"maintenanceMarginPercentage"}
TICKER_KEYS = _keys(types.Ticker, _EX.safe_ticker({}))
BOOK_KEYS = _keys(types.OrderBook)
MARKET_KEYS = _keys(types.MarketInterface, _EX.safe_market_structure({})) - {
    "percentage", "tierBased", "feeSide"}  # fee-schedule keys CCXT fills only from describe()
NUMERIC = {
    "order": ("price", "average", "amount", "filled", "remaining", "cost"),
    "trade": ("price", "amount", "cost"),
    "position": ("contracts", "contractSize", "entryPrice", "realizedPnl"),
    "ticker": ("last", "bid", "ask", "close"),
}


def check(kind: str, value: dict[str, Any], number: type = float) -> None:
    """Every unified key present (no more, no fewer) and numbers of the CCXT number type."""
    expected = {"order": ORDER_KEYS, "trade": TRADE_KEYS, "position": POSITION_KEYS,
                "ticker": TICKER_KEYS}[kind]
    assert set(value) == expected, (kind, set(value) ^ expected)
    assert isinstance(value["info"], dict)
    for key in NUMERIC[kind]:
        if value[key] is not None:
            assert isinstance(value[key], number), (kind, key, value[key])
    if value.get("timestamp") is not None:
        assert isinstance(value["timestamp"], int)
        assert value["datetime"] == _EX.iso8601(value["timestamp"])


# CCXT's position validator (`test_position.py` in the CCXT repository; not in the pip package):
# every key of its format present; these may be null, the others must have a value
POSITION_NULLABLE = {"liquidationPrice", "initialMargin", "initialMarginPercentage",
                     "maintenanceMargin", "maintenanceMarginPercentage", "marginRatio"}
POSITION_FORMAT = {"info", "symbol", "timestamp", "datetime", "initialMargin",
                   "initialMarginPercentage", "maintenanceMargin", "maintenanceMarginPercentage",
                   "entryPrice", "notional", "leverage", "unrealizedPnl", "contracts",
                   "contractSize", "marginRatio", "liquidationPrice", "markPrice", "collateral",
                   "marginMode", "side", "percentage"}
POSITIVE = ("initialMargin", "initialMarginPercentage", "maintenanceMargin",
            "maintenanceMarginPercentage", "entryPrice", "notional", "contracts", "contractSize",
            "marginRatio", "liquidationPrice", "markPrice", "collateral", "leverage")


def check_ccxt_position(position: dict[str, Any]) -> None:
    """The rules of CCXT's own position validator (values compared as CCXT does, by string)."""
    assert set(position) >= POSITION_FORMAT, POSITION_FORMAT - set(position)
    missing = {k for k in POSITION_FORMAT - POSITION_NULLABLE if position[k] is None}
    assert not missing, missing
    assert position["side"] in ("long", "short")
    assert position["marginMode"] in ("cross", "isolated")
    assert Precise.string_le(_EX.number_to_string(position["leverage"]), "200")
    for key in POSITIVE:
        if position[key] is not None:
            assert Precise.string_gt(_EX.number_to_string(position[key]), "0"), key
    assert position["datetime"] == _EX.iso8601(position["timestamp"])
