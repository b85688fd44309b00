"""CCXT's own `binance` and `ccxt.pro.binance`, unmodified, trading the paper venue served in
the Binance spot dialect over real HTTP and websockets: what CCXT parses is what the venue
booked, and the venue's refusals arrive as CCXT's own exception classes."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import pytest

from apps.paper.wire.accounts import Credentials
from apps.paper.wire.process import Running
from test.integration.wire.conftest import point, set_price, spot_options

D = Decimal
EX = ccxt.Exchange()
ORDER_KEYS = set(EX.safe_order({}))
TRADE_KEYS = set(EX.safe_trade({}))


def check_order(order: dict[str, Any], symbol: str) -> None:
    """CCXT's order structure rules (as `test/integration/paper/test_ccxt_shape.py` mirrors)."""
    assert set(order) >= ORDER_KEYS, ORDER_KEYS - set(order)
    assert isinstance(order["id"], str)
    assert order["symbol"] == symbol
    assert order["datetime"] == EX.iso8601(order["timestamp"])
    assert order["status"] in ("open", "closed", "canceled", "expired")
    assert order["side"] in ("buy", "sell")
    assert order["amount"] >= order["filled"] >= 0
    assert order["remaining"] is None or order["amount"] >= order["remaining"] >= 0


def check_trade(trade: dict[str, Any], symbol: str) -> None:
    assert set(trade) >= TRADE_KEYS, TRADE_KEYS - set(trade)
    assert trade["symbol"] == symbol
    assert trade["datetime"] == EX.iso8601(trade["timestamp"])
    assert trade["side"] in ("buy", "sell")
    assert trade["takerOrMaker"] in ("taker", "maker")
    assert trade["price"] > 0
    assert trade["amount"] > 0
    assert trade["fee"]["cost"] >= 0
    assert trade["fee"]["currency"] == "USDT"


def check_balance(balance: dict[str, Any]) -> None:
    """CCXT's balance rules: free + used == total per currency, none negative."""
    assert {"info", "free", "used", "total"} <= set(balance)
    assert set(balance["total"]) == set(balance["free"]) == set(balance["used"])
    for code, total in balance["total"].items():
        free, used = D(str(balance["free"][code])), D(str(balance["used"][code]))
        assert free >= 0
        assert used >= 0
        assert free + used == D(str(total))


def check_position(position: dict[str, Any], symbol: str) -> None:
    """CCXT's position rules (as test/integration/paper/test_ccxt_shape.py mirrors them)."""
    assert set(position) >= set(EX.safe_position({})), set(EX.safe_position({})) - set(position)
    assert position["symbol"] == symbol
    assert position["side"] in ("long", "short")
    assert position["marginMode"] in ("cross", "isolated")
    assert 0 < position["leverage"] <= 125
    for key in ("contracts", "entryPrice", "notional", "initialMargin", "markPrice"):
        assert position[key] > 0, key


async def test_public_data(binance: Any) -> None:
    markets = await binance.load_markets()
    btc = markets["BTC/USDT"]
    assert btc["id"] == "BTCUSDT"
    assert btc["spot"]
    assert btc["active"]
    assert (btc["precision"]["amount"], btc["precision"]["price"]) == (0.0001, 0.1)
    assert btc["limits"]["amount"]["min"] == 0.0001
    assert btc["limits"]["cost"]["min"] == 5
    assert "BTC/USDT:USDT" not in markets
    assert isinstance(await binance.fetch_time(), int)
    ticker = await binance.fetch_ticker("ETH/USDT")
    assert ticker["symbol"] == "ETH/USDT"
    assert ticker["last"] == ticker["bid"] == ticker["ask"] == 3000
    book = await binance.fetch_order_book("BTC/USDT", 5)
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert book["bids"][0][0] <= 50000 <= book["asks"][0][0]
    quotes = await binance.fetch_bids_asks(["BTC/USDT", "ETH/USDT"])
    assert (quotes["ETH/USDT"]["bid"], quotes["ETH/USDT"]["ask"]) == (3000, 3000)
    candles = await binance.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    assert 1 <= len(candles) <= 5
    assert all(len(c) == 6 and c[2] >= c[3] for c in candles)


async def test_limit_and_market_orders(binance: Any, served: Running) -> None:
    await binance.load_markets()
    balance = await binance.fetch_balance()
    check_balance(balance)
    assert balance["USDT"] == {"free": 100000, "used": 0, "total": 100000}
    assert balance["BTC"]["total"] == 1

    bought = await binance.create_order("SOL/USDT", "market", "buy", 2)
    check_order(bought, "SOL/USDT")
    assert bought["status"] == "closed"
    assert bought["filled"] == 2
    assert bought["average"] == 150
    assert bought["cost"] == 300
    assert bought["info"]["executedQty"] == "2.00000000"
    assert bought["info"]["cummulativeQuoteQty"] == "300.00000000"
    assert bought["fee"] == {"cost": 0.3, "currency": "USDT"}  # 0.1 % taker, quote currency
    assert bought["info"]["fills"][0]["commission"] == "0.30000000"

    resting = await binance.create_order("SOL/USDT", "limit", "buy", 1, 140, {
        "clientOrderId": "my-limit-1"})
    check_order(resting, "SOL/USDT")
    assert resting["status"] == "open"
    assert resting["filled"] == 0
    assert resting["clientOrderId"] == "my-limit-1"
    assert resting["price"] == 140
    assert resting["remaining"] == 1

    balance = await binance.fetch_balance()
    check_balance(balance)
    assert balance["SOL"]["total"] == 102
    # 100,000 - 300 - 0.3 fee; 1 x 140 x (1 + 0.1 %) reserved for the resting buy
    assert D(str(balance["USDT"]["total"])) == D("99699.7")
    assert D(str(balance["USDT"]["used"])) == D("140.14")

    open_orders = await binance.fetch_open_orders("SOL/USDT")
    assert [o["id"] for o in open_orders] == [resting["id"]]
    fetched = await binance.fetch_order(resting["id"], "SOL/USDT")
    assert fetched["status"] == "open"
    assert fetched["clientOrderId"] == "my-limit-1"

    await set_price(served, "SOL/USDT", "139.5")  # trades through the resting buy
    filled = await binance.fetch_order(resting["id"], "SOL/USDT")
    assert filled["status"] == "closed"
    assert filled["filled"] == 1
    assert filled["average"] == 140

    trades = await binance.fetch_my_trades("SOL/USDT")
    assert len(trades) == 2
    for trade in trades:
        check_trade(trade, "SOL/USDT")
    assert [(t["takerOrMaker"], t["price"], t["amount"], t["fee"]["cost"]) for t in trades] == [
        ("taker", 150, 2, 0.3), ("maker", 140, 1, 0.14)]
    assert trades[1]["order"] == resting["id"]
    orders = await binance.fetch_orders("SOL/USDT")
    assert [o["status"] for o in orders] == ["closed", "closed"]
    for symbol, price in (("BTC/USDT", "50000"), ("ETH/USDT", "3000"), ("SOL/USDT", "150")):
        await set_price(served, symbol, price)  # the module's other tests price from these


async def test_cancel(binance: Any) -> None:
    await binance.load_markets()
    order = await binance.create_order("ETH/USDT", "limit", "sell", 0.5, 3100)
    canceled = await binance.cancel_order(order["id"], "ETH/USDT")
    assert canceled["status"] == "canceled"
    assert canceled["id"] == order["id"]
    assert (await binance.fetch_order(order["id"], "ETH/USDT"))["status"] == "canceled"
    assert await binance.fetch_open_orders("ETH/USDT") == []
    balance = await binance.fetch_balance()
    assert balance["ETH"] == {"free": 10, "used": 0, "total": 10}
    with pytest.raises(ccxt.OrderNotFound):
        await binance.cancel_order(order["id"], "ETH/USDT")


async def test_edit_is_cancel_replace(binance: Any) -> None:
    """CCXT's edit_order on spot: POST /api/v3/order/cancelReplace (a new orderId)."""
    await binance.load_markets()
    order = await binance.create_order("ETH/USDT", "limit", "buy", 0.1, 2900)
    edited = await binance.edit_order(order["id"], "ETH/USDT", "limit", "buy", 0.2, 2950)
    assert edited["id"] != order["id"]
    assert (edited["status"], edited["amount"], edited["price"]) == ("open", 0.2, 2950)
    assert (await binance.fetch_order(order["id"], "ETH/USDT"))["status"] == "canceled"
    assert [o["id"] for o in await binance.fetch_open_orders("ETH/USDT")] == [edited["id"]]
    with pytest.raises(ccxt.ExchangeError):  # -2022: the cancel failed, nothing placed
        await binance.edit_order(order["id"], "ETH/USDT", "limit", "buy", 0.2, 2950)
    await binance.cancel_order(edited["id"], "ETH/USDT")


async def test_cancel_all_orders(binance: Any) -> None:
    await binance.load_markets()
    for price in (2900, 2800):
        await binance.create_order("ETH/USDT", "limit", "buy", 0.1, price)
    canceled = await binance.cancel_all_orders("ETH/USDT")  # DELETE /api/v3/openOrders
    assert sorted(o["status"] for o in canceled) == ["canceled", "canceled"]
    assert await binance.fetch_open_orders("ETH/USDT") == []
    with pytest.raises(ccxt.OrderNotFound):  # nothing left: -2011
        await binance.cancel_all_orders("ETH/USDT")


async def test_listen_key_stream(binance: Any, served: Running) -> None:
    """The listen-key user-data stream: key from POST /api/v3/userDataStream (CCXT's own
    implicit method), events on `/ws/<listenKey>`, PUT keeps it, DELETE closes it."""
    await binance.load_markets()
    key = (await binance.publicPostUserDataStream())["listenKey"]
    assert (await binance.publicPostUserDataStream())["listenKey"] == key  # still valid: same
    async with aiohttp.ClientSession() as session, session.ws_connect(
            f"{served.ws_url}/ws/{key}") as ws:  # fmt: skip
        order = await binance.create_order("BTC/USDT", "limit", "sell", 0.01, 51000)
        first = await asyncio.wait_for(ws.receive_json(), 20)
        second = await asyncio.wait_for(ws.receive_json(), 20)
    assert (first["e"], first["x"], first["X"], first["i"]) == (
        "executionReport", "NEW", "NEW", int(order["id"]))
    assert second["e"] == "outboundAccountPosition"
    assert {b["a"]: b["l"] for b in second["B"]}["BTC"] == "0.01000000"
    assert await binance.publicPutUserDataStream({"listenKey": key}) == {}
    assert await binance.publicDeleteUserDataStream({"listenKey": key}) == {}
    with pytest.raises(ccxt.ExchangeError):  # -1125 This listenKey does not exist.
        await binance.publicPutUserDataStream({"listenKey": key})
    await binance.cancel_order(order["id"], "BTC/USDT")


async def test_refusals_are_ccxt_exceptions(binance: Any, served: Running) -> None:
    await binance.load_markets()
    with pytest.raises(ccxt.InsufficientFunds):
        await binance.create_order("BTC/USDT", "limit", "buy", 3, 49000)
    with pytest.raises(ccxt.InsufficientFunds):
        await binance.create_order("BTC/USDT", "market", "sell", 2)
    await binance.create_order("SOL/USDT", "limit", "buy", 1, 140, {"test": True})
    assert await binance.fetch_open_orders("SOL/USDT") == []  # order/test places nothing
    with pytest.raises(ccxt.InvalidOrder):  # but checks like a placement
        await binance.create_order("SOL/USDT", "limit", "buy", 9001, 140, {"test": True})
    with pytest.raises(ccxt.InvalidOrder):  # LOT_SIZE: above the filter's maxQty
        await binance.create_order("SOL/USDT", "limit", "sell", 9001, 150)
    with pytest.raises(ccxt.OrderNotFound):
        await binance.fetch_order("987654", "BTC/USDT")
    await binance.create_order("BTC/USDT", "limit", "buy", 0.001, 40000, {"clientOrderId": "d1"})
    with pytest.raises(ccxt.InvalidOrder):  # -2010 Duplicate order sent.
        await binance.create_order("BTC/USDT", "limit", "buy", 0.001, 40000,
                                   {"clientOrderId": "d1"})
    with pytest.raises(ccxt.BadSymbol):
        await binance.fetch_ticker("DOGE/USDT")
    with pytest.raises(ccxt.BadRequest):  # an interval the paper candles do not keep
        await binance.fetch_ohlcv("BTC/USDT", "1M")


async def test_authentication_and_clock(served: Running, binance: Any) -> None:
    await binance.load_markets()
    wrong = point(ccxt_async.binance(spot_options(None)), served)
    wrong.apiKey, wrong.secret = binance.apiKey, "0" * 64
    try:
        with pytest.raises(ccxt.AuthenticationError):  # -1022: bad signature
            await wrong.fetch_balance()
        wrong.apiKey = "unknown-key"
        with pytest.raises(ccxt.AuthenticationError):  # -2015: unknown key
            await wrong.fetch_balance()
    finally:
        await wrong.close()
    served.venue.clock.skew_ms = 20_000  # the client's timestamps are 20 s old for the venue
    try:
        with pytest.raises(ccxt.InvalidNonce):  # -1021 outside recvWindow
            await binance.fetch_balance()
    finally:
        served.venue.clock.skew_ms = 0
    assert (await binance.fetch_balance())["USDT"]["total"] == 100000


async def test_rate_limit_headers(binance: Any) -> None:
    await binance.load_markets()
    await binance.fetch_balance()
    headers = {k.lower(): v for k, v in binance.last_response_headers.items()}
    assert int(headers["x-mbx-used-weight-1m"]) >= 20  # GET /api/v3/account weighs 20


async def test_watch_orders_trades_and_balance(binance_pro: Any, served: Running,
                                               account: Credentials) -> None:
    await binance_pro.load_markets()
    orders = asyncio.ensure_future(binance_pro.watch_orders("BTC/USDT"))
    await asyncio.sleep(0)
    balance_watch = asyncio.ensure_future(binance_pro.watch_balance())
    trades_watch = asyncio.ensure_future(binance_pro.watch_my_trades("BTC/USDT"))
    await _subscribed(served, account.account_id)
    placed = await binance_pro.create_order("BTC/USDT", "limit", "buy", 0.01, 49000)
    seen = await asyncio.wait_for(orders, 20)
    assert seen[-1]["id"] == placed["id"]
    assert seen[-1]["status"] == "open"
    balance = await asyncio.wait_for(balance_watch, 20)
    assert D(str(balance["USDT"]["used"])) == D("490.49")

    closed_watch = asyncio.ensure_future(binance_pro.watch_orders("BTC/USDT"))
    await asyncio.sleep(0)
    await set_price(served, "BTC/USDT", "48900")
    trades = await asyncio.wait_for(trades_watch, 20)
    assert trades[-1]["order"] == placed["id"]
    assert (trades[-1]["price"], trades[-1]["amount"], trades[-1]["takerOrMaker"]) == (
        49000, 0.01, "maker")
    assert trades[-1]["fee"] == {"cost": 0.49, "currency": "USDT"}
    closed = await asyncio.wait_for(closed_watch, 20)
    assert closed[-1]["status"] == "closed"
    assert closed[-1]["filled"] == 0.01
    await set_price(served, "BTC/USDT", "50000")


async def test_watch_ticker(binance_pro: Any, served: Running) -> None:
    """The public market stream (`/ws/0`, SUBSCRIBE `btcusdt@ticker`): 24hrTicker events."""
    await binance_pro.load_markets()
    ticker = await asyncio.wait_for(binance_pro.watch_ticker("BTC/USDT"), 20)
    assert (ticker["symbol"], ticker["last"], ticker["bid"], ticker["ask"]) == (
        "BTC/USDT", 50000, 50000, 50000)
    await set_price(served, "BTC/USDT", "50100")
    for _ in range(5):  # the next events (one a second) carry the new price
        ticker = await asyncio.wait_for(binance_pro.watch_ticker("BTC/USDT"), 20)
        if ticker["last"] == 50100:
            break
    assert ticker["last"] == 50100
    await set_price(served, "BTC/USDT", "50000")


async def _subscribed(served: Running, account_id: int) -> None:
    """Until the venue has the account's user-data subscription (events before it are not the
    subscriber's, as on Binance)."""
    for _ in range(1000):
        if any(s.account_id == account_id for s in served.venue.streams.subscribers):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the user-data stream was never subscribed")


async def test_a_random_walk_step_moves_every_market(served: Running, binance: Any) -> None:
    await binance.load_markets()
    before = await binance.fetch_ticker("SOL/USDT")
    await served.venue.walk()  # what `--walk-seconds` runs on its timer
    after = await binance.fetch_ticker("SOL/USDT")
    assert after["last"] != before["last"]
    assert abs(after["last"] - before["last"]) <= before["last"] * 0.0005 + 0.001  # ±5 bps
    for symbol, price in (("BTC/USDT", "50000"), ("ETH/USDT", "3000"), ("SOL/USDT", "150")):
        await set_price(served, symbol, price)  # the module's other tests price from these
