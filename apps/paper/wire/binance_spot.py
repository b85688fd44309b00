"""Binance spot (`/api/v3`) as pure mappings: a request's parameters to the paper engine's call,
and the engine's CCXT-shaped results (Decimal numbers) to Binance's JSON (decimal strings).

No I/O: `spot_handlers` runs the calls, `server` speaks HTTP and websockets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.oms.domain.markets import Market, cost_problem, price_problem, qty_problem
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.wire.signing import WireError, mandatory

Json = dict[str, Any]
ZERO = Decimal(0)
ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
               "TAKE_PROFIT_LIMIT")  # fmt: skip
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
RESP_TYPES = ("ACK", "RESULT", "FULL")
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
             "1w", "1M")  # fmt: skip
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)
#: the largest quantity and price the filters allow (LOT_SIZE maxQty, PRICE_FILTER maxPrice)
MAX_QTY = Decimal(9000)
MAX_PRICE = Decimal(1000000)
NO_ORDER = "Order does not exist."
UNKNOWN_ORDER = "Unknown order sent."
NO_FUNDS = "Account has insufficient balance for requested action."


def num(value: Decimal | str | None) -> str:
    """Binance's decimal string: plain notation, at least 8 fractional digits, never fewer
    than the value has (nothing the venue booked is rounded away)."""
    d = ZERO if value is None else Decimal(value)
    text = format(d.normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(8, '0')}"


def market_id(market: Market) -> str:
    return f"{market.base}{market.quote}"


def spot_markets(markets: Iterable[Market]) -> dict[str, Market]:
    """The spot markets by Binance symbol (`BTCUSDT`)."""
    return {market_id(m): m for m in markets if not m.is_swap}


def market_of(params: Mapping[str, str], markets: Mapping[str, Market]) -> Market:
    symbol = params.get("symbol")
    if not symbol:
        raise mandatory("symbol")
    if symbol.upper() not in markets:
        raise WireError(400, -1121, "Invalid symbol.")
    return markets[symbol.upper()]


def decimal_param(params: Mapping[str, str], name: str) -> Decimal | None:
    """A decimal parameter, -1100 when it is not a plain decimal number."""
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or text.strip() != text or "e" in text.lower():
        raise WireError(400, -1100, f"Illegal characters found in parameter '{name}'; legal "
                                    "range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")  # fmt: skip
    return value


def int_param(params: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise WireError(400, -1100, f"Illegal characters found in parameter '{name}'; legal "
                                    "range is '^[0-9]{1,20}$'.")  # fmt: skip
    return int(text)


# --- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderCall:
    """`PaperVenue.create_order` arguments for one Binance order request."""

    market: Market
    type: str  # limit | market
    side: str  # buy | sell
    qty: Decimal
    price: Decimal | None
    params: dict[str, Any] = field(default_factory=dict)
    resp_type: str = "FULL"


def enum_param(params: Mapping[str, str], name: str, allowed: tuple[str, ...], code: int,
          label: str) -> str:  # fmt: skip
    value = params.get(name, "")
    if not value:
        raise mandatory(name)
    if value.upper() not in allowed:
        raise WireError(400, code, f"Invalid {label}.")
    return value.upper()


def order_call(params: Mapping[str, str], markets: Mapping[str, Market]) -> OrderCall:
    """POST /api/v3/order: Binance's mandatory parameters per type, then its filters."""
    market = market_of(params, markets)
    side = enum_param(params, "side", ("BUY", "SELL"), -1117, "side")
    kind = enum_param(params, "type", ORDER_TYPES, -1116, "orderType")
    if params.get("quoteOrderQty"):
        raise WireError(400, -1014, "Unsupported order combination.")
    qty = decimal_param(params, "quantity")
    price = decimal_param(params, "price")
    stop = decimal_param(params, "stopPrice")
    limit = kind in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
    for name, value, needed in (("quantity", qty, True), ("price", price, limit),
                                ("stopPrice", stop, kind.startswith(("STOP", "TAKE")))):
        if needed and value is None:
            raise mandatory(name)
    extra: dict[str, Any] = {}
    if limit and kind != "LIMIT_MAKER":
        extra["timeInForce"] = enum_param(params, "timeInForce", TIME_IN_FORCE, -1115, "timeInForce")
    if kind == "LIMIT_MAKER":
        extra["postOnly"] = True
    if stop is not None and kind.startswith(("STOP", "TAKE")):
        extra["stopLossPrice" if kind.startswith("STOP") else "takeProfitPrice"] = stop
    if params.get("newClientOrderId"):
        extra["clientOrderId"] = params["newClientOrderId"]
    default_resp = "FULL" if kind in ("LIMIT", "MARKET") else "ACK"
    resp = params.get("newOrderRespType", default_resp).upper()
    if resp not in RESP_TYPES:
        raise WireError(400, -1100, "Illegal characters found in parameter 'newOrderRespType'.")
    assert qty is not None  # noqa: S101  (mandatory above)
    call = OrderCall(market, "limit" if limit else "market", side.lower(), qty,
                     price if limit else None, extra, resp)  # fmt: skip
    check_filters(call, stop)
    return call


def check_filters(call: OrderCall, stop: Decimal | None) -> None:
    """Binance's symbol filters (LOT_SIZE, PRICE_FILTER, NOTIONAL for priced orders): -1013."""
    m = call.market
    if qty_problem(m, call.qty) is not None or call.qty > MAX_QTY:
        raise WireError(400, -1013, "Filter failure: LOT_SIZE")
    for value in (call.price, stop):
        if value is not None and (price_problem(m, value) is not None or value > MAX_PRICE):
            raise WireError(400, -1013, "Filter failure: PRICE_FILTER")
    if call.price is not None and cost_problem(m, call.qty, call.price) is not None:
        raise WireError(400, -1013, "Filter failure: NOTIONAL")


def order_ref(params: Mapping[str, str], account_id: int) -> tuple[str, dict[str, str]]:
    """`orderId` or `origClientOrderId` as the engine's (id, params) lookup."""
    order_id = int_param(params, "orderId")
    if order_id is not None:
        return f"{account_id}-{order_id}", {}
    client = params.get("origClientOrderId")
    if not client:
        raise WireError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but "
                                    "both were empty/null!")  # fmt: skip
    return "", {"clientOrderId": client}


#: CCXT classes the paper venue raises, as Binance answers them (first match wins)
_ERRORS: tuple[tuple[type[Exception], int, int, str], ...] = (
    (ccxt.InsufficientFunds, 400, -2010, NO_FUNDS),
    (ccxt.OrderImmediatelyFillable, 400, -2010, "Order would immediately match and take."),
    (ccxt.BadSymbol, 400, -1121, "Invalid symbol."),
    (ccxt.RequestTimeout, 503, -1007, "Timeout waiting for response from backend server. Send "
                                      "status unknown; execution status unknown."),
    (ccxt.NetworkError, 503, -1001, "Internal error; unable to process your request. Please "
                                    "try again."),
)  # fmt: skip


def error_of(exc: Exception, not_found: str = NO_ORDER) -> WireError:
    """A paper refusal (a CCXT error) as Binance answers it."""
    if isinstance(exc, WireError):
        return exc
    text = str(exc).removeprefix("paper ")
    if isinstance(exc, ccxt.OrderNotFound):
        return WireError(400, -2013 if not_found == NO_ORDER else -2011, not_found)
    for cls, status, code, msg in _ERRORS:
        if isinstance(exc, cls):
            return WireError(status, code, msg)
    if isinstance(exc, ccxt.InvalidOrder):
        if "cost" in text and "minimum" in text:
            return WireError(400, -1013, "Filter failure: NOTIONAL")
        if "duplicate clientOrderId" in text:
            return WireError(400, -2010, "Duplicate order sent.")
        return WireError(400, -2010, text)
    if isinstance(exc, ccxt.BadRequest):
        return WireError(400, -1104, text)
    return WireError(500, -1000, "An unknown error occurred while processing the request.")


# --- results -----------------------------------------------------------------------------------


def seq_of(engine_id: str) -> int:
    """Binance's numeric id of an engine id (`<account>-<n>`, `<account>-T<n>`)."""
    return int(engine_id.rsplit("-", 1)[1].lstrip("T"))


def order_status(order: Mapping[str, Any]) -> str:
    status = order["status"]
    if status == "open":
        return "PARTIALLY_FILLED" if order["filled"] > 0 else "NEW"
    return {"closed": "FILLED", "canceled": "CANCELED", "expired": "EXPIRED"}.get(status,
                                                                                "REJECTED")


def order_type(order: Mapping[str, Any]) -> str:
    base = "MARKET" if order["type"] == "market" else "LIMIT"
    if order.get("stopLossPrice") is not None:
        return "STOP_LOSS" if base == "MARKET" else "STOP_LOSS_LIMIT"
    if order.get("takeProfitPrice") is not None:
        return "TAKE_PROFIT" if base == "MARKET" else "TAKE_PROFIT_LIMIT"
    return "LIMIT_MAKER" if order.get("postOnly") else base


def _tif(order: Mapping[str, Any]) -> str:
    tif = str(order.get("timeInForce") or "GTC").upper()
    return tif if tif in TIME_IN_FORCE else "GTC"


def order_json(order: Mapping[str, Any], market: Market) -> Json:
    """GET /api/v3/order (and the list endpoints)."""
    info = order["info"]
    return {
        "symbol": market_id(market),
        "orderId": seq_of(order["id"]),
        "orderListId": info.get("orderListId", -1),  # an order list's leg (`order_lists`)
        "clientOrderId": order["clientOrderId"] or order["id"],
        "price": num(info.get("price")),
        "origQty": num(order["amount"]),
        "executedQty": num(order["filled"]),
        "cummulativeQuoteQty": num(order["cost"]),
        "status": order_status(order),
        "timeInForce": _tif(order),
        "type": order_type(order),
        "side": order["side"].upper(),
        "stopPrice": num(order.get("triggerPrice")),
        "icebergQty": num(ZERO),
        "time": order["timestamp"],
        "updateTime": order["lastUpdateTimestamp"] or order["timestamp"],
        "isWorking": order.get("triggerPrice") is None or bool(info.get("triggered")),
        "workingTime": order["timestamp"],
        "origQuoteOrderQty": num(ZERO),
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def fill_json(trade: Mapping[str, Any]) -> Json:
    return {"price": num(trade["price"]), "qty": num(trade["amount"]),
            "commission": num(trade["fee"]["cost"]),
            "commissionAsset": trade["fee"]["currency"], "tradeId": seq_of(trade["id"])}  # fmt: skip


def new_order_json(order: Mapping[str, Any], market: Market, resp_type: str) -> Json:
    """POST /api/v3/order in the requested `newOrderRespType` (ACK, RESULT, FULL)."""
    full = order_json(order, market)
    ack = {k: full[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId")}
    ack["transactTime"] = order["timestamp"]
    if resp_type == "ACK":
        return ack
    result = {**ack, **{k: full[k] for k in ("price", "origQty", "executedQty",
              "origQuoteOrderQty", "cummulativeQuoteQty", "status", "timeInForce", "type",
              "side", "workingTime", "selfTradePreventionMode")}}  # fmt: skip
    if resp_type == "FULL":
        result["fills"] = [fill_json(t) for t in order.get("trades") or ()]
    return result


def canceled_json(order: Mapping[str, Any], market: Market, now_ms: int) -> Json:
    """DELETE /api/v3/order."""
    full = order_json(order, market)
    return {"symbol": full["symbol"], "origClientOrderId": full["clientOrderId"],
            "orderId": full["orderId"], "orderListId": full["orderListId"],
            "clientOrderId": full["clientOrderId"], "transactTime": now_ms,
            **{k: full[k] for k in ("price", "origQty", "executedQty", "cummulativeQuoteQty",
                                    "status", "timeInForce", "type", "side",
                                    "selfTradePreventionMode")}}  # fmt: skip


def trade_json(trade: Mapping[str, Any], market: Market, list_id: int = -1) -> Json:
    """GET /api/v3/myTrades (`list_id`: the order list of the trade's order, else -1)."""
    return {
        "symbol": market_id(market),
        "id": seq_of(trade["id"]),
        "orderId": seq_of(trade["order"]),
        "orderListId": list_id,
        "price": num(trade["price"]),
        "qty": num(trade["amount"]),
        "quoteQty": num(trade["cost"]),
        "commission": num(trade["fee"]["cost"]),
        "commissionAsset": trade["fee"]["currency"],
        "time": trade["timestamp"],
        "isBuyer": trade["side"] == "buy",
        "isMaker": trade["takerOrMaker"] == "maker",
        "isBestMatch": True,
    }


def balances_json(balance: Mapping[str, Any]) -> list[Json]:
    return [{"asset": c, "free": num(balance["free"][c]), "locked": num(balance["used"][c])}
            for c in sorted(balance["total"])]  # fmt: skip


def account_json(balance: Mapping[str, Any], maker: Decimal, taker: Decimal, uid: int) -> Json:
    """GET /api/v3/account."""
    return {
        "makerCommission": int(maker * 10000), "takerCommission": int(taker * 10000),
        "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": num(maker), "taker": num(taker), "buyer": num(ZERO),
                            "seller": num(ZERO)},
        "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
        "requireSelfTradePrevention": False, "preventSor": False,
        "updateTime": balance["timestamp"], "accountType": "SPOT",
        "balances": balances_json(balance), "permissions": ["SPOT"], "uid": uid,
    }  # fmt: skip


def cancel_replace_json(canceled: Json | WireError, placed: Json | WireError | None) -> Json:
    """The answer of POST /api/v3/order/cancelReplace, or its -2021 / -2022 refusal (which
    carries both halves' results)."""
    def half(result: Json | WireError | None) -> tuple[str, Json | None]:
        if result is None:
            return "NOT_ATTEMPTED", None
        if isinstance(result, WireError):
            return "FAILURE", result.body()
        return "SUCCESS", result

    cancel_result, cancel_response = half(canceled)
    new_result, new_response = half(placed)
    body: dict[str, object] = {"cancelResult": cancel_result, "newOrderResult": new_result,
            "cancelResponse": cancel_response, "newOrderResponse": new_response}  # fmt: skip
    if cancel_result == new_result == "SUCCESS":
        return body
    if "SUCCESS" in (cancel_result, new_result):
        raise WireError(409, -2021, "Order cancel-replace partially failed.", body)
    raise WireError(400, -2022, "Order cancel-replace failed.", body)
