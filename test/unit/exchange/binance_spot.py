"""Recorded binance spot REST responses, built from the documented formats
(developers.binance.com → Spot API: exchangeInfo, 24hr ticker, account, order (FULL), query,
cancel, openOrders, myTrades, error payloads). Keys are (method, path)."""

from __future__ import annotations

from typing import Any

EXCHANGE_INFO = {
    "timezone": "UTC", "serverTime": 1700000000000, "rateLimits": [], "exchangeFilters": [],
    "symbols": [{
        "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "baseAssetPrecision": 8,
        "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True, "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": True,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
             "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
             "stepSize": "0.00001000"},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }],
}  # fmt: skip

TICKER = {
    "symbol": "BTCUSDT", "priceChange": "-94.99999800", "priceChangePercent": "-95.960",
    "weightedAvgPrice": "0.29628482", "prevClosePrice": "0.10002000", "lastPrice": "37000.10",
    "lastQty": "200.00000000", "bidPrice": "37000.00", "bidQty": "100.00000000",
    "askPrice": "37000.20", "askQty": "100.00000000", "openPrice": "37100.00",
    "highPrice": "37500.00", "lowPrice": "36800.00", "volume": "8913.30000000",
    "quoteVolume": "15.30000000", "openTime": 1699913600000, "closeTime": 1700000000000,
    "firstId": 28385, "lastId": 28460, "count": 76,
}  # fmt: skip

ACCOUNT = {
    "makerCommission": 15, "takerCommission": 15, "buyerCommission": 0, "sellerCommission": 0,
    "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
    "requireSelfTradePrevention": False, "preventSor": False, "updateTime": 1700000000000,
    "accountType": "SPOT",
    "balances": [
        {"asset": "BTC", "free": "4723846.89208129", "locked": "0.00000000"},
        {"asset": "USDT", "free": "10000.12345678", "locked": "370.00000001"},
    ],
    "permissions": ["SPOT"], "uid": 354937868,
}  # fmt: skip


def order(status: str = "NEW", executed: str = "0.00000000", fills: list[Any] | None = None,
          **extra: Any) -> dict[str, Any]:
    """An order as `POST /api/v3/order` (newOrderRespType FULL) and `GET /api/v3/order` return it."""
    body = {
        "symbol": "BTCUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": "oms123abc",
        "transactTime": 1700000001000, "price": "30000.10", "origQty": "0.00123000",
        "executedQty": executed, "cummulativeQuoteQty": "0.00000000", "status": status,
        "timeInForce": "GTC", "type": "LIMIT", "side": "BUY", "workingTime": 1700000001000,
        "selfTradePreventionMode": "NONE", "fills": fills or [],
    }
    body.update(extra)
    return body


FILL = {"price": "30000.10", "qty": "0.00123000", "commission": "0.00000123",
        "commissionAsset": "BTC", "tradeId": 56}
MY_TRADES = [{
    "symbol": "BTCUSDT", "id": 56, "orderId": 28, "orderListId": -1, "price": "30000.10",
    "qty": "0.00123000", "quoteQty": "36.90012300", "commission": "0.00000123",
    "commissionAsset": "BTC", "time": 1700000002000, "isBuyer": True, "isMaker": False,
    "isBestMatch": True,
}]  # fmt: skip
UNKNOWN_ORDER = {"code": -2011, "msg": "Unknown order sent."}
INSUFFICIENT = {"code": -2010, "msg": "Account has insufficient balance for requested action."}
