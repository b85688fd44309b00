"""Which order fields a venue honours, and the refusal of every field it would not.

A field the gateway accepts is a promise. A new order names fields that only the venue can
execute (its type, time in force, post-only, trigger prices, CCXT `params`); if the account's
venue cannot execute one, the order would go out without it (a reduce-only trailing stop as an
immediate market sell). So acceptance asks `check_honoured` with the venue's `OrderFeatures` and
refuses such an order with 422 `not_supported`, naming the field, before anything is written.

The venue's features are built by the exchange adapter (`apps/oms/exchange/order_features.py`):
the paper venue's from what its matching engine executes, a CCXT exchange's from CCXT's own
`features` description of its `createOrder`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from apps.oms.domain.errors import NotSupported, OrderFieldConflict

#: CCXT `params` keys that are first-class command fields: given in `params` they would bypass
#: the gateway (the books, the risk checks) or be overwritten by the field, so they are refused
#: with the field to use instead
FIELD_PARAMS: Mapping[str, str] = {
    "clientOrderId": "client_order_id", "timeInForce": "time_in_force",
    "postOnly": "post_only", "reduceOnly": "reduce_only", "triggerPrice": "trigger_price",
    "stopPrice": "stop_price", "takeProfitPrice": "take_profit_price",
    "trailingAmount": "trailing_amount", "trailingPercent": "trailing_percent",
}  # fmt: skip
#: CCXT `params` that would make the venue do what the gateway's books cannot follow
UNBOOKED_PARAMS: Mapping[str, str] = {
    "stopLoss": "an attached stop-loss is a second venue order the books do not hold: "
                "use oms_stop_loss (a gateway-held stop on the position)",
    "takeProfit": "an attached take-profit is a second venue order the books do not hold: "
                  "use oms_stop_gain (a gateway-held target on the position)",
    "trailingTriggerPrice": "trailing stops are not executed by the gateway yet",
}  # fmt: skip
TRAILING_REASON = (
    "trailing stops are not executed by the gateway yet: the order would go out as a plain "
    "order, so it is refused"
)
TRIGGER_FIELDS = ("trigger_price", "stop_price", "take_profit_price")


@dataclass(frozen=True, slots=True)
class OrderFeatures:
    """What a venue executes of a new order in one kind of market (spot, linear or inverse
    swap, future)."""

    venue: str  # named in refusals ("paper", "binance swap linear")
    #: order types it executes; None: any type, the venue refuses what it lacks (CCXT passes
    #: an exchange's own types, e.g. `stop_market`, through to the exchange)
    order_types: frozenset[str] | None
    #: time-in-force values it executes (GTC, IOC, FOK, PO); post-only is `PO`
    time_in_force: frozenset[str]
    trigger_price: bool  # a conditional order (`trigger_price`, `stop_price`)
    take_profit_price: bool
    #: `params` keys it reads; None: every key goes to the exchange as it is (it decides)
    params: frozenset[str] | None
    #: `params` keys it is known not to execute, with the reason
    refused_params: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class OrderAsk:
    """The venue-executed fields of a new order (`send_order`, `close_position`)."""

    order_type: str
    time_in_force: str | None = None
    post_only: bool = False
    trigger_price: bool = False
    stop_price: bool = False
    take_profit_price: bool = False
    trailing_amount: bool = False
    trailing_percent: bool = False
    params: frozenset[str] = frozenset()
    #: command fields, which are never venue params
    fields: frozenset[str] = frozenset()


def check_honoured(ask: OrderAsk, venue: OrderFeatures) -> None:
    """Refuse (`NotSupported`, `OrderFieldConflict`) the first field of `ask` that `venue`
    would not execute as asked; return when it executes all of them."""
    _check_trailing(ask, venue)
    _check_one_trigger(ask)
    _check_type_and_time(ask, venue)
    _check_triggers(ask, venue)
    for key in sorted(ask.params):
        _check_param(key, ask.fields, venue)


def _check_trailing(ask: OrderAsk, venue: OrderFeatures) -> None:
    for name, given in (("trailing_amount", ask.trailing_amount),
                        ("trailing_percent", ask.trailing_percent)):
        if given:
            raise NotSupported(TRAILING_REASON, name, venue.venue)


def _check_one_trigger(ask: OrderAsk) -> None:
    triggers = [n for n in TRIGGER_FIELDS if getattr(ask, n)]
    if "stopLossPrice" in ask.params:
        triggers.append("params.stopLossPrice")
    if len(triggers) > 1:
        raise OrderFieldConflict(
            f"give one trigger of an order, not {' and '.join(triggers)}", field=triggers[1]
        )


def _check_type_and_time(ask: OrderAsk, venue: OrderFeatures) -> None:
    if venue.order_types is not None and ask.order_type not in venue.order_types:
        raise NotSupported(
            f"order type {ask.order_type!r} is not executed on {venue.venue} "
            f"(it executes {', '.join(sorted(venue.order_types))})",
            "order_type", venue.venue,
        )
    if ask.time_in_force is not None and ask.time_in_force not in venue.time_in_force:
        raise NotSupported(f"time_in_force {ask.time_in_force} is not executed on {venue.venue}",
                           "time_in_force", venue.venue)
    if ask.post_only and "PO" not in venue.time_in_force:
        raise NotSupported(f"post-only orders are not executed on {venue.venue}", "post_only",
                           venue.venue)


def _check_triggers(ask: OrderAsk, venue: OrderFeatures) -> None:
    for name in ("trigger_price", "stop_price"):
        if getattr(ask, name) and not venue.trigger_price:
            raise NotSupported(f"trigger orders are not executed on {venue.venue}", name,
                               venue.venue)
    if ask.take_profit_price and not venue.take_profit_price:
        raise NotSupported(f"take-profit orders are not executed on {venue.venue}",
                           "take_profit_price", venue.venue)


def _check_param(key: str, fields: frozenset[str], venue: OrderFeatures) -> None:
    field = f"params.{key}"
    if key in fields:
        raise NotSupported(f"{key} is a field of the command, not a venue param: give it at "
                           "the top level of the payload", field, venue.venue)
    if key in FIELD_PARAMS:
        raise NotSupported(f"give {key} as the field {FIELD_PARAMS[key]}, not in params",
                           field, venue.venue)
    reason = UNBOOKED_PARAMS.get(key) or venue.refused_params.get(key)
    if reason is not None:
        raise NotSupported(f"params.{key} is refused: {reason}", field, venue.venue)
    if venue.params is not None and key not in venue.params:
        readable = ", ".join(sorted(venue.params)) or "none"
        raise NotSupported(f"the {venue.venue} venue does not read params.{key} "
                           f"(params it reads: {readable})", field, venue.venue)
