"""Binance USDⓈ-M futures (`/fapi/v1`–`v3`) as pure mappings: a request's parameters to the
paper engine's call, and the engine's CCXT-shaped results (Decimal numbers) to Binance's JSON
(decimal strings).

Position modes (`POSITION_MODE`, `dualSidePosition`): in one-way mode an order's `positionSide`
is BOTH (or absent); in hedge mode LONG or SHORT, closing by side + positionSide (SELL LONG,
BUY SHORT), and `reduceOnly` is not taken (-1106); the other side is -4061. Positions, orders,
trades and the stream's `ps` carry the side.

No I/O: `usdm_handlers` runs the calls, `server` speaks HTTP and websockets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from apps.oms.domain.markets import Market
from apps.paper.wire.binance_spot import (
    MAX_PRICE,
    MAX_QTY,
    ZERO,
    Json,
    OrderCall,
    check_filters,
    decimal_param,
    enum_param,
    market_id,
    market_of,
    num,
    order_status,
    seq_of,
)
from apps.paper.wire.position_modes import PositionModeNames
from apps.paper.wire.signing import WireError, mandatory

ORDER_TYPES = ("LIMIT", "MARKET")
#: conditional types, which Binance now takes on its Algo Order API only (-4120 here)
ALGO_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX")
POSITION_SIDE_MISMATCH = WireError(400, -4061, "Order's position side does not match user's "
                                               "setting.")  # fmt: skip
REDUCE_ONLY_IN_HEDGE = WireError(400, -1106, "Parameter 'reduceonly' sent when not required.")
#: `dualSidePosition` false / true; `positionSide` BOTH / LONG / SHORT
POSITION_MODE = PositionModeNames("false", "true", "BOTH", "LONG", "SHORT")
MARGIN_FUNDS = "Margin is insufficient."
PERPETUAL_DELIVERY = 4133404800000


def usdm_markets(markets: Iterable[Market]) -> dict[str, Market]:
    """The linear perpetuals by Binance symbol (`BTCUSDT`)."""
    return {market_id(m): m for m in markets if m.is_swap}


def _precision(step: Decimal) -> int:
    return max(0, -int(step.normalize().as_tuple().exponent))


def symbol_json(m: Market) -> Json:
    """One `symbols` entry of /fapi/v1/exchangeInfo."""
    return {
        "symbol": market_id(m), "pair": market_id(m), "contractType": "PERPETUAL",
        "deliveryDate": PERPETUAL_DELIVERY, "onboardDate": 1569398400000, "status": "TRADING",
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": m.base, "quoteAsset": m.quote, "marginAsset": m.settle or m.quote,
        "pricePrecision": _precision(m.price_step),
        "quantityPrecision": _precision(m.amount_step), "baseAssetPrecision": 8,
        "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
        "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": num(m.price_step),
             "maxPrice": num(MAX_PRICE), "tickSize": num(m.price_step)},
            {"filterType": "LOT_SIZE", "minQty": num(m.min_amount), "maxQty": num(MAX_QTY),
             "stepSize": num(m.amount_step)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": num(m.min_amount),
             "maxQty": num(MAX_QTY), "stepSize": num(m.amount_step)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": num(m.min_cost)},
        ],
        "orderTypes": list(ORDER_TYPES), "timeInForce": list(TIME_IN_FORCE),
    }  # fmt: skip


def exchange_info(markets: Mapping[str, Market], now_ms: int) -> Json:
    return {
        "timezone": "UTC", "serverTime": now_ms, "futuresType": "U_MARGINED",
        "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                        "intervalNum": 1, "limit": 2400},
                       {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
                        "limit": 1200}],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [symbol_json(m) for m in markets.values()],
    }  # fmt: skip


def _bool(params: Mapping[str, str], name: str) -> bool:
    return str(params.get(name, "false")).lower() == "true"


def order_call(params: Mapping[str, str], markets: Mapping[str, Market],
               hedged: bool = False) -> OrderCall:  # fmt: skip
    """POST /fapi/v1/order: LIMIT (GTC, IOC, FOK, GTX = post only) and MARKET. One-way mode:
    `positionSide` BOTH (or none), `reduceOnly` taken; hedge mode (`hedged`): LONG or SHORT,
    `reduceOnly` refused (-1106); the wrong side is -4061."""
    market = market_of(params, markets)
    side = enum_param(params, "side", ("BUY", "SELL"), -1117, "side")
    kind = enum_param(params, "type", (*ORDER_TYPES, *ALGO_TYPES), -1116, "orderType")
    if kind not in ORDER_TYPES:
        raise WireError(400, -4120, "Order type not supported for this endpoint. Please use the "
                                    "Algo Order API endpoints instead.")  # fmt: skip
    position_side = POSITION_MODE.order_side(params.get("positionSide"), hedged,
                                             POSITION_SIDE_MISMATCH)  # fmt: skip
    if hedged and "reduceOnly" in params:
        raise REDUCE_ONLY_IN_HEDGE
    qty = decimal_param(params, "quantity")
    price = decimal_param(params, "price")
    if qty is None:
        raise mandatory("quantity")
    extra: dict[str, Any] = {}
    if kind == "LIMIT":
        if price is None:
            raise mandatory("price")
        tif = enum_param(params, "timeInForce", TIME_IN_FORCE, -1115, "timeInForce")
        extra.update({"postOnly": True} if tif == "GTX" else {"timeInForce": tif})
    if _bool(params, "reduceOnly"):
        extra["reduceOnly"] = True
    if hedged:
        extra["positionSide"] = position_side
    if params.get("newClientOrderId"):
        extra["clientOrderId"] = params["newClientOrderId"]
    call = OrderCall(market, kind.lower(), side.lower(), qty,
                     price if kind == "LIMIT" else None, extra, "RESULT")  # fmt: skip
    check_filters(call, None)
    return call


def order_json(order: Mapping[str, Any], market: Market) -> Json:
    """GET /fapi/v1/order (and POST/DELETE answers, the list endpoints)."""
    info = order["info"]
    kind = "MARKET" if order["type"] == "market" else "LIMIT"
    tif = "GTX" if order.get("postOnly") else str(order.get("timeInForce") or "GTC").upper()
    average = order["cost"] / order["filled"] if order["filled"] else ZERO
    return {
        "orderId": seq_of(order["id"]), "symbol": market_id(market),
        "status": order_status(order), "clientOrderId": order["clientOrderId"] or order["id"],
        "price": num(info.get("price")), "avgPrice": num(average),
        "origQty": num(order["amount"]), "executedQty": num(order["filled"]),
        "cumQty": num(order["filled"]), "cumQuote": num(order["cost"]),
        "timeInForce": tif if tif in TIME_IN_FORCE else "GTC", "type": kind,
        "reduceOnly": bool(order.get("reduceOnly")), "closePosition": False,
        "side": order["side"].upper(), "positionSide": _side(info), "stopPrice": num(ZERO),
        "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": kind,
        "priceMatch": "NONE", "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
        "time": order["timestamp"],
        "updateTime": order["lastUpdateTimestamp"] or order["timestamp"],
    }  # fmt: skip


def trade_json(trade: Mapping[str, Any], market: Market) -> Json:
    """GET /fapi/v1/userTrades (`realizedPnl` is not recorded per fill by the engine: 0)."""
    return {
        "buyer": trade["side"] == "buy", "commission": num(trade["fee"]["cost"]),
        "commissionAsset": trade["fee"]["currency"], "id": seq_of(trade["id"]),
        "maker": trade["takerOrMaker"] == "maker", "orderId": seq_of(trade["order"]),
        "price": num(trade["price"]), "qty": num(trade["amount"]),
        "quoteQty": num(trade["cost"]), "realizedPnl": num(ZERO),
        "side": trade["side"].upper(), "positionSide": _side(trade["info"]),
        "symbol": market_id(market),
        "time": trade["timestamp"],
    }  # fmt: skip


def _side(info: Mapping[str, Any]) -> str:
    """The Binance `positionSide` of an engine record's `info` (BOTH when it has none)."""
    return POSITION_MODE.raw_side(str(info.get("position_side") or "both"))


def position_json(market: Market, position: Mapping[str, Any] | None, leverage: int,
                  margin_mode: str, mark: Decimal, now_ms: int,
                  position_side: str = "both") -> Json:  # fmt: skip
    """One /fapi/v2 and /fapi/v3 `positionRisk` entry (a flat symbol or side: zeros); in hedge
    mode one per side (`position_side` long / short)."""
    p = position or {}
    signed = Decimal(0)
    if p:
        signed = p["contracts"] if p["side"] == "long" else -p["contracts"]
    notional = signed * market.contract_size * mark
    isolated = margin_mode == "isolated"
    initial = p.get("initialMargin") or ZERO
    return {
        "symbol": market_id(market), "positionSide": POSITION_MODE.raw_side(position_side),
        "positionAmt": num(signed),
        "entryPrice": num(p.get("entryPrice")), "breakEvenPrice": num(p.get("entryPrice")),
        "markPrice": num(mark), "unRealizedProfit": num(p.get("unrealizedPnl")),
        "liquidationPrice": num(p.get("liquidationPrice")),
        "isolatedMargin": num(p.get("collateral") if isolated and p else ZERO),
        "notional": num(notional), "marginAsset": market.settle or market.quote,
        "isolatedWallet": num(initial if isolated else ZERO), "initialMargin": num(initial),
        "maintMargin": num(p.get("maintenanceMargin")), "positionInitialMargin": num(initial),
        "openOrderInitialMargin": num(ZERO), "adl": 0, "bidNotional": num(ZERO),
        "askNotional": num(ZERO), "updateTime": p.get("lastUpdateTimestamp") or now_ms,
        "leverage": str(leverage), "marginType": margin_mode, "isAutoAddMargin": "false",
        "maxNotionalValue": "250000",
    }  # fmt: skip


def asset_json(balance: Mapping[str, Any], unrealized: Decimal, now_ms: int) -> Json:
    """The USDT entry of `assets` (/fapi/v2|v3/account) and of /fapi/v2/balance."""
    total, used, free = (balance[k].get("USDT", ZERO) for k in ("total", "used", "free"))
    return {
        "asset": "USDT", "accountAlias": "paper", "walletBalance": num(total),
        "balance": num(total), "unrealizedProfit": num(unrealized),
        "marginBalance": num(total + unrealized), "maintMargin": num(ZERO),
        "initialMargin": num(used), "positionInitialMargin": num(used),
        "openOrderInitialMargin": num(ZERO), "crossWalletBalance": num(total),
        "crossUnPnl": num(unrealized), "availableBalance": num(free),
        "maxWithdrawAmount": num(free), "marginAvailable": True, "updateTime": now_ms,
    }  # fmt: skip


def account_json(balance: Mapping[str, Any], positions: Sequence[Json], now_ms: int) -> Json:
    unrealized = sum((Decimal(p["unRealizedProfit"]) for p in positions), ZERO)
    asset = asset_json(balance, unrealized, now_ms)
    return {
        "totalInitialMargin": asset["initialMargin"], "totalMaintMargin": asset["maintMargin"],
        "totalWalletBalance": asset["walletBalance"],
        "totalUnrealizedProfit": asset["unrealizedProfit"],
        "totalMarginBalance": asset["marginBalance"],
        "totalPositionInitialMargin": asset["positionInitialMargin"],
        "totalOpenOrderInitialMargin": num(ZERO),
        "totalCrossWalletBalance": asset["crossWalletBalance"],
        "totalCrossUnPnl": asset["crossUnPnl"], "availableBalance": asset["availableBalance"],
        "maxWithdrawAmount": asset["maxWithdrawAmount"], "canTrade": True,
        "feeTier": 0, "updateTime": now_ms,
        "assets": [asset],
        "positions": [p for p in positions if Decimal(p["positionAmt"]) != 0],
    }  # fmt: skip


def bracket_json(market: Market, tiers: Sequence[Mapping[str, Any]]) -> Json:
    """/fapi/v1/leverageBracket for one symbol, from the engine's leverage tiers."""
    return {"symbol": market_id(market), "notionalCoef": 1.0, "brackets": [
        {"bracket": int(t["tier"]), "initialLeverage": int(t["maxLeverage"]),
         "notionalCap": int(t["maxNotional"]), "notionalFloor": int(t["minNotional"]),
         "maintMarginRatio": float(t["maintenanceMarginRate"]),
         "cum": float(t["info"].get("cum", 0))}
        for t in tiers]}  # fmt: skip


def order_update(order: Mapping[str, Any], market: Market, now_ms: int, *, execution: str,
                 status: str | None = None, trade: Mapping[str, Any] | None = None,
                 cum_qty: Decimal | None = None) -> Json:  # fmt: skip
    """`ORDER_TRADE_UPDATE` of the user-data stream."""
    o = order_json(order, market)
    fee = (trade or {}).get("fee") or {}
    return {"e": "ORDER_TRADE_UPDATE", "E": now_ms, "T": now_ms, "o": {
        "s": o["symbol"], "c": o["clientOrderId"], "S": o["side"], "o": o["type"],
        "f": o["timeInForce"], "q": o["origQty"], "p": o["price"], "ap": o["avgPrice"],
        "sp": o["stopPrice"], "x": execution, "X": status or o["status"], "i": o["orderId"],
        "l": num(trade["amount"] if trade else ZERO),
        "z": num(order["filled"] if cum_qty is None else cum_qty),
        "L": num(trade["price"] if trade else ZERO), "N": fee.get("currency"),
        "n": num(fee.get("cost", ZERO)), "T": trade["timestamp"] if trade else o["updateTime"],
        "t": seq_of(trade["id"]) if trade else 0, "b": num(ZERO), "a": num(ZERO),
        "m": bool(trade and trade["takerOrMaker"] == "maker"), "R": o["reduceOnly"],
        "wt": "CONTRACT_PRICE", "ot": o["type"], "ps": o["positionSide"], "cp": False,
        "rp": num(ZERO), "pP": False, "si": 0, "ss": 0, "V": "EXPIRE_MAKER", "pm": "NONE",
        "gtd": 0}}  # fmt: skip


def account_update(balance: Mapping[str, Any], positions: Sequence[Json], now_ms: int) -> Json:
    """`ACCOUNT_UPDATE`: the USDT wallet and the positions of the symbols that changed."""
    total = balance["total"].get("USDT", ZERO)
    return {"e": "ACCOUNT_UPDATE", "E": now_ms, "T": now_ms, "a": {
        "m": "ORDER",
        "B": [{"a": "USDT", "wb": num(total), "cw": num(total), "bc": num(ZERO)}],
        "P": [{"s": p["symbol"], "pa": p["positionAmt"], "ep": p["entryPrice"],
               "bep": p["breakEvenPrice"], "cr": num(ZERO), "up": p["unRealizedProfit"],
               "mt": p["marginType"], "iw": p["isolatedWallet"], "ps": p["positionSide"]}
              for p in positions]}}  # fmt: skip
