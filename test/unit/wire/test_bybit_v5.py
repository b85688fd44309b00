"""The Bybit v5 dialect's pure mappings: order requests (`positionIdx` 0 in one-way mode,
1 / 2 in hedge mode, else 10001; PostOnly, reduceOnly, the lot and price filters),
instruments, klines, orders, executions, positions, the unified wallet, stream topics, and
Bybit's retCodes for engine refusals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.domain.markets import DEFAULT_MARKETS
from apps.paper.wire import bybit_account as acct
from apps.paper.wire import bybit_v5 as v5
from apps.paper.wire.bybit_orders import topic
from apps.paper.wire.bybit_signing import BybitError

D = Decimal
MARKETS = v5.listed(DEFAULT_MARKETS)
BTC = MARKETS["linear"]["BTCUSDT"]


def request(**over: str) -> dict[str, str]:
    return {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
            "qty": "0.01", "price": "49000", **over}  # fmt: skip


def test_linear_perpetuals_and_spot() -> None:
    assert all(m.is_swap for m in MARKETS["linear"].values())
    assert not any(m.is_swap for m in MARKETS["spot"].values())
    spot = v5.spot_instrument_json(MARKETS["spot"]["BTCUSDT"])
    assert (spot["symbol"], spot["lotSizeFilter"]["minOrderAmt"]) == ("BTCUSDT", "5")
    entry = v5.instrument_json(BTC)
    assert (entry["contractType"], entry["settleCoin"], entry["lotSizeFilter"]["qtyStep"],
            entry["priceFilter"]["tickSize"]) == ("LinearPerpetual", "USDT", "0.0001", "0.1")  # fmt: skip


def test_order_calls() -> None:
    call = v5.order_call(request(reduceOnly="true", orderLinkId="c1"), MARKETS)
    assert (call.type, call.side, call.qty, call.price) == ("limit", "buy", D("0.01"), D(49000))
    assert call.params == {"timeInForce": "GTC", "reduceOnly": True, "clientOrderId": "c1"}
    assert v5.order_call(request(timeInForce="PostOnly"), MARKETS).params == {"postOnly": True}
    market = v5.order_call(request(orderType="Market", price=""), MARKETS)
    assert (market.type, market.price, market.params) == ("market", None, {})
    assert v5.order_call(request(positionIdx="0"), MARKETS).side == "buy"
    spot = v5.order_call(request(category="spot", orderType="Market", price="",
                                 marketUnit="baseCoin"), MARKETS)  # fmt: skip
    assert (spot.market.symbol, spot.type, spot.qty) == ("BTC/USDT", "market", D("0.01"))
    sell = v5.order_call(request(category="spot", orderType="Market", side="Sell"), MARKETS)
    assert sell.side == "sell"  # a market Sell counts in the base coin by default


@pytest.mark.parametrize(("over", "code"), [
    ({"category": "inverse"}, 10001),
    ({"category": "spot", "reduceOnly": "true"}, 10001),
    ({"category": "spot", "orderType": "Market", "price": ""}, 10001),  # in quote coin
    ({"category": "spot", "qty": "0.00001"}, 170137),
    ({"category": "spot", "price": "49000.05"}, 170134),
    ({"category": "spot", "qty": "0.0001", "price": "100"}, 170140),
    ({"category": ""}, 10001),
    ({"symbol": "NOPEUSDT"}, 10001),
    ({"side": "BUY"}, 10001),
    ({"orderType": "StopLimit"}, 10001),
    ({"positionIdx": "1"}, 10001),  # hedge mode's long side on a one-way account
    ({"qty": ""}, 10001),
    ({"qty": "1e-3"}, 10001),
    ({"qty": "0.00001"}, 10001),  # off the step
    ({"price": "49000.05"}, 10001),  # off the tick
    ({"price": ""}, 10001),
    ({"timeInForce": "GTX"}, 10001),
    ({"qty": "0.0001", "price": "100"}, 110094),  # below the minimum value
])  # fmt: skip
def test_refusals(over: dict[str, str], code: int) -> None:
    with pytest.raises(BybitError) as excinfo:
        v5.order_call(request(**over), MARKETS)
    assert excinfo.value.code == code


def test_errors() -> None:
    assert v5.error_of(ccxt.InsufficientFunds("x")).code == 110007
    assert v5.error_of(ccxt.OrderNotFound("x")).code == 110001
    assert v5.error_of(ccxt.InvalidOrder("paper duplicate clientOrderId c1")).code == 110072
    assert v5.error_of(ccxt.InvalidOrder("paper reduce-only order would open")).code == 110017
    assert v5.error_of(RuntimeError("x")).code == 10016
    assert v5.error_of(ccxt.InsufficientFunds("x"), spot=True).code == 170131
    assert v5.error_of(ccxt.BadRequest("x")).body()["retCode"] == 10001


def test_klines_newest_first() -> None:
    rows = [[60_000, D(1), D(3), D("0.5"), D(2), "4"], [120_000, D(2), D(2), D(2), D(2), "0"]]
    assert v5.kline_rows(rows, None) == [["120000", "2", "2", "2", "2", "0", "0"],
                                         ["60000", "1", "3", "0.5", "2", "4", "8"]]  # fmt: skip
    assert len(v5.kline_rows(rows, 60_000)) == 1


def order(**over: Any) -> dict[str, Any]:
    base = {"info": {}, "id": "3-8", "clientOrderId": None, "timestamp": 10,
            "lastUpdateTimestamp": None, "type": "limit", "timeInForce": "GTC",
            "postOnly": False, "reduceOnly": True, "side": "sell", "price": D(49000),
            "amount": D("0.02"), "filled": D("0.01"), "cost": D("490"), "status": "open",
            "fee": {"cost": D("0.098"), "currency": "USDT"}}  # fmt: skip
    return {**base, **over}


def test_order_json() -> None:
    body = acct.order_json(order(), BTC)
    assert (body["orderId"], body["orderLinkId"], body["orderStatus"], body["side"]) == (
        "3-8", "", "PartiallyFilled", "Sell")
    assert (body["avgPrice"], body["leavesQty"], body["cumExecValue"], body["cumExecFee"],
            body["reduceOnly"], body["positionIdx"]) == ("49000", "0.01", "490", "0.098", True,
                                                          0)  # fmt: skip
    assert acct.order_json(order(postOnly=True), BTC)["timeInForce"] == "PostOnly"
    assert acct.order_json(order(status="canceled"), BTC)["orderStatus"] == (
        "PartiallyFilledCanceled")
    unfilled = acct.order_json(order(status="canceled", filled=D(0), cost=D(0)), BTC)
    assert (unfilled["orderStatus"], unfilled["avgPrice"]) == ("Cancelled", "")
    spot = acct.order_json(order(), MARKETS["spot"]["BTCUSDT"])
    assert "tpslMode" not in spot  # how CCXT tells a spot row from a contract one
    market = acct.order_json(order(type="market", status="closed", filled=D("0.02")), BTC)
    assert (market["orderType"], market["price"], market["orderStatus"]) == (
        "Market", "0", "Filled")


def test_execution_position_wallet() -> None:
    trade = {"id": "3-T9", "order": "3-8", "timestamp": 11, "takerOrMaker": "maker",
             "side": "sell", "price": D(49000), "amount": D("0.01"), "cost": D(490),
             "fee": {"cost": D("0.098"), "currency": "USDT"}}  # fmt: skip
    row = acct.execution_json(trade, order(), BTC)
    assert "createType" not in acct.execution_json(trade, order(), MARKETS["spot"]["BTCUSDT"])
    assert (row["execId"], row["execQty"], row["execFee"], row["isMaker"], row["execTime"]) == (
        "3-T9", "0.01", "0.098", True, "11")
    position = {"side": "short", "contracts": D("0.5"), "entryPrice": D(50000),
                "unrealizedPnl": D(-250), "initialMargin": D(2525),
                "maintenanceMargin": D("126.25")}  # fmt: skip
    held = acct.position_json(BTC, position, 10, D(50500), 99)
    assert (held["side"], held["size"], held["avgPrice"], held["positionValue"],
            held["leverage"], held["positionIM"]) == ("Sell", "0.5", "50000", "25000", "10",
                                                      "2525")  # fmt: skip
    flat = acct.position_json(BTC, None, 20, D(50500), 99)
    assert (flat["side"], flat["size"], flat["liqPrice"]) == ("", "0", "")
    balance = {"total": {"USDT": D(100000)}, "used": {"USDT": D(2525)},
               "free": {"USDT": D(97475)}}  # fmt: skip
    wallet = acct.wallet_json(balance, [held, flat])
    coin = wallet["coin"][0]
    assert (wallet["accountType"], wallet["totalPerpUPL"], wallet["totalEquity"]) == (
        "UNIFIED", "-250", "99750")
    assert (coin["walletBalance"], coin["availableToWithdraw"], coin["totalPositionIM"],
            coin["totalOrderIM"]) == ("100000", "97475", "2525", "0")  # fmt: skip


def test_topics() -> None:
    message = topic("order", [acct.order_json(order(), BTC)], 5)
    assert (message["topic"], message["creationTime"], message["data"][0]["orderId"]) == (
        "order", 5, "3-8")


def test_hedge_mode_position_idx() -> None:
    long = v5.order_call(request(positionIdx="1"), MARKETS, hedged=True)
    assert long.params["positionSide"] == "long"
    closing = v5.order_call(request(side="Buy", positionIdx="2", reduceOnly="true"), MARKETS,
                            hedged=True)  # fmt: skip
    assert (closing.params["positionSide"], closing.params["reduceOnly"]) == ("short", True)
    for idx in ("0", ""):
        with pytest.raises(BybitError) as excinfo:
            v5.order_call(request(positionIdx=idx), MARKETS, hedged=True)
        assert excinfo.value.code == 10001
    assert "positionSide" not in v5.order_call(request(), MARKETS).params  # one-way
    spot = v5.order_call(request(category="spot"), MARKETS, hedged=True)  # spot: no sides
    assert "positionSide" not in spot.params
    short = acct.order_json(order(info={"position_side": "short"}), BTC)
    assert short["positionIdx"] == 2
    rows = [acct.position_json(BTC, None, 10, D(50000), 1, side) for side in ("long", "short")]
    assert [(r["positionIdx"], r["size"], r["side"]) for r in rows] == [(1, "0", ""),
                                                                        (2, "0", "")]
