"""The Binance spot dialect's pure mappings: request parameters to the engine's order call (with
Binance's mandatory-parameter and filter refusals), engine results to Binance's JSON, CCXT
errors to Binance's codes, and the user-data events of an order's life."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.domain.markets import DEFAULT_MARKETS
from apps.paper.wire import binance_public as public
from apps.paper.wire import binance_spot as spot
from apps.paper.wire.binance_events import new_order_reports, trade_reports
from apps.paper.wire.signing import WireError

D = Decimal
MARKETS = spot.spot_markets(DEFAULT_MARKETS)
BTC = MARKETS["BTCUSDT"]


def refused(params: dict[str, str]) -> tuple[int, str]:
    with pytest.raises(WireError) as excinfo:
        spot.order_call(params, MARKETS)
    return excinfo.value.code, excinfo.value.msg


def test_only_spot_markets_by_binance_symbol() -> None:
    assert sorted(MARKETS) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert BTC.symbol == "BTC/USDT"


@pytest.mark.parametrize(("value", "text"), [
    (D("0.3"), "0.30000000"), (D("0.300000000000000000"), "0.30000000"), (D(100), "100.00000000"),
    (D("0.000000001"), "0.000000001"), (None, "0.00000000"), (D("1E+2"), "100.00000000"),
])  # fmt: skip
def test_numbers_are_binance_strings_and_never_rounded(value: Decimal | None, text: str) -> None:
    assert spot.num(value) == text


def test_limit_order_call() -> None:
    call = spot.order_call({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                            "timeInForce": "IOC", "quantity": "0.0100", "price": "49000.5",
                            "newClientOrderId": "abc"}, MARKETS)  # fmt: skip
    assert (call.market, call.type, call.side, call.qty, call.price) == (
        BTC, "limit", "buy", D("0.0100"), D("49000.5"))
    assert call.params == {"timeInForce": "IOC", "clientOrderId": "abc"}
    assert call.resp_type == "FULL"


def test_market_maker_and_stop_calls() -> None:
    market = spot.order_call({"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET",
                              "quantity": "0.5", "newOrderRespType": "ACK"}, MARKETS)  # fmt: skip
    assert (market.type, market.price, market.resp_type) == ("market", None, "ACK")
    maker = spot.order_call({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT_MAKER",
                             "quantity": "0.5", "price": "40000"}, MARKETS)  # fmt: skip
    assert maker.params == {"postOnly": True}
    assert maker.resp_type == "ACK"  # Binance's default for types other than LIMIT and MARKET
    stop = spot.order_call({"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS_LIMIT",
                            "quantity": "0.5", "price": "44000", "stopPrice": "45000",
                            "timeInForce": "GTC"}, MARKETS)  # fmt: skip
    assert stop.params == {"timeInForce": "GTC", "stopLossPrice": D(45000)}


@pytest.mark.parametrize(("params", "expected"), [
    ({"side": "BUY", "type": "MARKET", "quantity": "1"}, -1102),
    ({"symbol": "DOGEUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"}, -1121),
    ({"symbol": "BTCUSDT", "side": "UP", "type": "MARKET", "quantity": "1"}, -1117),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "OCO", "quantity": "1"}, -1116),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "1"}, -1102),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "1",
      "timeInForce": "DAY"}, -1115),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"}, -1102),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1e2"}, -1100),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "100"}, -1014),
])  # fmt: skip
def test_mandatory_and_enum_refusals(params: dict[str, str], expected: int) -> None:
    assert refused(params)[0] == expected


@pytest.mark.parametrize(("qty", "price", "failure"), [
    ("0.00005", "50000", "Filter failure: LOT_SIZE"),  # below minQty
    ("0.00015", "50000", "Filter failure: LOT_SIZE"),  # off the step
    ("9001", "50000", "Filter failure: LOT_SIZE"),  # above maxQty
    ("0.01", "50000.05", "Filter failure: PRICE_FILTER"),  # off the tick
    ("0.0001", "100", "Filter failure: NOTIONAL"),  # 0.01 USDT < 5
])  # fmt: skip
def test_filters(qty: str, price: str, failure: str) -> None:
    assert refused({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                    "quantity": qty, "price": price}) == (-1013, failure)  # fmt: skip


@pytest.mark.parametrize(("exc", "not_found", "expected"), [
    (ccxt.InsufficientFunds("paper insufficient USDT"), spot.NO_ORDER,
     (400, -2010, spot.NO_FUNDS)),
    (ccxt.OrderNotFound("paper order"), spot.NO_ORDER, (400, -2013, "Order does not exist.")),
    (ccxt.OrderNotFound("paper order"), spot.UNKNOWN_ORDER, (400, -2011, "Unknown order sent.")),
    (ccxt.OrderImmediatelyFillable("x"), spot.NO_ORDER,
     (400, -2010, "Order would immediately match and take.")),
    (ccxt.BadSymbol("x"), spot.NO_ORDER, (400, -1121, "Invalid symbol.")),
    (ccxt.InvalidOrder("paper order cost 1 is below the BTC/USDT minimum 5"), spot.NO_ORDER,
     (400, -1013, "Filter failure: NOTIONAL")),
    (ccxt.InvalidOrder("paper duplicate clientOrderId c1"), spot.NO_ORDER,
     (400, -2010, "Duplicate order sent.")),
    (ccxt.ExchangeNotAvailable("x"), spot.NO_ORDER, (503, -1001,
     "Internal error; unable to process your request. Please try again.")),
])  # fmt: skip
def test_errors(exc: Exception, not_found: str, expected: tuple[int, int, str]) -> None:
    error = spot.error_of(exc, not_found)
    assert (error.status, error.code, error.msg) == expected


def engine_order(**over: Any) -> dict[str, Any]:
    """A PaperVenue order structure (Decimal numbers), as `order_structure` gives it."""
    order = {"info": {"price": "49000", "triggered": False}, "id": "7-12",
             "clientOrderId": "cid-1", "timestamp": 1_000, "lastUpdateTimestamp": 2_000,
             "symbol": "BTC/USDT", "type": "limit", "timeInForce": "GTC", "postOnly": False,
             "side": "buy", "price": D(49000), "triggerPrice": None, "stopLossPrice": None,
             "takeProfitPrice": None, "amount": D("0.02"), "filled": D("0.02"),
             "cost": D("980.0"), "status": "closed", "trades": []}  # fmt: skip
    return {**order, **over}


def engine_trade(n: int, qty: str, maker: bool = True) -> dict[str, Any]:
    cost = D(qty) * 49000
    return {"id": f"7-T{n}", "order": "7-12", "timestamp": 1_500 + n, "symbol": "BTC/USDT",
            "side": "buy", "takerOrMaker": "maker" if maker else "taker", "price": D(49000),
            "amount": D(qty), "cost": cost,
            "fee": {"cost": cost * D("0.001"), "currency": "USDT"}}  # fmt: skip


def test_order_json() -> None:
    body = spot.order_json(engine_order(), BTC)
    assert body["orderId"] == 12
    assert (body["status"], body["type"], body["side"]) == ("FILLED", "LIMIT", "BUY")
    assert (body["price"], body["origQty"], body["executedQty"], body["cummulativeQuoteQty"]) == (
        "49000.00000000", "0.02000000", "0.02000000", "980.00000000")
    assert spot.order_json(engine_order(status="open", filled=D("0.01")), BTC)[
        "status"] == "PARTIALLY_FILLED"
    assert spot.order_json(engine_order(status="open", filled=D(0)), BTC)["status"] == "NEW"
    assert spot.order_json(engine_order(postOnly=True), BTC)["type"] == "LIMIT_MAKER"


def test_new_order_response_types() -> None:
    order = engine_order(trades=[engine_trade(3, "0.02", maker=False)])
    assert set(spot.new_order_json(order, BTC, "ACK")) == {
        "symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    assert "fills" not in spot.new_order_json(order, BTC, "RESULT")
    assert spot.new_order_json(order, BTC, "FULL")["fills"] == [
        {"price": "49000.00000000", "qty": "0.02000000", "commission": "0.98000000",
         "commissionAsset": "USDT", "tradeId": 3}]  # fmt: skip


def test_my_trade_json() -> None:
    body = spot.trade_json(engine_trade(4, "0.01"), BTC)
    assert (body["id"], body["orderId"], body["isBuyer"], body["isMaker"]) == (4, 12, True, True)
    assert (body["qty"], body["quoteQty"], body["commission"]) == (
        "0.01000000", "490.00000000", "0.49000000")


def test_exchange_info_filters() -> None:
    info = public.exchange_info(MARKETS, 5, ["BTCUSDT"])
    filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
    assert filters["LOT_SIZE"]["stepSize"] == "0.00010000"
    assert filters["PRICE_FILTER"]["tickSize"] == "0.10000000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    with pytest.raises(WireError):
        public.exchange_info(MARKETS, 5, ["DOGEUSDT"])


def test_reports_of_a_limit_filled_in_two_parts() -> None:
    order = engine_order()
    reports = trade_reports(order, BTC, [engine_trade(1, "0.005"), engine_trade(2, "0.015")], 9)
    assert [(r["x"], r["X"], r["l"], r["z"], r["t"]) for r in reports] == [
        ("TRADE", "PARTIALLY_FILLED", "0.00500000", "0.00500000", 1),
        ("TRADE", "FILLED", "0.01500000", "0.02000000", 2),
    ]
    assert reports[-1]["Z"] == "980.00000000"
    assert reports[0]["n"] == "0.24500000"
    assert reports[0]["N"] == "USDT"


def test_reports_of_a_new_order() -> None:
    resting = engine_order(status="open", filled=D(0), cost=D(0))
    assert [(r["x"], r["X"]) for r in new_order_reports(resting, BTC, 9)] == [("NEW", "NEW")]
    taken = engine_order(trades=[engine_trade(5, "0.02", maker=False)])
    assert [(r["x"], r["X"], r["m"]) for r in new_order_reports(taken, BTC, 9)] == [
        ("NEW", "NEW", False), ("TRADE", "FILLED", False)]
    nothing = engine_order(status="canceled", filled=D(0), cost=D(0))
    assert [r["X"] for r in new_order_reports(nothing, BTC, 9)] == ["NEW", "EXPIRED"]


def test_cancel_replace_answers() -> None:
    canceled, placed = {"orderId": 1}, {"orderId": 2}
    assert spot.cancel_replace_json(canceled, placed) == {
        "cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
        "cancelResponse": canceled, "newOrderResponse": placed}  # fmt: skip
    unknown = WireError(400, -2011, spot.UNKNOWN_ORDER)
    with pytest.raises(WireError) as excinfo:  # STOP_ON_FAILURE: nothing placed
        spot.cancel_replace_json(unknown, None)
    assert (excinfo.value.status, excinfo.value.code) == (400, -2022)
    assert excinfo.value.body()["data"] == {
        "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
        "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
        "newOrderResponse": None}  # fmt: skip
    with pytest.raises(WireError) as excinfo:  # canceled, but the new order was refused
        spot.cancel_replace_json(canceled, WireError(400, -2010, spot.NO_FUNDS))
    assert (excinfo.value.status, excinfo.value.code) == (409, -2021)
