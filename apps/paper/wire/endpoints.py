"""The endpoints each Binance dialect serves: path, security type (Binance's NONE, USER_STREAM,
SIGNED) and request weight (for `X-MBX-USED-WEIGHT-1M`), and the handler that answers."""

from __future__ import annotations

from dataclasses import dataclass

NONE, USER_STREAM, SIGNED = "NONE", "USER_STREAM", "SIGNED"


@dataclass(frozen=True, slots=True)
class Endpoint:
    handler: str
    security: str
    weight: int


SPOT_ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    ("GET", "/api/v3/ping"): Endpoint("ping", NONE, 1),
    ("GET", "/api/v3/time"): Endpoint("time", NONE, 1),
    ("GET", "/api/v3/exchangeInfo"): Endpoint("exchange_info", NONE, 20),
    ("GET", "/api/v3/ticker/price"): Endpoint("ticker_price", NONE, 2),
    ("GET", "/api/v3/ticker/24hr"): Endpoint("ticker_24hr", NONE, 2),
    ("GET", "/api/v3/ticker/bookTicker"): Endpoint("book_ticker", NONE, 2),
    ("GET", "/api/v3/depth"): Endpoint("depth", NONE, 5),
    ("POST", "/api/v3/order/test"): Endpoint("test_order", SIGNED, 1),
    ("POST", "/api/v3/order/cancelReplace"): Endpoint("cancel_replace", SIGNED, 1),
    ("GET", "/api/v3/klines"): Endpoint("klines", NONE, 2),
    ("GET", "/api/v3/account"): Endpoint("account_info", SIGNED, 20),
    ("POST", "/api/v3/order"): Endpoint("new_order", SIGNED, 1),
    ("GET", "/api/v3/order"): Endpoint("query_order", SIGNED, 4),
    ("DELETE", "/api/v3/order"): Endpoint("cancel_order", SIGNED, 1),
    ("GET", "/api/v3/openOrders"): Endpoint("open_orders", SIGNED, 6),
    ("DELETE", "/api/v3/openOrders"): Endpoint("cancel_open_orders", SIGNED, 1),
    ("GET", "/api/v3/allOrders"): Endpoint("all_orders", SIGNED, 20),
    ("GET", "/api/v3/myTrades"): Endpoint("my_trades", SIGNED, 20),
    ("POST", "/api/v3/orderList/oco"): Endpoint("new_oco", SIGNED, 1),
    ("DELETE", "/api/v3/orderList"): Endpoint("cancel_order_list", SIGNED, 1),
    ("GET", "/api/v3/orderList"): Endpoint("query_order_list", SIGNED, 4),
    ("GET", "/api/v3/openOrderList"): Endpoint("open_order_lists", SIGNED, 6),
    ("GET", "/api/v3/allOrderList"): Endpoint("all_order_lists", SIGNED, 20),
    ("POST", "/api/v3/userDataStream"): Endpoint("listen_key_new", USER_STREAM, 2),
    ("PUT", "/api/v3/userDataStream"): Endpoint("listen_key_keep", USER_STREAM, 2),
    ("DELETE", "/api/v3/userDataStream"): Endpoint("listen_key_close", USER_STREAM, 2),
}

USDM_ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    ("GET", "/fapi/v1/ping"): Endpoint("ping", NONE, 1),
    ("GET", "/fapi/v1/time"): Endpoint("time", NONE, 1),
    ("GET", "/fapi/v1/exchangeInfo"): Endpoint("exchange_info", NONE, 1),
    ("GET", "/fapi/v1/ticker/price"): Endpoint("ticker_price", NONE, 1),
    ("GET", "/fapi/v2/ticker/price"): Endpoint("ticker_price", NONE, 1),
    ("GET", "/fapi/v1/ticker/24hr"): Endpoint("ticker_24hr", NONE, 1),
    ("GET", "/fapi/v1/ticker/bookTicker"): Endpoint("book_ticker", NONE, 2),
    ("GET", "/fapi/v1/premiumIndex"): Endpoint("premium_index", NONE, 1),
    ("GET", "/fapi/v1/depth"): Endpoint("depth", NONE, 5),
    ("GET", "/fapi/v1/klines"): Endpoint("klines", NONE, 2),
    ("POST", "/fapi/v1/order"): Endpoint("new_order", SIGNED, 1),
    ("PUT", "/fapi/v1/order"): Endpoint("modify_order", SIGNED, 1),
    ("GET", "/fapi/v1/order"): Endpoint("query_order", SIGNED, 1),
    ("DELETE", "/fapi/v1/order"): Endpoint("cancel_order", SIGNED, 1),
    ("GET", "/fapi/v1/openOrders"): Endpoint("open_orders", SIGNED, 1),
    ("DELETE", "/fapi/v1/allOpenOrders"): Endpoint("cancel_all", SIGNED, 1),
    ("GET", "/fapi/v1/allOrders"): Endpoint("all_orders", SIGNED, 5),
    ("GET", "/fapi/v1/userTrades"): Endpoint("user_trades", SIGNED, 5),
    ("GET", "/fapi/v2/positionRisk"): Endpoint("position_risk", SIGNED, 5),
    ("GET", "/fapi/v3/positionRisk"): Endpoint("position_risk", SIGNED, 5),
    ("GET", "/fapi/v2/account"): Endpoint("account_info", SIGNED, 5),
    ("GET", "/fapi/v3/account"): Endpoint("account_info", SIGNED, 5),
    ("GET", "/fapi/v2/balance"): Endpoint("balance", SIGNED, 5),
    ("GET", "/fapi/v3/balance"): Endpoint("balance", SIGNED, 5),
    ("GET", "/fapi/v1/leverageBracket"): Endpoint("leverage_bracket", SIGNED, 1),
    ("POST", "/fapi/v1/leverage"): Endpoint("leverage", SIGNED, 1),
    ("POST", "/fapi/v1/marginType"): Endpoint("margin_type", SIGNED, 1),
    ("GET", "/fapi/v1/symbolConfig"): Endpoint("symbol_config", SIGNED, 5),
    ("GET", "/fapi/v1/commissionRate"): Endpoint("commission_rate", SIGNED, 20),
    ("GET", "/fapi/v1/positionSide/dual"): Endpoint("position_side_get", SIGNED, 30),
    ("POST", "/fapi/v1/positionSide/dual"): Endpoint("position_side_set", SIGNED, 1),
    ("POST", "/fapi/v1/listenKey"): Endpoint("listen_key_new", USER_STREAM, 1),
    ("PUT", "/fapi/v1/listenKey"): Endpoint("listen_key_keep", USER_STREAM, 1),
    ("DELETE", "/fapi/v1/listenKey"): Endpoint("listen_key_close", USER_STREAM, 1),
}
