"""The Binance USDⓈ-M dialect's pure mappings: order requests in one-way and hedge mode (-4061
for the other mode's `positionSide`, -1106 for reduceOnly in hedge mode, -4120 for conditional
types, GTX as post-only), order, trade, position and account JSON with the position side, the
user-data events, and futures' error codes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.domain.markets import DEFAULT_MARKETS
from apps.paper.wire import binance_usdm as usdm
from apps.paper.wire.signing import WireError
from apps.paper.wire.usdm_handlers import futures_error

D = Decimal
MARKETS = usdm.usdm_markets(DEFAULT_MARKETS)
BTC = MARKETS["BTCUSDT"]


def request(**over: str) -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.010", "price": "49000", **over}  # fmt: skip


def code_of(params: dict[str, str]) -> int:
    with pytest.raises(WireError) as excinfo:
        usdm.order_call(params, MARKETS)
    return excinfo.value.code


def test_swaps_only() -> None:
    assert BTC.symbol == "BTC/USDT:USDT"
    info = usdm.exchange_info(MARKETS, 1)
    entry = info["symbols"][0]
    assert (entry["contractType"], entry["marginAsset"], entry["quantityPrecision"],
            entry["pricePrecision"]) == ("PERPETUAL", "USDT", 4, 1)  # fmt: skip


def test_order_calls() -> None:
    call = usdm.order_call(request(reduceOnly="true", newClientOrderId="c1"), MARKETS)
    assert (call.type, call.side, call.qty, call.price) == ("limit", "buy", D("0.010"), D(49000))
    assert call.params == {"timeInForce": "GTC", "reduceOnly": True, "clientOrderId": "c1"}
    assert usdm.order_call(request(timeInForce="GTX"), MARKETS).params == {"postOnly": True}
    market = usdm.order_call(request(type="MARKET", price="", timeInForce=""), MARKETS)
    assert (market.type, market.price) == ("market", None)
    assert usdm.order_call(request(positionSide="BOTH"), MARKETS).side == "buy"


@pytest.mark.parametrize(("over", "code"), [
    ({"positionSide": "LONG"}, -4061),
    ({"positionSide": "SHORT"}, -4061),
    ({"type": "STOP_MARKET"}, -4120),
    ({"type": "OCO"}, -1116),
    ({"timeInForce": "DAY"}, -1115),
    ({"quantity": "0.00001"}, -1013),
    ({"price": ""}, -1102),
])  # fmt: skip
def test_refusals(over: dict[str, str], code: int) -> None:
    assert code_of(request(**over)) == code


def order(**over: Any) -> dict[str, Any]:
    base = {"info": {"price": "49000"}, "id": "3-8", "clientOrderId": None, "timestamp": 10,
            "lastUpdateTimestamp": None, "type": "limit", "timeInForce": "GTC",
            "postOnly": False, "reduceOnly": True, "side": "sell", "amount": D("0.02"),
            "filled": D("0.01"), "cost": D("490"), "status": "open"}  # fmt: skip
    return {**base, **over}


def test_order_json() -> None:
    body = usdm.order_json(order(), BTC)
    assert (body["orderId"], body["clientOrderId"], body["status"]) == (8, "3-8",
                                                                         "PARTIALLY_FILLED")
    assert (body["avgPrice"], body["cumQuote"], body["reduceOnly"], body["positionSide"]) == (
        "49000.00000000", "490.00000000", True, "BOTH")
    assert usdm.order_json(order(postOnly=True), BTC)["timeInForce"] == "GTX"


def test_position_and_account_json() -> None:
    position = {"side": "short", "contracts": D("0.5"), "entryPrice": D(50000),
                "unrealizedPnl": D(-250), "liquidationPrice": None, "collateral": D(2500),
                "initialMargin": D(2525), "maintenanceMargin": D("126.25"),
                "lastUpdateTimestamp": 7}  # fmt: skip
    row = usdm.position_json(BTC, position, 10, "isolated", D(50500), 99)
    assert (row["positionAmt"], row["notional"], row["isolatedMargin"], row["marginType"]) == (
        "-0.50000000", "-25250.00000000", "2500.00000000", "isolated")
    flat = usdm.position_json(BTC, None, 20, "cross", D(50500), 99)
    assert (flat["positionAmt"], flat["leverage"]) == ("0.00000000", "20")
    balance = {"total": {"USDT": D(100000)}, "used": {"USDT": D(2525)},
               "free": {"USDT": D(97475)}}  # fmt: skip
    account = usdm.account_json(balance, [row, flat], 99)
    assert account["totalUnrealizedProfit"] == "-250.00000000"
    assert account["totalMarginBalance"] == "99750.00000000"
    assert [p["symbol"] for p in account["positions"]] == ["BTCUSDT"]  # open positions only
    assert account["assets"][0]["availableBalance"] == "97475.00000000"
    update = usdm.account_update(balance, [row], 99)
    assert update["a"]["P"][0]["pa"] == "-0.50000000"
    assert update["a"]["B"][0]["wb"] == "100000.00000000"


def test_order_trade_update() -> None:
    trade = {"id": "3-T9", "timestamp": 11, "takerOrMaker": "maker", "price": D(49000),
             "amount": D("0.01"), "fee": {"cost": D("0.098"), "currency": "USDT"}}  # fmt: skip
    event = usdm.order_update(order(), BTC, 12, execution="TRADE", trade=trade,
                              cum_qty=D("0.01"))  # fmt: skip
    o = event["o"]
    assert (event["e"], o["x"], o["X"], o["t"], o["l"], o["z"], o["n"], o["m"], o["R"]) == (
        "ORDER_TRADE_UPDATE", "TRADE", "PARTIALLY_FILLED", 9, "0.01000000", "0.01000000",
        "0.09800000", True, True)


def test_futures_errors() -> None:
    assert futures_error(ccxt.InsufficientFunds("x")).code == -2019
    assert futures_error(ccxt.OrderImmediatelyFillable("x")).code == -5022
    assert futures_error(ccxt.OrderNotFound("x")).code == -2013


def hedge_code(params: dict[str, str]) -> int:
    with pytest.raises(WireError) as excinfo:
        usdm.order_call(params, MARKETS, hedged=True)
    return excinfo.value.code


def test_hedge_mode_orders_name_their_position_side() -> None:
    opening = usdm.order_call(request(positionSide="LONG"), MARKETS, hedged=True)
    assert opening.params == {"timeInForce": "GTC", "positionSide": "long"}
    closing = usdm.order_call(request(side="BUY", positionSide="short"), MARKETS, hedged=True)
    assert closing.params["positionSide"] == "short"  # buy SHORT: the engine closes the short
    assert hedge_code(request(positionSide="BOTH")) == -4061
    assert hedge_code(request()) == -4061  # no positionSide: BOTH, not hedge mode's
    assert hedge_code(request(positionSide="LONG", reduceOnly="true")) == -1106
    assert hedge_code(request(positionSide="LONG", reduceOnly="false")) == -1106
    assert "positionSide" not in usdm.order_call(request(), MARKETS).params  # one-way


def test_hedge_mode_json_carries_the_side() -> None:
    long_order = order(info={"price": "49000", "position_side": "long"})
    assert usdm.order_json(long_order, BTC)["positionSide"] == "LONG"
    event = usdm.order_update(long_order, BTC, 12, execution="NEW")
    assert event["o"]["ps"] == "LONG"
    position = {"side": "short", "contracts": D("0.5"), "entryPrice": D(50000),
                "unrealizedPnl": D(0), "liquidationPrice": None, "collateral": D(0),
                "initialMargin": D(2500), "maintenanceMargin": D(0)}  # fmt: skip
    short = usdm.position_json(BTC, position, 10, "cross", D(50000), 1, "short")
    long = usdm.position_json(BTC, None, 10, "cross", D(50000), 1, "long")
    assert (short["positionSide"], short["positionAmt"]) == ("SHORT", "-0.50000000")
    assert (long["positionSide"], long["positionAmt"]) == ("LONG", "0.00000000")
    balance = {"total": {"USDT": D(1)}, "used": {}, "free": {}}
    assert [p["ps"] for p in usdm.account_update(balance, [long, short], 1)["a"]["P"]] == [
        "LONG", "SHORT"]
    trade = {"info": {"position_side": "short"}, "side": "buy", "fee": {"cost": D(0),
             "currency": "USDT"}, "id": "3-T9", "takerOrMaker": "taker", "order": "3-8",
             "price": D(1), "amount": D(1), "cost": D(1), "timestamp": 1}  # fmt: skip
    assert usdm.trade_json(trade, BTC)["positionSide"] == "SHORT"
