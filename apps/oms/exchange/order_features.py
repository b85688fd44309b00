"""The order features of an account's venue (`domain/order_features.OrderFeatures`), known
without opening the venue: acceptance refuses what the venue would not execute.

The paper venue's are what its matching engine executes (`apps/paper/domain/rules.py`,
`apps/paper/exchange/requests.py`). A CCXT exchange's come from CCXT's own description of its
`createOrder` (`exchange.features[market type]["createOrder"]`): a capability CCXT marks
`False` is refused; one it leaves undescribed is passed to the exchange, which decides (and a
refusal there fails the command visibly). Trailing stops and a trigger's price type are the
venue's only where CCXT says so (`True`); elsewhere the gateway holds such orders. CCXT is
imported only for a CCXT account.

A venue's conditional orders are its own only where the gateway can follow them as it follows
any order: fetched, listed and cancelled by the calls its sync, cancels and unknown-outcome
lookups make. Many exchanges keep them apart (OKX's algo orders, Bybit's conditional orders,
Binance's futures Algo Order API), where CCXT reaches them only when a call says `trigger`
and where a triggered one fills under a new order id; there the gateway holds every
conditional order itself (`conditional_apart`), and refuses the exchange's own spellings of a
trigger in `params`, which would place one it could not follow.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from typing import Any

from apps.oms.domain.order_features import OrderFeatures
from apps.oms.exchange.ccxt import binance_oco
from apps.oms.exchange.ccxt.instances import ccxt_id
from apps.oms.exchange.profiles import PAPER_ID

ALL_TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK", "PO"})
#: the paper venue triggers on its last price (stop, stop-loss, take-profit); trailing stops,
#: a mark-price trigger and good-till-date are held by the gateway
PAPER = OrderFeatures(
    venue=PAPER_ID,
    order_types=frozenset({"market", "limit"}),
    time_in_force=ALL_TIME_IN_FORCE,
    trigger_price=True,
    take_profit_price=True,
    params=frozenset({"stopLossPrice"}),
    refused_params={},
)
#: CCXT's unified `createOrder` params and the `features` flag that says an exchange takes them
UNIFIED_PARAMS: Mapping[str, str] = {
    "stopLossPrice": "stopLossPrice", "hedged": "hedged", "marginMode": "marginMode",
    "cost": "marketBuyByCost", "selfTradePrevention": "selfTradePrevention",
    "iceberg": "iceberg", "icebergAmount": "icebergAmount",
    "triggerDirection": "triggerDirection",
    "leverage": "leverage",
}  # fmt: skip
_FUTURE = re.compile(r"-\d{6}$")
#: CCXT classes whose `create_order` sends a contract's conditional order to an API of its own
#: that their `features` do not describe (Binance's Algo Order API, `fapi/v1/algoOrder`,
#: reached again only with `trigger`)
ALGO_CONTRACTS = frozenset({"binance", "binanceusdm", "binancecoinm"})
#: `params` a CCXT class reads as a conditional order (a trigger, a trailing distance, an
#: attached take-profit / stop-loss, or a setting of one) beside the command fields
#: (`FIELD_PARAMS`), by the CCXT class it derives from (`myokx` is an `okx`): on a venue whose
#: conditional orders are apart they would place one the gateway could not follow (any venue
#: whose are apart also refuses every key with a word of `CONDITIONAL_PARAM_WORDS`)
TRIGGER_PARAMS: Mapping[str, frozenset[str]] = {
    "binance": frozenset({"stopLossPrice", "callbackRate", "trailingDelta", "activationPrice"}),
    "okx": frozenset({"stopLossPrice", "slTriggerPx", "tpTriggerPx", "triggerPx", "slOrdPx",
                      "tpOrdPx", "callbackRatio", "callbackSpread", "trailingPrice",
                      "attachAlgoOrds", "attachAlgoClOrdId"}),
    "bybit": frozenset({"stopLossPrice", "trailingStop", "activePrice", "slLimitPrice",
                        "tpLimitPrice", "stopLossLimitPrice", "takeProfitLimitPrice",
                        "triggerDirection", "tpslMode", "tpTriggerBy", "slTriggerBy",
                        "tpOrderType", "slOrderType"}),
}  # fmt: skip
#: order types a CCXT class sends to its conditional (algo) orders, by the class it derives
#: from: OKX's `trade/order-algo` takes these
ALGO_ORDER_TYPES: Mapping[str, frozenset[str]] = {
    "okx": frozenset({"trigger", "conditional", "move_order_stop", "oco", "iceberg", "twap"}),
}
#: CCXT classes (by the class they derive from) whose ticker carries the mark price, where
#: CCXT has no `fetchMarkPrice` (Bybit's `tickers` answer it)
TICKER_MARK_PRICE = frozenset({"bybit"})


def market_kind(symbol: str) -> tuple[str, str | None]:
    """CCXT's unified symbol → (`spot`|`swap`|`future`, `linear`|`inverse`|None)."""
    base_quote, _, settle = symbol.partition(":")
    if not settle:
        return "spot", None
    quote = base_quote.partition("/")[2]
    kind = "future" if _FUTURE.search(settle) else "swap"
    return kind, "linear" if _FUTURE.sub("", settle) == quote else "inverse"


def order_features(exchange_id: str, symbol: str) -> OrderFeatures | None:
    """The venue's features for `symbol`'s kind of market; None for an engine or a CCXT class
    this gateway does not run (its account is refused elsewhere). A CCXT exchange whose
    features describe no `createOrder` for the market gets its orders passed on unchecked
    and its conditional orders held (where it keeps them is unknown)."""
    if exchange_id == PAPER_ID:
        return PAPER
    name = ccxt_id(exchange_id)
    return None if name is None else _ccxt_features(name, *market_kind(symbol))


@functools.cache
def _ccxt_features(name: str, kind: str, subtype: str | None) -> OrderFeatures | None:
    import ccxt.async_support as ccxt_async  # a CCXT account's process imports it anyway

    klass = getattr(ccxt_async, name, None)
    if klass is None:
        return None
    exchange = klass()
    features: Any = exchange.features or {}
    block = features.get(kind)
    if subtype is not None and isinstance(block, dict):
        block = block.get(subtype)
    create = block.get("createOrder") if isinstance(block, dict) else None
    venue = f"{name} {kind}{'' if subtype is None else ' ' + subtype}"
    family = next((f for f in (*TRIGGER_PARAMS, *ALGO_ORDER_TYPES, *TICKER_MARK_PRICE)
                   if issubclass(klass, getattr(ccxt_async, f))), name)  # fmt: skip
    mark = kind != "spot" and (exchange.has.get("fetchMarkPrice") is True
                               or family in TICKER_MARK_PRICE)  # fmt: skip
    own_oco = kind == "spot" and name in binance_oco.EXCHANGES
    # CCXT's binance edits a spot order by `order/cancelReplace`: a new order, a new id
    edit_replaces = kind == "spot" and issubclass(klass, ccxt_async.binance)
    if not isinstance(create, dict):  # nothing to tell where its conditional orders live
        unknown = (f"CCXT describes no createOrder of {venue}, so where it keeps conditional "
                   "orders is unknown: the gateway holds conditional orders itself there")
        features = from_create_order(venue, {}, unknown, family, mark_price=mark)
    else:
        features = from_create_order(venue, create, conditional_apart(name, venue, kind, block),
                                     family, mark_price=mark)  # fmt: skip
    described: OrderFeatures = dataclasses.replace(features, oco=own_oco,
                                                   edit_replaces=edit_replaces,
                                                   edit_keeps_trigger=False)
    return described


def conditional_apart(name: str, venue: str, kind: str, block: Mapping[str, Any]) -> str | None:
    """Why `name`'s conditional orders in this kind of market are held by the gateway rather
    than placed on the exchange (None: they are placed there): CCXT's `features` say its
    `fetchOpenOrders` or `fetchOrder` takes `trigger` (the exchange lists them apart), or its
    `create_order` sends them to an API of their own (`ALGO_CONTRACTS`)."""
    takes_trigger = any(isinstance(block.get(call), dict) and block[call].get("trigger") is True
                        for call in ("fetchOpenOrders", "fetchOrder"))  # fmt: skip
    if not takes_trigger and not (name in ALGO_CONTRACTS and kind in ("swap", "future")):
        return None
    return (f"{venue} keeps conditional orders apart from its orders (CCXT reaches them only "
            "with `trigger`), where the gateway would not follow them: the gateway holds "
            "conditional orders itself there")


def from_create_order(venue: str, create: Mapping[str, Any], apart: str | None = None,
                      family: str = "", *, mark_price: bool | None = None) -> OrderFeatures:
    """`OrderFeatures` from a CCXT `features[...]["createOrder"]` description; `apart`: why
    the exchange's conditional orders are held by the gateway (`conditional_apart`); `family`:
    the CCXT class the exchange's derives from (its own spellings of a conditional order);
    `mark_price`: whether a mark price can be read (default: in any market but spot)."""
    tif = create.get("timeInForce")
    if isinstance(tif, dict):
        offered = frozenset(k for k in ALL_TIME_IN_FORCE if tif.get(k) is not False)
    else:
        offered = ALL_TIME_IN_FORCE
    refused = {key: f"{venue} does not take it (CCXT's createOrder features: {flag} false)"
               for key, flag in UNIFIED_PARAMS.items() if create.get(flag) is False}
    refused_types: dict[str, str] = {}
    if apart is not None:
        held = (f"{apart} (give the order's trigger as stop_price, take_profit_price or a "
                "trailing distance)")
        spelled = TRIGGER_PARAMS.get(family, frozenset({"stopLossPrice"}))
        refused.update(dict.fromkeys(sorted(spelled), held))
        refused_types = dict.fromkeys(sorted(ALGO_ORDER_TYPES.get(family, ())), apart)
    native = apart is None
    return OrderFeatures(
        venue=venue,
        order_types=None,
        time_in_force=offered,
        trigger_price=native and create.get("triggerPrice") is not False,
        take_profit_price=native and create.get("takeProfitPrice") is not False,
        params=None,
        refused_params=refused,
        trailing=native and create.get("trailing") is True,
        trigger_price_type=native and bool(create.get("triggerPriceType")),
        mark_price=" spot" not in venue if mark_price is None else mark_price,
        conditional_apart=apart,
        refused_order_types=refused_types,
    )
