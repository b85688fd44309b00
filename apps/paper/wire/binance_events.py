"""Binance spot user-data events as pure mappings: `executionReport` per order change and fill,
`outboundAccountPosition` per balance change, from the engine's CCXT-shaped results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from apps.oms.domain.markets import Market
from apps.paper.wire.binance_spot import (
    ZERO,
    Json,
    balances_json,
    num,
    order_json,
    seq_of,
)


def execution_report(order: Mapping[str, Any], market: Market, now_ms: int, *,
                     execution: str, status: str | None = None,
                     trade: Mapping[str, Any] | None = None,
                     cum_qty: Decimal | None = None, cum_quote: Decimal | None = None) -> Json:  # fmt: skip
    """One `executionReport`: `execution` NEW, TRADE (with `trade`), CANCELED or EXPIRED;
    cumulative figures as of this event (the order's own when not given)."""
    o = order_json(order, market)
    fee = (trade or {}).get("fee") or {}
    return {
        "e": "executionReport", "E": now_ms, "s": o["symbol"], "c": o["clientOrderId"],
        "S": o["side"], "o": o["type"], "f": o["timeInForce"], "q": o["origQty"],
        "p": o["price"], "P": o["stopPrice"], "F": num(ZERO), "g": o["orderListId"],
        "C": o["clientOrderId"] if execution == "CANCELED" else "", "x": execution,
        "X": status or o["status"], "r": "NONE", "i": o["orderId"],
        "l": num(trade["amount"] if trade else ZERO),
        "z": num(order["filled"] if cum_qty is None else cum_qty),
        "L": num(trade["price"] if trade else ZERO),
        "n": num(fee.get("cost", ZERO)), "N": fee.get("currency"),
        "T": trade["timestamp"] if trade else o["updateTime"],
        "t": seq_of(trade["id"]) if trade else -1, "I": 0, "w": o["isWorking"],
        "m": bool(trade and trade["takerOrMaker"] == "maker"), "M": False,
        "O": o["time"], "Z": num(order["cost"] if cum_quote is None else cum_quote),
        "Y": num(trade["cost"] if trade else ZERO), "Q": num(ZERO), "W": o["workingTime"],
        "V": "EXPIRE_MAKER",
    }  # fmt: skip


def trade_reports(order: Mapping[str, Any], market: Market, trades: Sequence[Mapping[str, Any]],
                  now_ms: int) -> list[Json]:  # fmt: skip
    """TRADE reports for `trades` (the order's latest fills, oldest first), each with the
    cumulative quantity and quote as of that fill; the last carries the order's status."""
    later_qty = sum((t["amount"] for t in trades), ZERO)
    later_cost = sum((t["cost"] for t in trades), ZERO)
    done_qty, done_cost = order["filled"] - later_qty, order["cost"] - later_cost
    reports = []
    for i, trade in enumerate(trades):
        done_qty += trade["amount"]
        done_cost += trade["cost"]
        last = i == len(trades) - 1
        status = None if last and order["status"] != "canceled" else (
            "FILLED" if done_qty == order["amount"] else "PARTIALLY_FILLED")
        reports.append(execution_report(order, market, now_ms, execution="TRADE", status=status,
                                        trade=trade, cum_qty=done_qty, cum_quote=done_cost))
    if order["status"] == "canceled":  # the rest was canceled (a market order's unfilled part)
        reports.append(execution_report(order, market, now_ms, execution="CANCELED"))
    return reports


def new_order_reports(order: Mapping[str, Any], market: Market, now_ms: int) -> list[Json]:
    """A placed order: NEW, then a TRADE per fill it took at once."""
    trades = list(order.get("trades") or ())
    new = execution_report(order, market, now_ms, execution="NEW", status="NEW",
                           cum_qty=ZERO, cum_quote=ZERO)
    if order["status"] == "canceled" and not trades:  # IOC/FOK/market that took nothing
        return [new, execution_report(order, market, now_ms, execution="EXPIRED",
                                      status="EXPIRED")]
    return [new, *trade_reports(order, market, trades, now_ms)]


def account_position(balance: Mapping[str, Any], now_ms: int) -> Json:
    """`outboundAccountPosition`: every asset's free and locked balance."""
    return {"e": "outboundAccountPosition", "E": now_ms, "u": now_ms,
            "B": [{"a": b["asset"], "f": b["free"], "l": b["locked"]}
                  for b in balances_json(balance)]}  # fmt: skip
