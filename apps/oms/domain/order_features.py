"""Which order fields a venue honours, and the refusal of every field it would not.

A field the gateway accepts is a promise. A new order names fields that only the venue can
execute (its type, time in force, post-only, CCXT `params`); if the account's venue cannot
execute one, the order would go out without it (a reduce-only trailing stop as an immediate
market sell). So acceptance asks `check_honoured` with the venue's `OrderFeatures` and refuses
such an order with 422 `not_supported`, naming the field, before anything is written.

A conditional order (stop, if-touched, trailing stop) is executed by the venue where it can,
else held by the gateway (`domain/held_orders.py`): `check_honoured` answers which
(`Emulation`), and refuses what neither can honour. The caller may ask for one of the two
(`emulation`); an ask that one cannot honour is refused, never switched silently.
A good-till-date is always the gateway's: a conditional order with one is held, a plain limit
order rests on the venue until the gateway cancels it at the date (`domain/good_till_date.py`).

The venue's features are built by the exchange adapter (`apps/oms/exchange/order_features.py`):
the paper venue's from what its matching engine executes, a CCXT exchange's from CCXT's own
`features` description of its `createOrder`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from apps.oms.domain.errors import NotSupported, OrderFieldConflict
from apps.oms.domain.good_till_date import GTD
from apps.oms.domain.held_orders import Emulation

#: CCXT `params` keys that are first-class command fields: given in `params` they would bypass
#: the gateway (the books, the risk checks) or be overwritten by the field, so they are refused
#: with the field to use instead
FIELD_PARAMS: Mapping[str, str] = {
    "clientOrderId": "client_order_id", "timeInForce": "time_in_force",
    "postOnly": "post_only", "reduceOnly": "reduce_only", "triggerPrice": "trigger_price",
    "stopPrice": "stop_price", "takeProfitPrice": "take_profit_price",
    "trailingAmount": "trailing_amount", "trailingPercent": "trailing_percent",
    "trailingTriggerPrice": "trailing_trigger_price", "triggerPriceType": "trigger_price_type",
    "expireAt": "expire_at",
    # an attached stop-loss / take-profit is a second venue order the books would not hold:
    # the gateway holds it as a bracket's exit
    "stopLoss": "bracket_stop_loss", "takeProfit": "bracket_take_profit",
    # the driver's name for a bracket's time limit (CCXT has none)
    "timeLimit": "bracket_time_limit",
}  # fmt: skip
#: CCXT `params` that would make the venue do what the gateway's books cannot follow (none
#: left: each has a field the gateway executes)
UNBOOKED_PARAMS: Mapping[str, str] = {}
TRIGGER_FIELDS = ("trigger_price", "stop_price", "take_profit_price")
#: words of an exchange's own `params` for a conditional order (OKX's `slTriggerPx`, HTX's
#: `sl_trigger_price`, Bitget's `planType`, Bybit's `tpslMode`, …), refused where the venue keeps
#: conditional orders apart (`OrderFeatures.conditional_apart`): such a param would place one
CONDITIONAL_PARAM_WORDS = ("trigger", "callback", "stoploss", "takeprofit", "trailing", "tpsl",
                           "algo", "plantype")
#: the child order types a held order can send
HELD_TYPES = frozenset({"market", "limit"})


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
    trailing: bool = False  # trailing stops (amount, percent, activation price)
    trigger_price_type: bool = False  # a trigger on the mark price (CCXT `triggerPriceType`)
    #: its tickers carry a mark price in this market (what a held mark-price trigger watches)
    mark_price: bool = True
    #: why its conditional orders are held by the gateway though it has them (it keeps them
    #: where the gateway would not follow them); None: it executes those it has. Such a venue
    #: also refuses every `params` key with a word of `CONDITIONAL_PARAM_WORDS`
    conditional_apart: str | None = None
    #: order types it is known to execute where the gateway would not follow them, with why
    refused_order_types: Mapping[str, str] = field(default_factory=dict)
    #: an OCO of its own (Binance spot's order list: two legs of one side and amount, one a
    #: stop, the other a limit or a take-profit), placed there when a group asks for the venue
    oco: bool = False
    #: its `edit_order` is a cancel and a new order under a new id (Binance spot's
    #: `order/cancelReplace`), not an amend: the gateway changes such an order by its own
    #: cancel/replace, which books the first order's fills and places only what is left
    edit_replaces: bool = False
    #: its edit of a conditional order keeps the trigger (the paper venue's amend); CCXT's
    #: `edit_order` is told the order's type, not its trigger, so a CCXT venue's conditional
    #: orders are changed by the gateway's cancel/replace, which places them with it
    edit_keeps_trigger: bool = True


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
    trailing_trigger_price: bool = False
    trigger_price_type: str | None = None  # last (the default) | mark
    #: the executor the caller asked for (None: the venue where it can, else the gateway)
    emulation: Emulation | None = None
    params: frozenset[str] = frozenset()
    #: command fields, which are never venue params
    fields: frozenset[str] = frozenset()


def check_honoured(ask: OrderAsk, venue: OrderFeatures) -> Emulation:
    """Refuse (`NotSupported`, `OrderFieldConflict`) the first field of `ask` that neither
    `venue` nor the gateway would execute as asked; else say who executes its conditional
    part (a plain order: the venue)."""
    _check_one_trigger(ask)
    conditional = _conditional(ask)
    if ask.time_in_force == GTD and not conditional and ask.order_type != "limit":
        raise OrderFieldConflict("good-till-date applies to an order that rests: a limit "
                                 f"order (not {ask.order_type!r})", "time_in_force")
    if ask.emulation is Emulation.GATEWAY and not conditional:
        raise NotSupported("the gateway holds conditional orders only (a trigger or a trailing "
                           "distance): a plain order goes to the venue", "emulation",
                           venue.venue)  # fmt: skip
    emulation = _emulation(ask, venue) if conditional else Emulation.VENUE
    if emulation is Emulation.GATEWAY:
        _check_held(ask, venue)
    else:
        _check_type_and_time(ask, venue)
        _check_triggers(ask, venue)
    for key in sorted(ask.params):
        _check_param(key, ask.fields, venue)
    return emulation


def _conditional(ask: OrderAsk) -> bool:
    return any((ask.trigger_price, ask.stop_price, ask.take_profit_price, ask.trailing_amount,
                ask.trailing_percent))  # fmt: skip


def _trailing(ask: OrderAsk) -> bool:
    return ask.trailing_amount or ask.trailing_percent


def _venue_lacks(ask: OrderAsk, venue: OrderFeatures) -> tuple[str, str] | None:
    """(field, reason) of the first conditional part `venue` does not execute (None: it
    executes them all)."""
    if venue.conditional_apart is not None:
        named = ("trailing_amount", "trailing_percent", *TRIGGER_FIELDS)
        return next((n for n in named if getattr(ask, n)), "trigger_price"), venue.conditional_apart
    if (_trailing(ask) or ask.trailing_trigger_price) and not venue.trailing:
        name = "trailing_amount" if ask.trailing_amount else "trailing_percent"
        if not _trailing(ask):
            name = "trailing_trigger_price"
        return name, f"trailing stops are not executed on {venue.venue}"
    for name in ("trigger_price", "stop_price"):
        if getattr(ask, name) and not venue.trigger_price:
            return name, f"trigger orders are not executed on {venue.venue}"
    if ask.take_profit_price and not venue.take_profit_price:
        return "take_profit_price", f"take-profit orders are not executed on {venue.venue}"
    if ask.trigger_price_type == "mark" and not venue.trigger_price_type:
        return "trigger_price_type", f"a trigger price type is not taken by {venue.venue}"
    if ask.time_in_force == GTD:
        return "time_in_force", "the gateway keeps a good-till-date (domain/good_till_date.py)"
    return None


def _emulation(ask: OrderAsk, venue: OrderFeatures) -> Emulation:
    lacks = _venue_lacks(ask, venue)
    if ask.emulation is Emulation.VENUE and lacks is not None:
        raise NotSupported(f"{lacks[1]} (emulation venue was asked)", lacks[0], venue.venue)
    if ask.emulation is Emulation.GATEWAY or lacks is not None:
        return Emulation.GATEWAY
    return Emulation.VENUE


def _check_held(ask: OrderAsk, venue: OrderFeatures) -> None:
    """What the gateway itself honours of a held order: a market or limit child, no
    post-only, no venue params of a conditional order (the child is a plain order)."""
    if ask.trailing_trigger_price and not _trailing(ask):
        raise NotSupported("trailing_trigger_price is the activation price of a trailing stop: "
                           "give trailing_amount or trailing_percent", "trailing_trigger_price",
                           venue.venue)  # fmt: skip
    if _trailing(ask) and any((ask.trigger_price, ask.stop_price, ask.take_profit_price)):
        raise OrderFieldConflict("a trailing stop's trigger follows the price: give no "
                                 "trigger price with it", field="trailing_amount"
                                 if ask.trailing_amount else "trailing_percent")  # fmt: skip
    if ask.order_type not in HELD_TYPES:
        raise NotSupported(f"order type {ask.order_type!r} is not executed on {venue.venue} "
                           "nor held by the gateway (a held order sends a market or limit "
                           "order when it fires)", "order_type", venue.venue)  # fmt: skip
    if ask.trigger_price_type == "mark" and not venue.mark_price:
        raise NotSupported(f"{venue.venue} shows no mark price in this market: a trigger on it "
                           "would never fire", "trigger_price_type", venue.venue)  # fmt: skip
    if ask.post_only or ask.time_in_force == "PO":
        raise NotSupported("post-only is not honoured on an order the gateway holds",
                           "post_only" if ask.post_only else "time_in_force", venue.venue)
    if ask.time_in_force not in (None, "GTC", "GTD"):
        raise NotSupported(f"time_in_force {ask.time_in_force} is not honoured on an order "
                           "the gateway holds (GTC or GTD)", "time_in_force", venue.venue)
    for key in sorted(ask.params):
        if key not in ask.fields and key not in FIELD_PARAMS and key not in UNBOOKED_PARAMS:
            raise NotSupported(f"params.{key} is not taken on an order the gateway holds: its "
                               "child is a plain market or limit order", f"params.{key}",
                               venue.venue)  # fmt: skip


def _check_one_trigger(ask: OrderAsk) -> None:
    triggers = [n for n in TRIGGER_FIELDS if getattr(ask, n)]
    if "stopLossPrice" in ask.params:
        triggers.append("params.stopLossPrice")
    if len(triggers) > 1:
        raise OrderFieldConflict(
            f"give one trigger of an order, not {' and '.join(triggers)}", field=triggers[1]
        )


def _check_type_and_time(ask: OrderAsk, venue: OrderFeatures) -> None:
    if ask.order_type in venue.refused_order_types:
        raise NotSupported(f"order type {ask.order_type!r} is refused: "
                           f"{venue.refused_order_types[ask.order_type]}", "order_type",
                           venue.venue)  # fmt: skip
    if venue.order_types is not None and ask.order_type not in venue.order_types:
        raise NotSupported(
            f"order type {ask.order_type!r} is not executed on {venue.venue} "
            f"(it executes {', '.join(sorted(venue.order_types))})",
            "order_type", venue.venue,
        )
    if ask.trailing_trigger_price and not _trailing(ask):
        raise NotSupported("trailing_trigger_price is the activation price of a trailing stop: "
                           "give trailing_amount or trailing_percent", "trailing_trigger_price",
                           venue.venue)  # fmt: skip
    if ask.time_in_force not in (None, GTD) and ask.time_in_force not in venue.time_in_force:
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
    named = f"params.{key}"
    if key in fields:
        raise NotSupported(f"{key} is a field of the command, not a venue param: give it at "
                           "the top level of the payload", named, venue.venue)
    if key in FIELD_PARAMS:
        raise NotSupported(f"give {key} as the field {FIELD_PARAMS[key]}, not in params",
                           named, venue.venue)
    reason = UNBOOKED_PARAMS.get(key) or venue.refused_params.get(key)
    if reason is None and venue.conditional_apart is not None and any(
            word in key.lower() for word in CONDITIONAL_PARAM_WORDS):
        reason = venue.conditional_apart
    if reason is not None:
        raise NotSupported(f"params.{key} is refused: {reason}", named, venue.venue)
    if venue.params is not None and key not in venue.params:
        readable = ", ".join(sorted(venue.params)) or "none"
        raise NotSupported(f"the {venue.venue} venue does not read params.{key} "
                           f"(params it reads: {readable})", named, venue.venue)
