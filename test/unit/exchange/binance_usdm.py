"""Recorded binance USDⓈ-M futures (linear perpetual) REST responses, built from the documented
formats (developers.binance.com → USDⓈ-M Futures: exchangeInfo, query order / allOrders /
openOrders, account trade list, position information). Keys are (method, path)."""

from __future__ import annotations

from typing import Any

EXCHANGE_INFO = {
    "timezone": "UTC", "serverTime": 1700000000000, "futuresType": "U_MARGINED",
    "rateLimits": [], "exchangeFilters": [],
    "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
    "symbols": [{
        "symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000", "baseAsset": "BTC",
        "quoteAsset": "USDT", "marginAsset": "USDT", "pricePrecision": 2, "quantityPrecision": 3,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
        "underlyingSubType": ["PoW"], "triggerProtect": "0.0500", "liquidationFee": "0.012500",
        "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "maxPrice": "4529764", "minPrice": "556.80",
             "tickSize": "0.10"},
            {"filterType": "LOT_SIZE", "maxQty": "1000", "minQty": "0.001", "stepSize": "0.001"},
            {"filterType": "MARKET_LOT_SIZE", "maxQty": "120", "minQty": "0.001",
             "stepSize": "0.001"},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                       "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }],
}  # fmt: skip


def order(status: str = "FILLED", qty: str = "0.004", **overrides: Any) -> dict[str, Any]:
    """A market order as `GET /fapi/v1/allOrders` lists it."""
    return {
        "avgPrice": "30000.10", "clientOrderId": "web_perp1", "cumQuote": "120.00040",
        "executedQty": qty if status == "FILLED" else "0", "orderId": 1917641, "origQty": qty,
        "origType": "MARKET", "price": "0", "reduceOnly": False, "side": "BUY",
        "positionSide": "BOTH", "status": status, "stopPrice": "0", "closePosition": False,
        "symbol": "BTCUSDT", "time": 1700000000000, "timeInForce": "GTC", "type": "MARKET",
        "activatePrice": "0", "priceRate": "0", "updateTime": 1700000000000,
        "workingType": "CONTRACT_PRICE", "priceProtect": False, "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE", "goodTillDate": 0, **overrides,
    }  # fmt: skip


def trade(trade_id: int, qty: str, at_ms: int, order_id: int = 1917641) -> dict[str, Any]:
    """One fill as `GET /fapi/v1/userTrades` lists it (commission in USDT)."""
    return {
        "buyer": True, "commission": "0.02400008", "commissionAsset": "USDT", "id": trade_id,
        "maker": False, "orderId": order_id, "price": "30000.10", "qty": qty,
        "quoteQty": "60.0002", "realizedPnl": "0", "side": "BUY", "positionSide": "BOTH",
        "symbol": "BTCUSDT", "time": at_ms,
    }  # fmt: skip


def position(amount: str) -> dict[str, Any]:
    """The one-way BTCUSDT position as `GET /fapi/v3/positionRisk` reports it."""
    return {
        "symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": amount,
        "entryPrice": "30000.10", "breakEvenPrice": "30012.1", "markPrice": "30010.00",
        "unRealizedProfit": "0.0396", "liquidationPrice": "0", "isolatedMargin": "0",
        "notional": "120.04", "marginAsset": "USDT", "isolatedWallet": "0",
        "initialMargin": "12.004", "maintMargin": "0.4801", "positionInitialMargin": "12.004",
        "openOrderInitialMargin": "0", "adl": 1, "bidNotional": "0", "askNotional": "0",
        "updateTime": 1700000000000,
    }  # fmt: skip


LEVERAGE_BRACKET = [{
    "symbol": "BTCUSDT", "notionalCoef": 1.5,
    "brackets": [
        {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
         "maintMarginRatio": 0.004, "cum": 0.0},
        {"bracket": 2, "initialLeverage": 100, "notionalCap": 600000, "notionalFloor": 50000,
         "maintMarginRatio": 0.005, "cum": 50.0},
    ],
}]  # fmt: skip
