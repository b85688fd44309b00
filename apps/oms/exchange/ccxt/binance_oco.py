"""Binance spot's own OCO (`POST /api/v3/orderList/oco`) as pure mappings: the gateway's two
legs to Binance's request, and its answer back to the legs' order structures.

CCXT has no unified OCO; its `binance` class reaches the endpoint as the implicit method
`privatePostOrderListOco` and parses each of the answer's `orderReports` as any order.
Binance's rules: both legs share side and quantity; a SELL's upper leg takes profit (a
`LIMIT_MAKER` or a `TAKE_PROFIT`) and its lower leg stops the loss (`STOP_LOSS`), a BUY's the
other way round; the moment either leg executes, partly included, Binance expires the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from apps.oms.ports import AnswerWithoutLegs, OcoLeg

#: the exchanges whose CCXT class places Binance's order list (spot markets only)
EXCHANGES = frozenset({"binance"})
METHOD = "privatePostOrderListOco"


def leg_type(leg: OcoLeg) -> str:
    """Binance's order type for a leg: a plain limit rests as `LIMIT_MAKER` (Binance's only
    plain limit in an order list: it is refused rather than taking liquidity)."""
    if leg.stop_price is not None:
        return "STOP_LOSS_LIMIT" if leg.type == "limit" else "STOP_LOSS"
    if leg.take_profit_price is not None:
        return "TAKE_PROFIT_LIMIT" if leg.type == "limit" else "TAKE_PROFIT"
    return "LIMIT_MAKER"


def above_below(side: str, legs: Sequence[OcoLeg]) -> tuple[OcoLeg, OcoLeg]:
    """(upper, lower) leg: the stop is below a SELL's other leg and above a BUY's."""
    stop = next((leg for leg in legs if leg.stop_price is not None), None)
    if stop is None or len(legs) != 2:
        raise ValueError("a Binance OCO has two legs, one of them a stop")
    other = legs[1] if stop is legs[0] else legs[0]
    return (stop, other) if side == "buy" else (other, stop)


def request(market_id: str, side: str, amount: str, legs: Sequence[OcoLeg],
            list_client_order_id: str, price: Callable[[Any], str]) -> dict[str, Any]:
    """The order list's parameters; `price` renders a price at the market's precision."""
    out: dict[str, Any] = {
        "symbol": market_id, "side": side.upper(), "quantity": amount,
        "listClientOrderId": list_client_order_id, "newOrderRespType": "FULL",
    }  # fmt: skip
    for prefix, leg in zip(("above", "below"), above_below(side, legs), strict=True):
        kind = leg_type(leg)
        out[f"{prefix}Type"] = kind
        out[f"{prefix}ClientOrderId"] = leg.client_order_id
        if kind in ("LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
            if leg.price is None:
                raise ValueError(f"a {kind} leg needs a price")
            out[f"{prefix}Price"] = price(leg.price)
        trigger = leg.stop_price if leg.stop_price is not None else leg.take_profit_price
        if trigger is not None:
            out[f"{prefix}StopPrice"] = price(trigger)
        if kind.endswith("_LIMIT"):
            out[f"{prefix}TimeInForce"] = "GTC"
    return out


def reports_by_leg(answer: Mapping[str, Any], legs: Sequence[OcoLeg]) -> list[dict[str, Any]]:
    """The answer's order report of each leg, in the legs' order (matched by client order
    id: Binance lists the lower leg first)."""
    reports = {str(r.get("clientOrderId")): r for r in answer.get("orderReports") or []}
    missing = [leg.client_order_id for leg in legs if leg.client_order_id not in reports]
    if missing:
        raise AnswerWithoutLegs(f"the order list's answer has no report of "
                                f"{', '.join(missing)}")
    return [dict(reports[leg.client_order_id]) for leg in legs]
