"""The OKX v5 dialect's pure mappings: instruments (SPOT, linear SWAP with `ctVal`), place-order
requests (net and long/short mode `posSide`, OKX's order types, `tgtCcy`, `clOrdId`, lot and
tick), OKX's codes for
engine refusals, orders, fills, positions, the balance, candles, and the adapter's parameter,
envelope and subscription helpers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.domain.markets import DEFAULT_MARKETS
from apps.paper.wire import okx_account as acct
from apps.paper.wire import okx_v5 as v5
from apps.paper.wire.okx_orders import _answer, event
from apps.paper.wire.okx_server import envelope, matches, params_of, public_reply
from apps.paper.wire.okx_signing import OkxError

D = Decimal
MARKETS = v5.listed(DEFAULT_MARKETS)
SWAP, SPOT = MARKETS["BTC-USDT-SWAP"], MARKETS["BTC-USDT"]


def request(**over: str) -> dict[str, str]:
    return {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit",
            "sz": "0.01", "px": "49000", **over}  # fmt: skip


def code(params: dict[str, str]) -> int:
    with pytest.raises(OkxError) as excinfo:
        v5.order_call(params, MARKETS)
    return excinfo.value.code


def test_instruments() -> None:
    assert {m.symbol for m in MARKETS.values()} == {m.symbol for m in DEFAULT_MARKETS}
    swap, spot = v5.instrument_json(SWAP), v5.instrument_json(SPOT)
    assert (swap["instType"], swap["ctType"], swap["ctVal"], swap["ctValCcy"], swap["uly"],
            swap["settleCcy"], swap["baseCcy"]) == ("SWAP", "linear", "1", "BTC", "BTC-USDT",
                                                    "USDT", "")  # fmt: skip
    assert (spot["instType"], spot["baseCcy"], spot["quoteCcy"], spot["ctVal"]) == (
        "SPOT", "BTC", "USDT", "")
    assert (swap["lotSz"], swap["minSz"], swap["tickSz"], swap["state"]) == (
        "0.0001", "0.0001", "0.1", "live")
    assert [m.symbol for m in v5.chosen({"instType": "SWAP"}, MARKETS)] == [
        m.symbol for m in DEFAULT_MARKETS if m.is_swap]
    with pytest.raises(OkxError) as excinfo:
        v5.chosen({}, MARKETS, required_type=True)
    assert excinfo.value.code == 50014


def test_order_requests() -> None:
    call, mode = v5.order_call(request(clOrdId="abc1", reduceOnly="true"), MARKETS)
    assert (call.market, call.type, call.side, call.qty, call.price, mode) == (
        SWAP, "limit", "buy", D("0.01"), D(49000), "cross")
    assert call.params == {"reduceOnly": True, "clientOrderId": "abc1"}
    assert v5.order_call(request(ordType="post_only"), MARKETS)[0].params == {"postOnly": True}
    assert v5.order_call(request(ordType="ioc"), MARKETS)[0].params == {"timeInForce": "IOC"}
    market, _ = v5.order_call(request(ordType="optimal_limit_ioc", px=""), MARKETS)
    assert (market.type, market.price) == ("market", None)
    spot, mode = v5.order_call(request(instId="BTC-USDT", tdMode="cash", ordType="market",
                                       tgtCcy="base_ccy", px=""), MARKETS)  # fmt: skip
    assert (spot.market, spot.type, mode) == (SPOT, "market", "cash")
    assert v5.order_call(request(instId="BTC-USDT", tdMode="cash", side="sell",
                                 ordType="market", px=""), MARKETS)[0].qty == D("0.01")  # fmt: skip


def test_order_refusals() -> None:
    assert code(request(instId="")) == 50014
    assert code(request(instId="DOGE-USDT-SWAP")) == 51001
    assert code(request(tdMode="")) == 50014
    assert code(request(side="long")) == 51000
    assert code(request(ordType="twap")) == 51000
    assert code(request(posSide="long")) == 51000  # net mode
    assert code(request(tdMode="cash")) == 51000  # a SWAP trades on margin
    assert code(request(px="")) == 51000
    assert code(request(sz="0")) == 51000
    assert code(request(clOrdId="a-b")) == 51000
    assert code(request(clOrdId="x" * 33)) == 51000
    assert code(request(sz="0.00015")) == 51121  # the lot size
    assert code(request(px="49000.05")) == 51000  # the tick size
    assert code(request(sz="0.0001", px="100")) == 51020  # the minimum value
    spot = request(instId="BTC-USDT", tdMode="cash")
    assert code({**spot, "tdMode": "cross"}) == 51000  # no spot margin
    assert code({**spot, "reduceOnly": "true"}) == 51205
    assert code({**spot, "ordType": "market", "px": ""}) == 51000  # OKX's default: quote_ccy


def test_long_short_mode_order_requests() -> None:
    """In long/short mode a SWAP order names its `posSide` (the engine's position side); none
    or `net` is 51000, as `long` / `short` is in net mode; SPOT takes none."""
    opening = v5.order_call(request(posSide="long"), MARKETS, hedged=True)[0]
    assert opening.params == {"positionSide": "long"}
    closing = v5.order_call(request(side="buy", posSide="short", reduceOnly="true"), MARKETS,
                            hedged=True)[0]  # fmt: skip
    assert closing.params == {"positionSide": "short", "reduceOnly": True}
    for side in ("", "net", "both", "LONGS"):
        with pytest.raises(OkxError) as excinfo:
            v5.order_call(request(posSide=side), MARKETS, hedged=True)
        assert (excinfo.value.code, excinfo.value.msg) == (51000, "Parameter posSide error")
    assert "positionSide" not in v5.order_call(request(posSide="net"), MARKETS)[0].params
    spot = v5.order_call(request(instId="BTC-USDT", tdMode="cash"), MARKETS, hedged=True)[0]
    assert "positionSide" not in spot.params


def test_engine_refusals_as_okx_codes() -> None:
    cases: list[tuple[Exception, int]] = [
        (ccxt.InsufficientFunds("paper insufficient"), 51008),
        (ccxt.OrderNotFound("paper no such order"), 51603),
        (ccxt.InvalidOrder("paper duplicate clientOrderId abc"), 51016),
        (ccxt.InvalidOrder("paper reduce-only order would increase the position"), 51169),
        (ccxt.InvalidOrder("paper something else"), 51000),
        (ccxt.BadSymbol("paper no market"), 51001),
        (ccxt.ExchangeNotAvailable("paper down"), 50026),
        (RuntimeError("boom"), 50026),
    ]
    assert [v5.error_of(exc).code for exc, _ in cases] == [c for _, c in cases]
    item = v5.item_error(OkxError(51008, "no"), {"clOrdId": "abc1"}, 5)
    assert (item["sCode"], item["sMsg"], item["clOrdId"], item["ordId"]) == (
        "51008", "no", "abc1", "")


def test_trade_answers() -> None:
    ok = {"sCode": "0", "ordId": "1"}
    bad = {"sCode": "51008", "ordId": ""}
    assert _answer([ok]) == [ok]
    with pytest.raises(OkxError) as excinfo:
        _answer([bad])
    assert excinfo.value.body() == {"code": "1", "msg": "All operations failed", "data": [bad]}
    with pytest.raises(OkxError) as excinfo:
        _answer([ok, bad])
    assert excinfo.value.body()["code"] == "2"
    assert envelope([ok]) == {"code": "0", "msg": "", "data": [ok]}


def order(**over: Any) -> dict[str, Any]:
    return {"id": "1-7", "clientOrderId": "abc1", "type": "limit", "side": "sell",
            "status": "open", "amount": D("0.02"), "filled": D("0.01"), "price": D(51000),
            "average": D(51000), "postOnly": False, "timeInForce": "GTC", "reduceOnly": True,
            "fee": {"cost": D("0.255"), "currency": "USDT"}, "timestamp": 10,
            "lastUpdateTimestamp": 20, **over}  # fmt: skip


def test_orders_and_fills() -> None:
    row = acct.order_json(order(), SWAP, "isolated", 5)
    assert (row["instId"], row["ordId"], row["clOrdId"], row["state"], row["ordType"],
            row["sz"], row["accFillSz"], row["px"], row["avgPx"], row["fee"], row["feeCcy"],
            row["reduceOnly"], row["posSide"], row["tdMode"], row["lever"]) == (
        "BTC-USDT-SWAP", "1-7", "abc1", "partially_filled", "limit", "0.02", "0.01", "51000",
        "51000", "-0.255", "USDT", "true", "net", "isolated", "5")  # fmt: skip
    assert acct.order_json(order(status="closed"), SWAP)["state"] == "filled"
    assert acct.order_json(order(status="canceled"), SWAP)["state"] == "canceled"
    assert acct.order_json(order(filled=D(0)), SWAP)["state"] == "live"
    assert acct.order_json(order(postOnly=True), SWAP)["ordType"] == "post_only"
    assert acct.order_json(order(timeInForce="FOK"), SWAP)["ordType"] == "fok"
    market = acct.order_json(order(type="market", price=None), SPOT)
    assert (market["ordType"], market["px"], market["tdMode"], market["tgtCcy"],
            market["posSide"]) == ("market", "", "cash", "base_ccy", "")  # fmt: skip
    trade = {"id": "9", "order": "1-7", "side": "sell", "price": D(51000), "amount": D("0.01"),
             "timestamp": 30, "takerOrMaker": "maker",
             "fee": {"cost": D("0.102"), "currency": "USDT", "rate": D("0.0002")}}  # fmt: skip
    fill = acct.fill_json(trade, order(), SWAP)
    assert (fill["tradeId"], fill["ordId"], fill["clOrdId"], fill["fillPx"], fill["fillSz"],
            fill["execType"], fill["fee"], fill["feeRate"], fill["ts"]) == (
        "9", "1-7", "abc1", "51000", "0.01", "M", "-0.102", "-0.0002", "30")  # fmt: skip
    pushed = acct.order_fill_json(row, trade)
    assert (pushed["tradeId"], pushed["fillPx"], pushed["fillSz"], pushed["fillFee"],
            pushed["fillFeeCcy"], pushed["fillTime"]) == ("9", "51000", "0.01", "-0.102",
                                                          "USDT", "30")  # fmt: skip


def test_positions_and_balance() -> None:
    short = {"contracts": D(2), "side": "short", "entryPrice": D(3000), "marginMode": "cross",
             "initialMargin": D(1500), "unrealizedPnl": D(-10), "markPrice": D(3005),
             "leverage": D(4), "maintenanceMargin": D(30), "notional": D(6010),
             "liquidationPrice": None, "realizedPnl": D(0)}  # fmt: skip
    row = acct.position_json(short, MARKETS["ETH-USDT-SWAP"], 3, 100)
    assert (row["pos"], row["posSide"], row["mgnMode"], row["imr"], row["margin"], row["upl"],
            row["avgPx"], row["lever"], row["liqPx"]) == (
        "-2", "net", "cross", "1500", "", "-10", "3000", "4", "")  # fmt: skip
    isolated = acct.position_json({**short, "marginMode": "isolated"}, SWAP, 3, 100)
    assert (isolated["imr"], isolated["margin"]) == ("", "1500")
    flat = acct.position_json({"leverage": D(5)}, SWAP, 3, 100)
    assert (flat["pos"], flat["lever"]) == ("0", "5")
    balance = {"total": {"USDT": D(100000), "BTC": D(1)}, "used": {"USDT": D(1500)},
               "free": {"USDT": D(98500), "BTC": D(1)}}  # fmt: skip
    account = acct.balance_json(balance, [row], 100)
    usdt = {d["ccy"]: d for d in account["details"]}["USDT"]
    assert (account["totalEq"], account["upl"], usdt["eq"], usdt["cashBal"], usdt["availEq"],
            usdt["frozenBal"]) == ("99990", "-10", "99990", "100000", "98500", "1500")  # fmt: skip
    assert acct.config_json(3)["posMode"] == "net_mode"
    assert acct.config_json(3, hedged=True)["posMode"] == "long_short_mode"


def test_long_short_mode_rows() -> None:
    """Long/short mode: one position row per `posSide`, `pos` positive (the side says the
    direction), `availPos` the closable size, distinct `posId`s; orders and fills carry the
    engine's position side as `posSide`."""
    short = {"contracts": D(2), "side": "short", "entryPrice": D(3000), "marginMode": "cross",
             "leverage": D(4)}  # fmt: skip
    row = acct.position_json(short, SWAP, 3, 100, "short")
    assert (row["pos"], row["posSide"], row["availPos"]) == ("2", "short", "2")
    long = acct.position_json({**short, "side": "long"}, SWAP, 3, 100, "long")
    assert (long["pos"], long["posSide"]) == ("2", "long")
    assert len({row["posId"], long["posId"], acct.position_json(short, SWAP, 3, 100)["posId"]}) == 3
    flat = acct.position_json({"leverage": D(5)}, SWAP, 3, 100, "long")
    assert (flat["pos"], flat["posSide"]) == ("0", "long")
    hedged = order(info={"position_side": "short"})
    assert acct.order_json(hedged, SWAP)["posSide"] == "short"
    trade = {"id": "9", "order": "1-7", "side": "buy", "price": D(51000), "amount": D("0.01"),
             "timestamp": 30, "takerOrMaker": "taker", "info": {"position_side": "short"}}
    assert acct.fill_json(trade, hedged, SWAP)["posSide"] == "short"
    assert acct.order_json(order(info={"position_side": "both"}), SWAP)["posSide"] == "net"
    assert [r["posSide"] for r in (acct.leverage_json(SWAP, 5, "isolated", "long"),
                                   acct.leverage_json(SWAP, 5, "cross"))] == ["long", "net"]


def test_candles() -> None:
    hour = 3_600_000
    rows = [[i * hour, D(1), D(3), D(1), D(2), D(10)] for i in range(5)]
    since, after, before, limit = v5.candle_window({"before": str(hour - 1),
                                                    "after": str(3 * hour), "limit": "2"},
                                                   "1h", 300)  # fmt: skip
    assert (since, after, before, limit) == (hour, 3 * hour, hour - 1, 2)
    out = v5.candle_rows(SPOT, rows, "1h", after, before, limit, 10 * hour)
    assert [r[0] for r in out] == [str(2 * hour), str(hour)]  # newest first
    assert out[0][5:] == ["10", "20", "20", "1"]  # base, quote, quote, closed
    swap = v5.candle_rows(SWAP, rows, "1h", None, None, 1, 4 * hour + 1)
    assert swap[0][5:] == ["10", "10", "20", "0"]  # contracts, base, quote, still open
    assert v5.candle_window({"after": str(10 * hour), "limit": "3"}, "1h", 300)[0] == 7 * hour
    with pytest.raises(OkxError):
        v5.candle_window({"limit": "-1"}, "1h", 300)


def test_adapter_helpers() -> None:
    assert params_of("GET", "instId=BTC-USDT&sz=5", "") == ({"instId": "BTC-USDT", "sz": "5"}, [])
    assert params_of("POST", "", '{"reduceOnly": true, "sz": 1, "px": null}') == (
        {"reduceOnly": "true", "sz": "1"}, [])
    assert params_of("POST", "", '[{"ordId": "1"}, {"ordId": "2"}]') == (
        {}, [{"ordId": "1"}, {"ordId": "2"}])
    with pytest.raises(OkxError) as excinfo:
        params_of("POST", "", "[1, 2]")
    assert excinfo.value.code == 50002
    push = event("positions", SWAP, [{}])
    assert matches({"channel": "positions", "instType": "ANY"}, push)
    assert matches({"channel": "positions", "instType": "SWAP", "instId": "BTC-USDT-SWAP"}, push)
    assert not matches({"channel": "positions", "instId": "ETH-USDT-SWAP"}, push)
    assert not matches({"channel": "orders", "instType": "SPOT"}, event("orders", SWAP, []))
    assert matches({"channel": "account"}, event("account", None, []))
    args: list[dict[str, Any]] = []
    ok = public_reply({"op": "subscribe", "args": [{"channel": "tickers",
                                                    "instId": "BTC-USDT"}]}, args,
                      set(MARKETS), "c1")  # fmt: skip
    assert (ok["event"], args) == ("subscribe", [{"channel": "tickers", "instId": "BTC-USDT"}])
    bad = public_reply({"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]},
                       args, set(MARKETS), "c1")  # fmt: skip
    assert (bad["event"], bad["code"]) == ("error", "60018")
