"""Binance spot's order lists (`POST /api/v3/orderList/oco` and the list endpoints) as pure
mappings: an OCO request's parameters to its two legs' order calls (Binance's mandatory and
not-required parameters, leg types per side and the price relation), an order list's record,
which of its legs ends when the other works, and the list's JSON.

No I/O: `spot_lists` runs the calls, `order_lists` keeps the records.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from apps.oms.domain.markets import Market
from apps.paper.domain.state import GROUP_EXPIRED
from apps.paper.wire import binance_spot as spot
from apps.paper.wire.signing import WireError, mandatory

Json = spot.Json
STOPS = ("STOP_LOSS", "STOP_LOSS_LIMIT")
TARGETS = ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
LEG_TYPES = STOPS + TARGETS
PRICED = ("LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
RELATION = "The relationship of the prices for the orders is not correct."
UNKNOWN_LIST = "Order list does not exist."
#: leg parameters Binance takes that this venue cannot honour: refused, never ignored
UNSUPPORTED = ("TrailingDelta", "IcebergQty", "PegPriceType", "PegOffsetValue", "PegOffsetType",
               "StrategyId", "StrategyType")  # fmt: skip
_ID_CHARS = string.ascii_letters + string.digits


def new_client_id() -> str:
    """A client order id as Binance generates one (22 letters and digits)."""
    return "".join(secrets.choice(_ID_CHARS) for _ in range(22))


@dataclass(frozen=True, slots=True)
class OcoCall:
    """Both legs of an OCO as order calls, the below leg first (Binance's order of legs)."""

    market: Market
    side: str  # BUY | SELL
    list_client_id: str
    below: spot.OrderCall
    above: spot.OrderCall
    below_type: str
    above_type: str
    resp_type: str = "FULL"

    @property
    def legs(self) -> tuple[spot.OrderCall, spot.OrderCall]:
        return self.below, self.above


def _leg_type(params: Mapping[str, str], prefix: str) -> str:
    return spot.enum_param(params, f"{prefix}Type", LEG_TYPES, -1116, "orderType")


def _not_required(name: str) -> WireError:
    return WireError(400, -1106, f"Parameter '{name}' sent when not required.")


def leg_params(params: Mapping[str, str], prefix: str, kind: str, side: str) -> dict[str, str]:
    """One leg's `POST /api/v3/order` parameters from the OCO's `<prefix>…` ones: -1102 for a
    parameter its type needs, -1106 for one it does not take, -1014 for one the venue does not
    carry out."""
    for suffix in UNSUPPORTED:
        if params.get(prefix + suffix):
            raise WireError(400, -1014, "Unsupported order combination.")
    wanted = {"Price": kind in PRICED, "StopPrice": kind != "LIMIT_MAKER",
              "TimeInForce": kind.endswith("_LIMIT")}  # fmt: skip
    for suffix, needed in wanted.items():
        sent = bool(params.get(prefix + suffix))
        if needed and not sent:
            raise mandatory(prefix + suffix)
        if sent and not needed:
            raise _not_required(prefix + suffix)
    leg = {"symbol": params["symbol"], "side": side, "type": kind,
           "quantity": params.get("quantity", ""),
           "newClientOrderId": params.get(prefix + "ClientOrderId") or new_client_id()}  # fmt: skip
    for suffix, name in (("Price", "price"), ("StopPrice", "stopPrice"),
                         ("TimeInForce", "timeInForce")):  # fmt: skip
        if params.get(prefix + suffix):
            leg[name] = params[prefix + suffix]
    return leg


def oco_call(params: Mapping[str, str], markets: Mapping[str, Market], last: Decimal) -> OcoCall:
    """POST /api/v3/orderList/oco: a SELL takes LIMIT_MAKER / TAKE_PROFIT(_LIMIT) above and
    STOP_LOSS(_LIMIT) below, a BUY the reverse (else -1014); each leg's parameters as its type
    needs them, then the leg's filters; the price relation against the last price `last`
    (-2010): the below leg's price below it, the above leg's above it."""
    market = spot.market_of(params, markets)
    side = spot.enum_param(params, "side", ("BUY", "SELL"), -1117, "side")
    if not params.get("quantity"):
        raise mandatory("quantity")
    above_type, below_type = _leg_type(params, "above"), _leg_type(params, "below")
    wanted = (TARGETS, STOPS) if side == "SELL" else (STOPS, TARGETS)
    if above_type not in wanted[0] or below_type not in wanted[1]:
        raise WireError(400, -1014, "Unsupported order combination.")
    resp = params.get("newOrderRespType", "FULL").upper()
    if resp not in spot.RESP_TYPES:
        raise WireError(400, -1100, "Illegal characters found in parameter 'newOrderRespType'.")
    below = spot.order_call(leg_params(params, "below", below_type, side), markets)
    above = spot.order_call(leg_params(params, "above", above_type, side), markets)
    if below.params["clientOrderId"] == above.params["clientOrderId"]:
        raise WireError(400, -2010, "Duplicate order sent.")
    if not relation_price(below) < last < relation_price(above):
        raise WireError(400, -2010, RELATION)
    list_id = params.get("listClientOrderId") or new_client_id()
    return OcoCall(market, side, list_id, replace(below, resp_type=resp),
                   replace(above, resp_type=resp), below_type, above_type, resp)  # fmt: skip


def reserve_price(leg: spot.OrderCall) -> Decimal:
    """The price the engine reserves a leg at: its limit price, else (a stop) the stop price."""
    return leg.price if leg.price is not None else relation_price(leg)


def relation_price(leg: spot.OrderCall) -> Decimal:
    """The price Binance's relation rule reads of a leg: a LIMIT_MAKER's price, else the stop
    price."""
    stop = leg.params.get("stopLossPrice", leg.params.get("takeProfitPrice"))
    price = stop if stop is not None else leg.price
    assert price is not None  # noqa: S101  (every leg type has one or the other)
    return Decimal(price)


# --- the record of a list, and what happens to it ------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderList:
    """An order list of an account: its id (positive, increasing), the client's id, the unified
    symbol, its legs' engine ids (below, above), its time (epoch ms), and the leg the venue
    expired when the other worked (None until then)."""

    list_id: int
    client_id: str
    symbol: str
    legs: tuple[str, str]
    time_ms: int
    expired: str | None = None

    def other(self, order_id: str) -> str:
        return self.legs[1] if order_id == self.legs[0] else self.legs[0]

    def to_json(self) -> Json:
        return {"id": self.list_id, "client": self.client_id, "symbol": self.symbol,
                "legs": list(self.legs), "time": self.time_ms, "expired": self.expired}  # fmt: skip

    @staticmethod
    def from_json(raw: Mapping[str, Any]) -> OrderList:
        below, above = (str(leg) for leg in raw["legs"])
        expired = raw.get("expired")
        return OrderList(int(raw["id"]), str(raw["client"]), str(raw["symbol"]), (below, above),
                         int(raw["time"]), None if expired is None else str(expired))  # fmt: skip


def worked(order: Mapping[str, Any]) -> bool:
    """A leg that executed (any fill), triggered or completed: its sibling expires."""
    info = order.get("info") or {}
    return bool(order["filled"]) or bool(info.get("triggered")) or order["status"] == "closed"


def expired_by_venue(order: Mapping[str, Any]) -> bool:
    """A leg the engine ended the moment its sibling executed (they share one reservation)."""
    return order["status"] == "canceled" and (order.get("info") or {}).get("reason") == GROUP_EXPIRED


def venue_expired(legs: Sequence[Mapping[str, Any]]) -> str | None:
    """The id of the leg the engine expired for its sibling, None if neither."""
    return next((leg["id"] for leg in legs if expired_by_venue(leg)), None)


def sibling_to_end(legs: Sequence[Mapping[str, Any]]) -> tuple[str, bool] | None:
    """The open leg to end now and whether it expires (its sibling worked) or is canceled (its
    sibling ended unfilled, canceled by the venue); None while both are open, or both done."""
    for leg, other in ((legs[0], legs[1]), (legs[1], legs[0])):
        if other["status"] != "open" or (leg["status"] == "open" and not worked(leg)):
            continue
        return other["id"], worked(leg)
    return None


def shown(order: Json, order_list: OrderList | None) -> Json:
    """An engine order as the dialect shows it: a leg carries its list's id, and the leg the
    venue ended for its sibling is EXPIRED (the engine keeps it as canceled)."""
    if order_list is None:
        return order
    status = order["status"]
    if status == "canceled" and (order["id"] == order_list.expired or expired_by_venue(order)):
        status = "expired"
    return {**order, "status": status,
            "info": {**order["info"], "orderListId": order_list.list_id}}  # fmt: skip


# --- JSON ------------------------------------------------------------------------------------------


def list_status(orders: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(listStatusType, listOrderStatus): EXEC_STARTED / EXECUTING while a leg is open, else
    ALL_DONE / ALL_DONE."""
    if any(o["status"] == "open" for o in orders):
        return "EXEC_STARTED", "EXECUTING"
    return "ALL_DONE", "ALL_DONE"


def list_json(order_list: OrderList, orders: Sequence[Json], market: Market,
              time_ms: int | None = None) -> Json:  # fmt: skip
    """GET /api/v3/orderList, /openOrderList, /allOrderList: the list's status and its legs."""
    status_type, order_status = list_status(orders)
    symbol = spot.market_id(market)
    return {"orderListId": order_list.list_id, "contingencyType": "OCO",
            "listStatusType": status_type, "listOrderStatus": order_status,
            "listClientOrderId": order_list.client_id,
            "transactionTime": order_list.time_ms if time_ms is None else time_ms,
            "symbol": symbol,
            "orders": [{"symbol": symbol, "orderId": spot.seq_of(o["id"]),
                        "clientOrderId": o["clientOrderId"] or o["id"]} for o in orders]}  # fmt: skip


def report_json(order: Json, market: Market, resp_type: str, now_ms: int) -> Json:
    """One leg's entry of `orderReports`: the new order's answer in `resp_type`, `stopPrice`
    on a stop leg, `workingTime` -1 while a stop leg waits for its trigger."""
    full = spot.order_json(order, market)
    report = spot.new_order_json(order, market, "RESULT" if resp_type == "FULL" else resp_type)
    report["transactTime"] = now_ms
    if resp_type == "ACK":
        return report
    if order.get("triggerPrice") is not None:
        report["stopPrice"] = full["stopPrice"]
    report["workingTime"] = full["workingTime"] if full["isWorking"] else -1
    return report


def oco_json(order_list: OrderList, orders: Sequence[Json], market: Market,
             resp_type: str) -> Json:  # fmt: skip
    """POST /api/v3/orderList/oco: the list and a report per leg (below first)."""
    return {**list_json(order_list, orders, market),
            "orderReports": [report_json(o, market, resp_type, order_list.time_ms)
                             for o in orders]}  # fmt: skip


def canceled_list_json(order_list: OrderList, orders: Sequence[Json], market: Market,
                       now_ms: int) -> Json:  # fmt: skip
    """DELETE /api/v3/orderList: the list ALL_DONE and each leg's cancel answer."""
    reports = []
    for o in orders:
        report = spot.canceled_json(o, market, now_ms)
        if o.get("triggerPrice") is not None:
            report["stopPrice"] = spot.num(o["triggerPrice"])
        reports.append(report)
    return {**list_json(order_list, orders, market, now_ms), "orderReports": reports}


def list_ref(params: Mapping[str, str], client_key: str) -> tuple[int | None, str | None]:
    """`orderListId`, else the list's client id under `client_key` (-1102 when neither)."""
    list_id = spot.int_param(params, "orderListId")
    client = params.get(client_key) or None
    if list_id is None and client is None:
        raise WireError(400, -1102, f"Param '{client_key}' or 'orderListId' must be sent, but "
                                    "both were empty/null!")  # fmt: skip
    return list_id, client
