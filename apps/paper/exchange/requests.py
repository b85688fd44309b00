"""Turn CCXT-style `create_order` arguments and params into a core `OrderRequest`.

Numbers arrive as Decimal, int or str (a float is converted through its shortest repr, as CCXT's
`number_to_string` does, at this boundary only). Params understood: `clientOrderId`,
`timeInForce`, `postOnly`, `reduceOnly`, `triggerPrice` / `stopPrice`, `stopLossPrice`,
`takeProfitPrice`, `positionSide` (`long` / `short` in hedge mode, `both` or none in one-way
mode, any case, as Binance's LONG / SHORT / BOTH), `reserveGroup` (the venue's own: the orders
of one order list share a reservation, `PaperOrder.reserve_group`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apps.oms.domain.money import DecimalFormatError, parse_decimal
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.domain.state import BOTH, POSITION_SIDES, OrderRequest


def decimal_arg(value: Any, name: str) -> Decimal | None:
    """An exact Decimal from a CCXT argument or param, read by the one strict parser of every
    entry point (`parse_decimal`: plain ASCII syntax, at most 18 fractional digits; a float by
    its shortest repr); InvalidOrder otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ccxt.InvalidOrder(f"paper {name} must be a number")
    try:
        return parse_decimal(repr(value) if isinstance(value, float) else value)
    except DecimalFormatError as exc:
        raise ccxt.InvalidOrder(f"paper {name} is not a valid number: {exc}") from None


def _trigger(params: dict[str, Any]) -> tuple[Decimal | None, str | None]:
    for key, kind in (
        ("stopLossPrice", "stop_loss"),
        ("takeProfitPrice", "take_profit"),
        ("triggerPrice", "trigger"),
        ("stopPrice", "trigger"),
    ):
        if params.get(key) is not None:
            return decimal_arg(params[key], key), kind
    return None, None


def position_side_param(params: dict[str, Any]) -> str:
    """The `positionSide` param, lower case (BOTH when absent); InvalidOrder for another."""
    value = str(params.get("positionSide") or BOTH).lower()
    if value not in POSITION_SIDES:
        raise ccxt.InvalidOrder(f"paper positionSide must be long, short or both, got {value}")
    return value


def order_request(
    symbol: str, type_: str, side: str, amount: Any, price: Any, params: dict[str, Any]
) -> OrderRequest:
    """The core request for a CCXT `create_order` call (validation of values is the core's)."""
    qty = decimal_arg(amount, "amount")
    if qty is None:
        raise ccxt.ArgumentsRequired("paper create_order requires an amount")
    trigger_price, kind = _trigger(params)
    client_order_id = params.get("clientOrderId")
    group = params.get("reserveGroup")
    time_in_force = str(params.get("timeInForce") or "GTC").upper()
    return OrderRequest(
        symbol=symbol,
        side=str(side).lower(),
        type=str(type_).lower(),
        qty=qty,
        price=decimal_arg(price, "price") if str(type_).lower() == "limit" else None,
        client_order_id=None if client_order_id is None else str(client_order_id),
        time_in_force=time_in_force,
        post_only=bool(params.get("postOnly", False)),
        reduce_only=bool(params.get("reduceOnly", False)),
        trigger_price=trigger_price,
        trigger_kind=kind,
        position_side=position_side_param(params),
        reserve_group=None if group is None else str(group),
    )
