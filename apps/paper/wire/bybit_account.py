"""Bybit v5 private results as pure mappings: orders, executions, positions and the unified
wallet from the engine's CCXT-shaped results, the same shapes the private stream sends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from apps.oms.domain.markets import Market
from apps.paper.wire.binance_spot import market_id
from apps.paper.wire.bybit_v5 import POSITION_MODE, ZERO, Json, num


def order_status(order: Mapping[str, Any]) -> str:
    status = order["status"]
    if status == "open":
        return "PartiallyFilled" if order["filled"] > 0 else "New"
    if status == "closed":
        return "Filled"
    if status in ("canceled", "expired"):
        return "PartiallyFilledCanceled" if order["filled"] > 0 else "Cancelled"
    return "Rejected"


#: keys Bybit sends for contracts only (CCXT tells a spot row from a contract one by them)
CONTRACT_ORDER_KEYS = ("tpslMode", "positionIdx", "closeOnTrigger", "reduceOnly")
CONTRACT_EXECUTION_KEYS = ("createType", "closedSize")


def order_json(order: Mapping[str, Any], market: Market) -> Json:
    """One order of /v5/order/realtime and /v5/order/history (and the `order` topic)."""
    row = _order_row(order, market)
    return row if market.is_swap else {k: v for k, v in row.items()
                                       if k not in CONTRACT_ORDER_KEYS}  # fmt: skip


def _order_row(order: Mapping[str, Any], market: Market) -> Json:
    kind = "Market" if order["type"] == "market" else "Limit"
    tif = "PostOnly" if order.get("postOnly") else str(order.get("timeInForce") or "GTC").upper()
    average = order["cost"] / order["filled"] if order["filled"] else None
    leaves = order["amount"] - order["filled"] if order["status"] == "open" else ZERO
    price = order["price"] if kind == "Limit" else None
    fee = (order.get("fee") or {}).get("cost")
    fee_coin = (order.get("fee") or {}).get("currency")
    return {
        "orderId": order["id"], "orderLinkId": order["clientOrderId"] or "",
        "blockTradeId": "", "symbol": market_id(market), "price": num(price),
        "qty": num(order["amount"]), "side": order["side"].capitalize(), "isLeverage": "",
        "positionIdx": position_idx(order["info"]), "orderStatus": order_status(order),
        "cancelType": "CancelByUser" if order["status"] == "canceled" else "UNKNOWN",
        "rejectReason": "EC_NoError", "avgPrice": "" if average is None else num(average),
        "leavesQty": num(leaves), "leavesValue": num(leaves * (price or ZERO)),
        "cumExecQty": num(order["filled"]), "cumExecValue": num(order["cost"]),
        "cumExecFee": num(fee), "cumFeeDetail": {fee_coin: num(fee)} if fee_coin and fee else {},
        "timeInForce": tif,
        "orderType": kind, "stopOrderType": "", "orderIv": "", "triggerPrice": "",
        "takeProfit": "", "stopLoss": "", "tpTriggerBy": "", "slTriggerBy": "",
        "triggerDirection": 0, "triggerBy": "", "lastPriceOnCreated": "",
        "reduceOnly": bool(order.get("reduceOnly")), "closeOnTrigger": False,
        "smpType": "None", "smpGroup": 0, "smpOrderId": "", "tpslMode": "",
        "tpLimitPrice": "", "slLimitPrice": "", "placeType": "",
        "createdTime": str(order["timestamp"]),
        "updatedTime": str(order["lastUpdateTimestamp"] or order["timestamp"]),
    }  # fmt: skip


def execution_json(trade: Mapping[str, Any], order: Mapping[str, Any], market: Market) -> Json:
    """One fill of /v5/execution/list (and the `execution` topic)."""
    row = _execution_row(trade, order, market)
    return row if market.is_swap else {k: v for k, v in row.items()
                                       if k not in CONTRACT_EXECUTION_KEYS}  # fmt: skip


def _execution_row(trade: Mapping[str, Any], order: Mapping[str, Any], market: Market) -> Json:
    fee = trade.get("fee") or {}
    o = order_json(order, market)
    return {
        "symbol": market_id(market), "orderId": trade["order"], "orderLinkId": o["orderLinkId"],
        "side": trade["side"].capitalize(), "orderPrice": o["price"], "orderQty": o["qty"],
        "leavesQty": o["leavesQty"], "createType": "CreateByUser", "orderType": o["orderType"],
        "stopOrderType": "", "execFee": num(fee.get("cost")), "feeCurrency": fee.get("currency"),
        "feeCoin": fee.get("currency"),
        "execId": trade["id"], "execPrice": num(trade["price"]),
        "execQty": num(trade["amount"]), "execType": "Trade",
        "execValue": num(trade["cost"]), "execTime": str(trade["timestamp"]),
        "isMaker": trade["takerOrMaker"] == "maker",
        "feeRate": num(fee.get("rate") or market.taker_fee), "tradeIv": "", "markIv": "",
        "markPrice": num(trade["price"]), "indexPrice": "", "underlyingPrice": "",
        "blockTradeId": "", "closedSize": "0", "seq": int(trade["timestamp"]),
    }  # fmt: skip


def position_idx(info: Mapping[str, Any]) -> int:
    """Bybit's `positionIdx` of an engine record's `info`: 0 one-way, 1 long, 2 short."""
    return int(POSITION_MODE.raw_side(str(info.get("position_side") or "both")))


def position_json(market: Market, position: Mapping[str, Any] | None, leverage: int,
                  mark: Decimal, now_ms: int, position_side: str = "both") -> Json:  # fmt: skip
    """One /v5/position/list entry (a flat symbol or side: size 0, side ""); in hedge mode one
    per side (`position_side` long / short: positionIdx 1 / 2)."""
    p = position or {}
    size = p.get("contracts") or ZERO
    side = "" if not size else ("Buy" if p["side"] == "long" else "Sell")
    entry = p.get("entryPrice") or ZERO
    return {
        "positionIdx": int(POSITION_MODE.raw_side(position_side)), "riskId": 1,
        "riskLimitValue": "2000000", "symbol": market_id(market),
        "side": side, "size": num(size), "avgPrice": num(entry),
        "positionValue": num(size * entry * market.contract_size), "tradeMode": 0,
        "positionStatus": "Normal", "autoAddMargin": 0, "adlRankIndicator": 0,
        "leverage": str(leverage), "positionBalance": num(p.get("initialMargin")),
        "markPrice": num(mark), "liqPrice": num(p.get("liquidationPrice")) if size else "",
        "bustPrice": "", "positionMM": num(p.get("maintenanceMargin")),
        "positionIM": num(p.get("initialMargin")), "tpslMode": "Full", "takeProfit": "0",
        "stopLoss": "0", "trailingStop": "0", "unrealisedPnl": num(p.get("unrealizedPnl")),
        "curRealisedPnl": num(p.get("realizedPnl")), "cumRealisedPnl": num(p.get("realizedPnl")),
        "seq": now_ms, "isReduceOnly": False, "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "", "createdTime": str(p.get("timestamp") or now_ms),
        "updatedTime": str(p.get("lastUpdateTimestamp") or now_ms),
    }  # fmt: skip


def wallet_json(balance: Mapping[str, Any], positions: Sequence[Json]) -> Json:
    """The UNIFIED account of /v5/account/wallet-balance (and the `wallet` topic): its coins
    (USD value = the USDT amount; other coins are not valued)."""
    upl = sum((Decimal(p["unrealisedPnl"]) for p in positions), ZERO)
    im = sum((Decimal(p["positionIM"]) for p in positions), ZERO)
    coins = []
    for coin in sorted(balance["total"]):
        total, used, free = (balance[k].get(coin, ZERO) for k in ("total", "used", "free"))
        coin_upl = upl if coin == "USDT" else ZERO
        coins.append({
            "coin": coin, "equity": num(total + coin_upl), "walletBalance": num(total),
            "usdValue": num(total + coin_upl) if coin == "USDT" else "0",
            "free": "", "locked": "0", "availableToWithdraw": num(free),
            "borrowAmount": "0", "accruedInterest": "0",
            "totalOrderIM": num(max(used - im, ZERO) if coin == "USDT" else used),
            "totalPositionIM": num(im if coin == "USDT" else ZERO), "totalPositionMM": "0",
            "unrealisedPnl": num(coin_upl), "cumRealisedPnl": "0", "bonus": "0",
            "collateralSwitch": True, "marginCollateral": True, "spotHedgingQty": "0",
        })  # fmt: skip
    usdt = balance["total"].get("USDT", ZERO)
    free = balance["free"].get("USDT", ZERO)
    return {
        "accountType": "UNIFIED", "accountIMRate": "0", "accountMMRate": "0",
        "accountLTV": "0", "totalEquity": num(usdt + upl), "totalWalletBalance": num(usdt),
        "totalMarginBalance": num(usdt + upl), "totalAvailableBalance": num(free),
        "totalPerpUPL": num(upl), "totalInitialMargin": num(usdt - free),
        "totalMaintenanceMargin": "0", "coin": coins,
    }  # fmt: skip
