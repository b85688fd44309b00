"""Binance spot's OCO order list as pure mappings: the request's legs (types per side, the
parameters each type needs or refuses, the price relation against the last price), which leg
ends when the other works, and the answers' shapes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.paper.domain.markets import DEFAULT_MARKETS
from apps.paper.domain.state import GROUP_EXPIRED
from apps.paper.wire import binance_lists as lists
from apps.paper.wire import binance_spot as spot
from apps.paper.wire.binance_events import execution_report
from apps.paper.wire.endpoints import SPOT_ENDPOINTS
from apps.paper.wire.signing import WireError
from apps.paper.wire.weights import ORDER_COUNTS, OrderCounts

D = Decimal
MARKETS = spot.spot_markets(DEFAULT_MARKETS)
BTC = MARKETS["BTCUSDT"]
LAST = D(50000)
SELL = {"symbol": "BTCUSDT", "side": "SELL", "quantity": "0.1", "listClientOrderId": "L1",
        "aboveType": "LIMIT_MAKER", "abovePrice": "52000", "aboveClientOrderId": "tp",
        "belowType": "STOP_LOSS", "belowStopPrice": "48000", "belowClientOrderId": "sl"}
BUY = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.1",
       "aboveType": "STOP_LOSS_LIMIT", "aboveStopPrice": "51000", "abovePrice": "51100",
       "aboveTimeInForce": "GTC", "belowType": "LIMIT_MAKER", "belowPrice": "48000"}


def refused(params: dict[str, str], last: Decimal = LAST) -> tuple[int, str]:
    with pytest.raises(WireError) as excinfo:
        lists.oco_call(params, MARKETS, last)
    return excinfo.value.code, excinfo.value.msg


def test_a_sell_oco_is_a_limit_maker_above_and_a_stop_below() -> None:
    oco = lists.oco_call(SELL, MARKETS, LAST)
    assert (oco.market, oco.side, oco.list_client_id, oco.resp_type) == (BTC, "SELL", "L1", "FULL")
    assert (oco.below_type, oco.above_type) == ("STOP_LOSS", "LIMIT_MAKER")
    below, above = oco.legs
    assert (below.type, below.side, below.qty, below.price) == ("market", "sell", D("0.1"), None)
    assert below.params == {"stopLossPrice": D(48000), "clientOrderId": "sl"}
    assert (above.type, above.side, above.qty, above.price) == ("limit", "sell", D("0.1"), D(52000))
    assert above.params == {"postOnly": True, "clientOrderId": "tp"}


def test_a_buy_oco_is_a_stop_above_and_a_limit_maker_below() -> None:
    oco = lists.oco_call(BUY, MARKETS, LAST)
    below, above = oco.legs
    assert (below.type, below.price, below.params["postOnly"]) == ("limit", D(48000), True)
    assert (above.type, above.price) == ("limit", D(51100))
    assert above.params["stopLossPrice"] == D(51000)
    assert above.params["timeInForce"] == "GTC"
    assert len(oco.list_client_id) == 22  # generated, as Binance's
    assert len(below.params["clientOrderId"]) == len(above.params["clientOrderId"]) == 22
    assert below.params["clientOrderId"] != above.params["clientOrderId"]


def test_take_profit_legs() -> None:
    params = {**SELL, "aboveType": "TAKE_PROFIT_LIMIT", "aboveStopPrice": "52000",
              "abovePrice": "51900", "aboveTimeInForce": "GTC"}
    above = lists.oco_call(params, MARKETS, LAST).above
    assert (above.type, above.price, above.params["takeProfitPrice"]) == (
        "limit", D(51900), D(52000))
    market = {**SELL, "aboveType": "TAKE_PROFIT", "aboveStopPrice": "52000"}
    del market["abovePrice"]
    above = lists.oco_call(market, MARKETS, LAST).above
    assert (above.type, above.price, above.params["takeProfitPrice"]) == ("market", None, D(52000))


@pytest.mark.parametrize(("change", "code", "msg"), [
    ({"aboveType": "STOP_LOSS", "aboveStopPrice": "52000", "abovePrice": ""}, -1014,
     "Unsupported order combination."),  # a SELL's stop is below
    ({"belowType": "LIMIT_MAKER", "belowPrice": "48000", "belowStopPrice": ""}, -1014,
     "Unsupported order combination."),
    ({"aboveType": "LIMIT"}, -1116, "Invalid orderType."),
    ({"side": "HOLD"}, -1117, "Invalid side."),
    ({"aboveType": ""}, -1102,
     "Mandatory parameter 'aboveType' was not sent, was empty/null, or malformed."),
    ({"abovePrice": ""}, -1102,
     "Mandatory parameter 'abovePrice' was not sent, was empty/null, or malformed."),
    ({"belowStopPrice": ""}, -1102,
     "Mandatory parameter 'belowStopPrice' was not sent, was empty/null, or malformed."),
    ({"quantity": ""}, -1102,
     "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."),
    ({"belowPrice": "47900"}, -1106, "Parameter 'belowPrice' sent when not required."),
    ({"aboveStopPrice": "52000"}, -1106, "Parameter 'aboveStopPrice' sent when not required."),
    ({"aboveTimeInForce": "GTC"}, -1106,
     "Parameter 'aboveTimeInForce' sent when not required."),
    ({"belowTrailingDelta": "100"}, -1014, "Unsupported order combination."),
    ({"aboveIcebergQty": "0.01"}, -1014, "Unsupported order combination."),
    ({"quantity": "0.00001"}, -1013, "Filter failure: LOT_SIZE"),
    ({"abovePrice": "52000.05"}, -1013, "Filter failure: PRICE_FILTER"),
    ({"aboveClientOrderId": "same", "belowClientOrderId": "same"}, -2010,
     "Duplicate order sent."),
    ({"abovePrice": "49000"}, -2010, lists.RELATION),  # the limit must be above the last price
    ({"belowStopPrice": "50000"}, -2010, lists.RELATION),  # the stop below it
    ({"newOrderRespType": "ALL"}, -1100,
     "Illegal characters found in parameter 'newOrderRespType'."),
])  # fmt: skip
def test_refusals(change: dict[str, str], code: int, msg: str) -> None:
    assert refused({**SELL, **change}) == (code, msg)


def test_a_stop_limit_leg_needs_its_time_in_force_and_price() -> None:
    params = {**BUY, "aboveTimeInForce": ""}
    assert refused(params)[0] == -1102
    assert refused({**BUY, "aboveTimeInForce": "GTD"}) == (-1115, "Invalid timeInForce.")


def test_the_buy_relation_is_the_reverse() -> None:
    assert refused(BUY, last=D(47000)) == (-2010, lists.RELATION)  # the limit above the price
    assert refused(BUY, last=D(51500)) == (-2010, lists.RELATION)  # the stop below it
    assert lists.oco_call(BUY, MARKETS, D(49000)).side == "BUY"


# --- which leg ends, and how --------------------------------------------------------------------


def leg(order_id: str, status: str = "open", filled: str = "0",
        triggered: bool = False) -> dict[str, Any]:  # fmt: skip
    return {"id": order_id, "status": status, "filled": D(filled),
            "info": {"triggered": triggered}}


@pytest.mark.parametrize(("below", "above", "ends"), [
    (leg("1"), leg("2"), None),
    (leg("1"), leg("2", filled="0.01"), ("1", True)),  # a partial fill expires the other
    (leg("1", "closed", "0.1", True), leg("2"), ("2", True)),  # the stop fired and filled
    (leg("1", triggered=True), leg("2"), ("2", True)),  # a stop-limit triggered, resting
    (leg("1", "canceled"), leg("2"), ("2", False)),  # canceled unfilled: the other too
    (leg("1", "canceled"), leg("2", "canceled"), None),
    (leg("1", "closed", "0.1"), leg("2", "canceled"), None),
])  # fmt: skip
def test_the_sibling_to_end(below: dict[str, Any], above: dict[str, Any],
                            ends: tuple[str, bool] | None) -> None:  # fmt: skip
    assert lists.sibling_to_end([below, above]) == ends


def test_a_list_record_round_trips_and_knows_its_legs() -> None:
    record = lists.OrderList(3, "L1", "BTC/USDT", ("7-1", "7-2"), 1_700_000_000_000)
    assert lists.OrderList.from_json(record.to_json()) == record
    assert (record.other("7-1"), record.other("7-2")) == ("7-2", "7-1")
    expired = lists.OrderList(3, "L1", "BTC/USDT", ("7-1", "7-2"), 1, "7-2")
    assert lists.OrderList.from_json(expired.to_json()) == expired


# --- answers -----------------------------------------------------------------------------------


def engine_order(seq: int, client: str, **fields: Any) -> dict[str, Any]:
    """An engine order structure as `PaperVenue` returns it (the fields the JSON reads)."""
    order: dict[str, Any] = {
        "id": f"7-{seq}", "clientOrderId": client, "symbol": "BTC/USDT", "side": "sell",
        "type": "limit", "amount": D("0.1"), "filled": D(0), "cost": D(0), "status": "open",
        "timeInForce": "GTC", "timestamp": 1000, "lastUpdateTimestamp": 1000,
        "triggerPrice": None, "stopLossPrice": None, "takeProfitPrice": None,
        "postOnly": False, "info": {"price": None, "triggered": False}, "trades": []}
    order.update(fields)
    return order


STOP = engine_order(11, "sl", type="market", triggerPrice=D(48000), stopLossPrice=D(48000))
MAKER = engine_order(12, "tp", postOnly=True, timeInForce="PO", price=D(52000),
                     info={"price": "52000", "triggered": False})
RECORD = lists.OrderList(4, "L1", "BTC/USDT", ("7-11", "7-12"), 1000)


def test_the_oco_answer_is_binance_s_shape() -> None:
    legs = [lists.shown(o, RECORD) for o in (STOP, MAKER)]
    body = lists.oco_json(RECORD, legs, BTC, "FULL")
    assert {k: v for k, v in body.items() if k not in ("orders", "orderReports")} == {
        "orderListId": 4, "contingencyType": "OCO", "listStatusType": "EXEC_STARTED",
        "listOrderStatus": "EXECUTING", "listClientOrderId": "L1", "transactionTime": 1000,
        "symbol": "BTCUSDT"}
    assert body["orders"] == [{"symbol": "BTCUSDT", "orderId": 11, "clientOrderId": "sl"},
                              {"symbol": "BTCUSDT", "orderId": 12, "clientOrderId": "tp"}]
    stop, maker = body["orderReports"]
    assert stop == {"symbol": "BTCUSDT", "orderId": 11, "orderListId": 4, "clientOrderId": "sl",
                    "transactTime": 1000, "price": "0.00000000", "origQty": "0.10000000",
                    "executedQty": "0.00000000", "origQuoteOrderQty": "0.00000000",
                    "cummulativeQuoteQty": "0.00000000", "status": "NEW",
                    "timeInForce": "GTC", "type": "STOP_LOSS", "side": "SELL",
                    "stopPrice": "48000.00000000", "workingTime": -1,
                    "selfTradePreventionMode": "EXPIRE_MAKER"}  # fmt: skip
    assert (maker["type"], maker["price"], maker["workingTime"], maker["orderListId"]) == (
        "LIMIT_MAKER", "52000.00000000", 1000, 4)
    assert "stopPrice" not in maker
    ack = lists.oco_json(RECORD, legs, BTC, "ACK")["orderReports"][0]
    assert ack == {"symbol": "BTCUSDT", "orderId": 11, "orderListId": 4, "clientOrderId": "sl",
                   "transactTime": 1000}


def test_a_leg_shows_its_list_and_the_expired_sibling() -> None:
    expired = lists.OrderList(4, "L1", "BTC/USDT", ("7-11", "7-12"), 1000, "7-11")
    canceled = lists.shown({**STOP, "status": "canceled"}, expired)
    assert spot.order_json(canceled, BTC)["status"] == "EXPIRED"
    assert spot.order_json(canceled, BTC)["orderListId"] == 4
    assert spot.order_json(STOP, BTC)["orderListId"] == -1  # a plain order
    assert lists.shown(STOP, None) is STOP
    report = execution_report(canceled, BTC, 2000, execution="EXPIRED", status="EXPIRED")
    assert (report["x"], report["X"], report["g"], report["i"]) == ("EXPIRED", "EXPIRED", 4, 11)


def test_a_leg_the_engine_expired_for_its_group_shows_expired_before_it_is_recorded() -> None:
    by_group = {**STOP, "status": "canceled",
                "info": {**STOP["info"], "reason": GROUP_EXPIRED}}  # fmt: skip
    assert lists.expired_by_venue(by_group)
    assert not lists.expired_by_venue({**STOP, "status": "canceled"})  # canceled by the client
    assert lists.venue_expired([MAKER, by_group]) == "7-11"
    assert lists.venue_expired([MAKER, {**STOP, "status": "canceled"}]) is None
    assert spot.order_json(lists.shown(by_group, RECORD), BTC)["status"] == "EXPIRED"
    assert spot.order_json(lists.shown({**STOP, "status": "canceled"}, RECORD),
                           BTC)["status"] == "CANCELED"  # fmt: skip


def test_the_list_holds_the_larger_leg_at_the_price_the_engine_reserves_it() -> None:
    below, above = lists.oco_call(BUY, MARKETS, LAST).legs
    assert (lists.reserve_price(below), lists.reserve_price(above)) == (D(48000), D(51100))
    stop, maker = lists.oco_call(SELL, MARKETS, LAST).legs
    assert (lists.reserve_price(stop), lists.reserve_price(maker)) == (D(48000), D(52000))


def test_list_status_and_the_cancel_answer() -> None:
    done = [lists.shown({**o, "status": "canceled"}, RECORD) for o in (STOP, MAKER)]
    assert lists.list_status(done) == ("ALL_DONE", "ALL_DONE")
    assert lists.list_status([done[0], MAKER]) == ("EXEC_STARTED", "EXECUTING")
    body = lists.canceled_list_json(RECORD, done, BTC, 3000)
    assert (body["listStatusType"], body["listOrderStatus"], body["transactionTime"]) == (
        "ALL_DONE", "ALL_DONE", 3000)
    stop, maker = body["orderReports"]
    assert (stop["status"], stop["orderListId"], stop["origClientOrderId"], stop["stopPrice"]) == (
        "CANCELED", 4, "sl", "48000.00000000")
    assert (maker["status"], maker["type"]) == ("CANCELED", "LIMIT_MAKER")
    assert "stopPrice" not in maker


def test_a_list_is_named_by_id_or_client_id() -> None:
    assert lists.list_ref({"orderListId": "3"}, "listClientOrderId") == (3, None)
    assert lists.list_ref({"listClientOrderId": "L1"}, "listClientOrderId") == (None, "L1")
    with pytest.raises(WireError) as excinfo:
        lists.list_ref({}, "origClientOrderId")
    assert (excinfo.value.code, excinfo.value.msg) == (
        -1102, "Param 'origClientOrderId' or 'orderListId' must be sent, but both were "
               "empty/null!")  # fmt: skip


def test_weights_and_order_counts_as_binance_documents_them() -> None:
    weights = [SPOT_ENDPOINTS[route].weight for route in (
        ("POST", "/api/v3/orderList/oco"), ("DELETE", "/api/v3/orderList"),
        ("GET", "/api/v3/orderList"), ("GET", "/api/v3/openOrderList"),
        ("GET", "/api/v3/allOrderList"))]  # fmt: skip
    assert weights == [1, 1, 4, 6, 20]
    assert ORDER_COUNTS["/api/v3/orderList/oco"] == 2
    counts = OrderCounts()
    assert counts.add("key", 1_000) == (1, 1)
    assert counts.add("key", 2_000, ORDER_COUNTS["/api/v3/orderList/oco"]) == (3, 3)
    assert counts.add("key", 12_000, 2) == (2, 5)  # a new 10-s window, the same day
