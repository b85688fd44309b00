"""The order features of an account's venue (`domain/order_features.OrderFeatures`), known
without opening the venue: acceptance refuses what the venue would not execute.

The paper venue's are what its matching engine executes (`apps/paper/domain/rules.py`,
`apps/paper/exchange/requests.py`). A CCXT exchange's come from CCXT's own description of its
`createOrder` (`exchange.features[market type]["createOrder"]`): a capability CCXT marks
`False` is refused; one it leaves undescribed is passed to the exchange, which decides (and a
refusal there fails the command visibly). Trailing stops and a trigger's price type are the
venue's only where CCXT says so (`True`); elsewhere the gateway holds such orders. CCXT is
imported only for a CCXT account.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from apps.oms.domain.order_features import OrderFeatures
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


def market_kind(symbol: str) -> tuple[str, str | None]:
    """CCXT's unified symbol → (`spot`|`swap`|`future`, `linear`|`inverse`|None)."""
    base_quote, _, settle = symbol.partition(":")
    if not settle:
        return "spot", None
    quote = base_quote.partition("/")[2]
    kind = "future" if _FUTURE.search(settle) else "swap"
    return kind, "linear" if _FUTURE.sub("", settle) == quote else "inverse"


def order_features(exchange_id: str, symbol: str) -> OrderFeatures | None:
    """The venue's features for `symbol`'s kind of market; None when the venue describes none
    (an engine this gateway does not run refuses the account elsewhere)."""
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
    features: Any = klass().features or {}
    block = features.get(kind)
    if subtype is not None and isinstance(block, dict):
        block = block.get(subtype)
    create = block.get("createOrder") if isinstance(block, dict) else None
    if not isinstance(create, dict):
        return None
    return from_create_order(f"{name} {kind}{'' if subtype is None else ' ' + subtype}", create)


def from_create_order(venue: str, create: Mapping[str, Any]) -> OrderFeatures:
    """`OrderFeatures` from a CCXT `features[...]["createOrder"]` description."""
    tif = create.get("timeInForce")
    if isinstance(tif, dict):
        offered = frozenset(k for k in ALL_TIME_IN_FORCE if tif.get(k) is not False)
    else:
        offered = ALL_TIME_IN_FORCE
    refused = {key: f"{venue} does not take it (CCXT's createOrder features: {flag} false)"
               for key, flag in UNIFIED_PARAMS.items() if create.get(flag) is False}
    return OrderFeatures(
        venue=venue,
        order_types=None,
        time_in_force=offered,
        trigger_price=create.get("triggerPrice") is not False,
        take_profit_price=create.get("takeProfitPrice") is not False,
        params=None,
        refused_params=refused,
        trailing=create.get("trailing") is True,
        trigger_price_type=bool(create.get("triggerPriceType")),
        mark_price=" spot" not in venue,  # CCXT's spot tickers carry no mark price
    )
