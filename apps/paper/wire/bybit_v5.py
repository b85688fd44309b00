"""Bybit v5 (unified account: linear perpetuals and spot) as pure mappings: a request's
parameters to the paper engine's call, and the engine's CCXT-shaped results (Decimal numbers)
to Bybit's JSON (decimal strings) and its `retCode`s.

Position modes (`POSITION_MODE`, `switch-mode` 0 merged single / 3 both sides): a linear
order's `positionIdx` is 0 (or absent) in one-way mode, 1 (the buy side, long) or 2 (the sell
side, short) in hedge mode, where Sell 1 / Buy 2 close; the other mode's is 10001.

No I/O: `bybit_handlers` runs the calls, `server` speaks HTTP and websockets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.oms.domain.markets import Market, cost_problem, price_problem, qty_problem
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.wire.binance_spot import OrderCall, market_id
from apps.paper.wire.bybit_signing import BybitError, params_error
from apps.paper.wire.position_modes import PositionModeNames

Json = dict[str, Any]
#: the markets by category (`linear`, `spot`), each by Bybit symbol (`BTCUSDT` in both)
Listed = dict[str, dict[str, Market]]
CATEGORIES = ("linear", "spot")
ZERO = Decimal(0)
MAX_QTY = Decimal(9000)
MAX_PRICE = Decimal(1000000)
MAX_LEVERAGE = 100
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "PostOnly")
#: `switch-mode` mode 0 / 3; `positionIdx` 0 / 1 / 2
POSITION_MODE = PositionModeNames("0", "3", "0", "1", "2")
#: Bybit's kline intervals and the engine's timeframes
INTERVALS = {"1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "120": "2h",
             "240": "4h", "360": "6h", "720": "12h", "D": "1d", "W": "1w", "M": "1M"}  # fmt: skip
NOT_FOUND = BybitError(110001, "order not exists or too late to cancel")


def num(value: Decimal | str | None) -> str:
    """Bybit's decimal string: plain notation, no trailing zeros ("0" for nothing)."""
    d = ZERO if value is None else Decimal(value)
    text = format(d.normalize(), "f")
    return text if text != "-0" else "0"


def listed(markets: Iterable[Market]) -> Listed:
    """The USDT linear perpetuals and the spot pairs, each by Bybit symbol (`BTCUSDT`)."""
    chosen = list(markets)
    return {"linear": {market_id(m): m for m in chosen if m.is_swap},
            "spot": {market_id(m): m for m in chosen if not m.is_swap}}  # fmt: skip


def category_of(params: Mapping[str, str], allowed: tuple[str, ...] = CATEGORIES) -> str:
    category = params.get("category", "")
    if category not in allowed:
        raise params_error(f"category {category!r} is not served ({', '.join(allowed)})"
                           if category else "category is required")  # fmt: skip
    return category


def market_of(params: Mapping[str, str], markets: Listed,
              allowed: tuple[str, ...] = CATEGORIES) -> Market:  # fmt: skip
    """The market of `category` and `symbol` (10001 when either is missing or unknown)."""
    found = markets[category_of(params, allowed)]
    symbol = params.get("symbol", "")
    if not symbol:
        raise params_error("symbol is required")
    if symbol.upper() not in found:
        raise BybitError(10001, "symbol invalid")
    return found[symbol.upper()]


def decimal_param(params: Mapping[str, str], name: str) -> Decimal | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0 or "e" in text.lower():
        raise params_error(f"{name} invalid")
    return value


def int_param(params: Mapping[str, str], name: str, default: int, top: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or not 0 < int(text) <= top:
        raise params_error(f"{name} invalid")
    return int(text)


def _true(params: Mapping[str, str], name: str) -> bool:
    return str(params.get(name, "")).lower() in ("true", "1")


# --- requests ----------------------------------------------------------------------------------


#: what makes a Bybit order conditional or attaches TP/SL to it, which this venue does not serve
CONDITIONAL_KEYS = ("triggerPrice", "triggerDirection", "takeProfit", "stopLoss", "tpslMode")


def order_call(params: Mapping[str, str], markets: Listed, hedged: bool = False) -> OrderCall:
    """POST /v5/order/create: Limit (GTC, IOC, FOK, PostOnly) and Market, `reduceOnly`
    (linear), `orderLinkId`; a linear `positionIdx` the account's mode (`hedged`) does not take
    is refused as Bybit refuses it (10001); a spot market order counts its qty in the base coin
    only."""
    market = market_of(params, markets)
    side, kind = params.get("side", ""), params.get("orderType", "")
    conditional = [k for k in CONDITIONAL_KEYS if params.get(k)]
    if conditional:  # refused, never ignored: an ignored trigger would fill the order at once
        raise BybitError(10001, f"{', '.join(conditional)}: conditional orders and attached "
                                "take-profit / stop-loss are not served by this venue")
    if side not in ("Buy", "Sell"):
        raise params_error("side invalid")
    if kind not in ("Limit", "Market"):
        raise params_error("orderType invalid")
    position_side = "both"
    if not market.is_swap:
        _spot_rules(params, side, kind)
    else:
        position_side = POSITION_MODE.order_side(params.get("positionIdx"), hedged, BybitError(
            10001, "position idx not match position mode"))
    qty, price = decimal_param(params, "qty"), decimal_param(params, "price")
    if qty is None or qty == 0:
        raise params_error("qty is required")
    if kind == "Limit" and price is None:
        raise params_error("price is required for a Limit order")
    extra = _order_params(params, kind)
    if hedged and market.is_swap:
        extra["positionSide"] = position_side
    call = OrderCall(market, kind.lower(), side.lower(), qty,
                     price if kind == "Limit" else None, extra)  # fmt: skip
    check_limits(call)
    return call


def _order_params(params: Mapping[str, str], kind: str) -> dict[str, Any]:
    """The engine's time in force / post-only, reduce-only and client id of an order."""
    tif = params.get("timeInForce") or ("IOC" if kind == "Market" else "GTC")
    if tif not in TIME_IN_FORCE:
        raise params_error("timeInForce invalid")
    extra: dict[str, Any] = {}
    if kind == "Limit":
        extra.update({"postOnly": True} if tif == "PostOnly" else {"timeInForce": tif})
    if _true(params, "reduceOnly"):
        extra["reduceOnly"] = True
    if params.get("orderLinkId"):
        extra["clientOrderId"] = params["orderLinkId"]
    return extra


def _spot_rules(params: Mapping[str, str], side: str, kind: str) -> None:
    """What a spot order may not carry here: `reduceOnly` (Bybit's spot has none) and a market
    order in quote coin (Bybit's default for a market Buy: the engine sizes orders in base)."""
    if _true(params, "reduceOnly"):
        raise params_error("reduceOnly is not supported for spot")
    unit = params.get("marketUnit") or ("quoteCoin" if side == "Buy" else "baseCoin")
    if kind == "Market" and unit != "baseCoin":
        raise BybitError(10001, "marketUnit quoteCoin is not supported by this venue: send "
                                "marketUnit baseCoin (the qty in the base coin)")  # fmt: skip


def check_limits(call: OrderCall) -> None:
    """The instrument's lot size and price filters, as Bybit refuses them (spot with its
    1701xx codes)."""
    m = call.market
    if not m.is_swap:
        _check_spot(call)
        return
    if qty_problem(m, call.qty) is not None or call.qty > MAX_QTY:
        raise BybitError(10001, "Qty invalid")  # the step, minimum or maximum
    if call.price is not None and (price_problem(m, call.price) is not None
                                   or call.price > MAX_PRICE):  # fmt: skip
        raise BybitError(10001, "Price invalid")
    if call.price is not None and cost_problem(m, call.qty, call.price) is not None:
        raise BybitError(110094, "Order does not meet minimum order value")


def order_ref(params: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """`orderId` or `orderLinkId` as the engine's (id, params) lookup."""
    if params.get("orderId"):
        return params["orderId"], {}
    if params.get("orderLinkId"):
        return "", {"clientOrderId": params["orderLinkId"]}
    raise params_error("orderId or orderLinkId is required")


def _check_spot(call: OrderCall) -> None:
    m = call.market
    if call.qty % m.amount_step:
        raise BybitError(170137, "Order quantity has too many decimals.")
    if call.qty < m.min_amount:
        raise BybitError(170136, "Order quantity lower than the minimum.")
    if call.qty > MAX_QTY:
        raise BybitError(170135, "Order quantity exceeded upper limit.")
    if call.price is not None and (price_problem(m, call.price) is not None
                                   or call.price > MAX_PRICE):  # fmt: skip
        raise BybitError(170134, "Order price has too many decimals.")
    if call.price is not None and cost_problem(m, call.qty, call.price) is not None:
        raise BybitError(170140, "Order value exceeded lower limit.")


#: CCXT classes the paper venue raises, as Bybit answers them (first match wins)
_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (ccxt.InsufficientFunds, 110007, "ab not enough for new order"),
    (ccxt.OrderNotFound, 110001, "order not exists or too late to cancel"),
    (ccxt.OrderImmediatelyFillable, 10001, "PostOnly order would take liquidity"),
    (ccxt.BadSymbol, 10001, "symbol invalid"),
    (ccxt.NetworkError, 10016, "Internal system error."),
)


def error_of(exc: Exception, spot: bool = False) -> BybitError:
    """A paper refusal (a CCXT error) as Bybit answers it (spot's balance: 170131)."""
    if isinstance(exc, BybitError):
        return exc
    if spot and isinstance(exc, ccxt.InsufficientFunds):
        return BybitError(170131, "Insufficient balance.")
    text = str(exc).removeprefix("paper ")
    for cls, code, msg in _ERRORS:
        if isinstance(exc, cls):
            return BybitError(code, msg)
    if isinstance(exc, ccxt.InvalidOrder):
        if "duplicate clientOrderId" in text:
            return BybitError(110072, "OrderLinkedID is duplicate")
        if "reduce" in text.lower():
            return BybitError(110017, "Reduce-only rule not satisfied")
        return BybitError(10001, text)
    if isinstance(exc, ccxt.BadRequest):
        return BybitError(10001, text)
    return BybitError(10016, "Internal system error.")


# --- public data -------------------------------------------------------------------------------


def instrument_json(m: Market) -> Json:
    """One `list` entry of /v5/market/instruments-info?category=linear."""
    return {
        "symbol": market_id(m), "contractType": "LinearPerpetual", "status": "Trading",
        "baseCoin": m.base, "quoteCoin": m.quote, "settleCoin": m.settle or m.quote,
        "launchTime": "1585526400000", "deliveryTime": "0", "deliveryFeeRate": "",
        "priceScale": str(max(0, -int(m.price_step.normalize().as_tuple().exponent))),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": f"{MAX_LEVERAGE}.00",
                           "leverageStep": "0.01"},
        "priceFilter": {"minPrice": num(m.price_step), "maxPrice": num(MAX_PRICE),
                        "tickSize": num(m.price_step)},
        "lotSizeFilter": {"maxOrderQty": num(MAX_QTY), "minOrderQty": num(m.min_amount),
                          "qtyStep": num(m.amount_step), "postOnlyMaxOrderQty": num(MAX_QTY),
                          "maxMktOrderQty": num(MAX_QTY), "minNotionalValue": num(m.min_cost)},
        "unifiedMarginTrade": True, "fundingInterval": 480, "copyTrading": "both",
        "upperFundingRate": "0.00375", "lowerFundingRate": "-0.00375", "isPreListing": False,
        "preListingInfo": None,
    }  # fmt: skip


def spot_instrument_json(m: Market) -> Json:
    """One `list` entry of /v5/market/instruments-info?category=spot."""
    return {
        "symbol": market_id(m), "baseCoin": m.base, "quoteCoin": m.quote, "innovation": "0",
        "status": "Trading", "marginTrading": "none", "stTag": "0",
        "lotSizeFilter": {"basePrecision": num(m.amount_step), "quotePrecision": "0.00000001",
                          "minOrderQty": num(m.min_amount), "maxOrderQty": num(MAX_QTY),
                          "minOrderAmt": num(m.min_cost), "maxOrderAmt": "9000000"},
        "priceFilter": {"tickSize": num(m.price_step)},
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
    }  # fmt: skip


def ticker_json(m: Market, ticker: Mapping[str, Any], candles: Sequence[Sequence[Any]],
                now_ms: int) -> Json:  # fmt: skip
    """One /v5/market/tickers entry from the quote and the last day's hourly candles (no
    funding is charged: rate 0, next time the next 8-hour boundary)."""
    last = ticker["last"]
    opened = candles[0][1] if candles else last
    volume = sum((Decimal(c[5]) for c in candles), ZERO)
    eight_hours = 8 * 3_600_000
    if not m.is_swap:
        return {
            "symbol": market_id(m), "bid1Price": num(ticker["bid"]), "bid1Size": "1",
            "ask1Price": num(ticker["ask"]), "ask1Size": "1", "lastPrice": num(last),
            "prevPrice24h": num(opened),
            "price24hPcnt": num((last - opened) / opened if opened else ZERO),
            "highPrice24h": num(max([c[2] for c in candles] + [last])),
            "lowPrice24h": num(min([c[3] for c in candles] + [last])),
            "turnover24h": num(volume * last), "volume24h": num(volume),
            "usdIndexPrice": num(last),
        }  # fmt: skip
    return {
        "symbol": market_id(m), "lastPrice": num(last), "indexPrice": num(last),
        "markPrice": num(last), "prevPrice24h": num(opened),
        "price24hPcnt": num((last - opened) / opened if opened else ZERO),
        "highPrice24h": num(max([c[2] for c in candles] + [last])),
        "lowPrice24h": num(min([c[3] for c in candles] + [last])),
        "prevPrice1h": num(candles[-1][1] if candles else last), "openInterest": "0",
        "openInterestValue": "0", "turnover24h": num(volume * last), "volume24h": num(volume),
        "fundingRate": "0", "nextFundingTime": str((now_ms // eight_hours + 1) * eight_hours),
        "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "",
        "deliveryTime": "0", "ask1Size": "1", "bid1Price": num(ticker["bid"]),
        "ask1Price": num(ticker["ask"]), "bid1Size": "1", "basis": "",
    }  # fmt: skip


def orderbook_json(m: Market, book: Mapping[str, Any], seq: int, now_ms: int) -> Json:
    def side(levels: list[list[Decimal]]) -> list[list[str]]:
        return [[num(p), num(q)] for p, q in levels]

    return {"s": market_id(m), "b": side(book["bids"]), "a": side(book["asks"]), "ts": now_ms,
            "u": seq, "seq": seq, "cts": now_ms}  # fmt: skip


def kline_rows(rows: Sequence[Sequence[Any]], end: int | None) -> list[list[str]]:
    """/v5/market/kline's `list`: newest first, each [start, open, high, low, close, volume,
    turnover] as strings."""
    kept = [r for r in rows if end is None or r[0] <= end]
    return [[str(r[0]), num(r[1]), num(r[2]), num(r[3]), num(r[4]), num(Decimal(r[5])),
             num(Decimal(r[5]) * Decimal(r[4]))] for r in reversed(kept)]  # fmt: skip
