"""CCXT's own `bybit` and `ccxt.pro.bybit`, unmodified, trading the paper venue served in the
Bybit v5 dialect (unified account, linear perpetuals, one-way mode) over HTTP and websockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from apps.oms.exchange.ccxt.instances import close_for_good, merged
from apps.paper.wire.accounts import Credentials
from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue
from test.integration.wire.conftest import CLIENT_TIMEOUT_MS
from test.integration.wire.test_binance_spot_ccxt import (
    check_balance,
    check_order,
    check_position,
    check_trade,
)

D = Decimal
SYMBOL = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    store = tmp_path_factory.mktemp("wire-bybit") / "venue.sqlite3"
    running = await start(await build_venue(f"sqlite+aiosqlite:///{store}", "bybit"))
    yield running
    await running.stop()


def bybit_config(creds: Credentials | None) -> dict[str, Any]:
    """Keys, and linear markets only (the venue serves no spot, inverse or option lists)."""
    config: dict[str, Any] = {"options": {"fetchMarkets": {"types": ["linear"]}},
                              "timeout": CLIENT_TIMEOUT_MS}
    if creds is not None:
        config.update(apiKey=creds.api_key, secret=creds.secret)
    return config


def point(exchange: Any, running: Running) -> Any:
    """Override the REST and websocket URLs of a CCXT bybit instance (the entries the venue
    announces), as the gateway merges an account's `config.ccxt.urls`."""
    exchange.urls["api"] = merged(exchange.urls["api"], running.ccxt_urls())
    return exchange


async def subscribed(running: Running, account_id: int, *topics: str) -> None:
    """Wait until the account's private connection has subscribed to `topics` (the stream
    sends only what is subscribed, and CCXT subscribes after its `auth` is answered)."""
    for _ in range(2000):
        for sub in running.venue.streams.subscribers:
            held = getattr(getattr(sub.wrap, "__self__", None), "topics", set())
            if sub.account_id == account_id and set(topics) <= held:
                return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no subscription to {topics}")


@pytest.fixture
async def creds(served: Running) -> Credentials:
    return await served.venue.new_account()


@pytest.fixture
async def bybit(served: Running, creds: Credentials) -> AsyncIterator[Any]:
    exchange = point(ccxt_async.bybit(bybit_config(creds)), served)
    yield exchange
    await exchange.close()


async def test_public_data(served: Running) -> None:
    exchange = point(ccxt_async.bybit(bybit_config(None)), served)
    try:
        markets = await exchange.load_markets()
        btc = markets[SYMBOL]
        assert (btc["id"], btc["swap"], btc["linear"], btc["settle"], btc["contractSize"]) == (
            "BTCUSDT", True, True, "USDT", 1)
        assert btc["limits"]["amount"]["min"] == 0.0001
        assert abs(await exchange.fetch_time() - served.venue.clock()) < 60_000
        ticker = await exchange.fetch_ticker(SYMBOL)
        assert (ticker["symbol"], ticker["last"]) == (SYMBOL, 50000)
        book = await exchange.fetch_order_book(SYMBOL, 5)
        assert book["bids"][0][0] <= book["asks"][0][0]  # spread 0 by default
        assert len(book["bids"]) <= 5
        candles = await exchange.fetch_ohlcv(SYMBOL, "1h", limit=5)
        assert len(candles) == 5
        assert candles == sorted(candles)  # CCXT reverses Bybit's newest-first list
        with pytest.raises(ccxt.BadRequest):  # 10001
            await exchange.fetch_ohlcv(SYMBOL, "1h", params={"interval": "7"})
    finally:
        await exchange.close()


async def test_open_and_close_a_position(bybit: Any, served: Running) -> None:
    await bybit.load_markets()
    balance = await bybit.fetch_balance()
    check_balance(balance)
    assert balance["USDT"] == {"free": 100000, "used": 0, "total": 100000, "debt": 0}
    await bybit.set_leverage(5, SYMBOL)
    opened = await bybit.create_order(SYMBOL, "market", "buy", 0.1)
    fetched = await bybit.fetch_order(opened["id"], SYMBOL, {"acknowledged": True})
    check_order(fetched, SYMBOL)
    assert (fetched["status"], fetched["filled"], fetched["average"]) == ("closed", 0.1, 50000)
    positions = await bybit.fetch_positions([SYMBOL])
    assert len(positions) == 1
    assert positions[0]["marginMode"] is None  # CCXT's bybit leaves it out (tradeMode deprecated)
    check_position({**positions[0], "marginMode": "cross"}, SYMBOL)
    assert (positions[0]["side"], positions[0]["contracts"], positions[0]["entryPrice"],
            positions[0]["leverage"]) == ("long", 0.1, 50000, 5)  # fmt: skip
    balance = await bybit.fetch_balance()
    check_balance(balance)
    assert D(str(balance["USDT"]["total"])) == D(100000) - D(5000) * served.venue.handlers.markets[
        "BTCUSDT"].taker_fee

    resting = await bybit.create_order(SYMBOL, "limit", "sell", 0.1, 51000, {"reduceOnly": True})
    open_orders = await bybit.fetch_open_orders(SYMBOL)
    assert [o["id"] for o in open_orders] == [resting["id"]]
    assert (open_orders[0]["status"], open_orders[0]["reduceOnly"]) == ("open", True)
    await served.venue.set_price(SYMBOL, D(51500))
    closed = await bybit.fetch_closed_orders(SYMBOL)
    assert [(o["id"], o["status"], o["filled"]) for o in closed] == [
        (opened["id"], "closed", 0.1), (resting["id"], "closed", 0.1)]
    positions = await bybit.fetch_positions([SYMBOL])
    assert [p["contracts"] for p in positions] in ([], [0], [None])
    trades = await bybit.fetch_my_trades(SYMBOL)
    for trade in trades:
        check_trade(trade, SYMBOL)
    assert [(t["side"], t["takerOrMaker"], t["price"], t["order"]) for t in trades] == [
        ("buy", "taker", 50000, opened["id"]), ("sell", "maker", 51000, resting["id"])]
    await served.venue.set_price(SYMBOL, D(50000))


async def test_edit_cancel_and_refusals(bybit: Any) -> None:
    await bybit.load_markets()
    order = await bybit.create_order(SYMBOL, "limit", "buy", 0.01, 40000,
                                     {"clientOrderId": "mine-1"})  # fmt: skip
    by_link = await bybit.fetch_open_orders(SYMBOL, params={"orderLinkId": "mine-1"})
    assert [(o["id"], o["clientOrderId"]) for o in by_link] == [(order["id"], "mine-1")]
    edited = await bybit.edit_order(order["id"], SYMBOL, "limit", "buy", 0.02, 41000)
    assert edited["id"] == order["id"]
    found = await bybit.fetch_open_orders(SYMBOL)
    assert [(o["amount"], o["price"]) for o in found] == [(0.02, 41000)]
    canceled = await bybit.cancel_order(order["id"], SYMBOL)
    assert canceled["id"] == order["id"]
    with pytest.raises(ccxt.OrderNotFound):  # 110001
        await bybit.cancel_order(order["id"], SYMBOL)
    for price in (39000, 39500):
        await bybit.create_order(SYMBOL, "limit", "buy", 0.01, price)
    await bybit.cancel_all_orders(SYMBOL)
    assert await bybit.fetch_open_orders(SYMBOL) == []
    with pytest.raises(ccxt.InsufficientFunds):  # 110007
        await bybit.create_order(SYMBOL, "market", "buy", 50)
    with pytest.raises(ccxt.BadRequest):  # 10001: hedge-mode positionIdx on a one-way account
        await bybit.create_order(SYMBOL, "limit", "buy", 0.01, 40000, {"positionIdx": 1})
    with pytest.raises(ccxt.NoChange):  # 110025: one-way already
        await bybit.set_position_mode(False, SYMBOL)
    with pytest.raises(ccxt.InvalidOrder):  # 110094: below the minimum order value
        await bybit.create_order(SYMBOL, "limit", "buy", 0.0001, 100)
    # conditional orders and attached TP/SL are refused (10001), never ignored: a stop that
    # went out without its trigger would fill at once
    for params in ({"triggerPrice": 30000, "triggerDirection": "descending"},
                   {"stopLoss": {"triggerPrice": 30000}}):  # fmt: skip
        with pytest.raises(ccxt.BadRequest, match="not served by this venue"):
            await bybit.create_order(SYMBOL, "market", "sell", 0.01, None, params)
    assert await bybit.fetch_open_orders(SYMBOL) == []


async def test_request_security(served: Running, creds: Credentials) -> None:
    wrong = point(ccxt_async.bybit(bybit_config(Credentials(0, creds.api_key, "0" * 64))), served)
    unknown = point(ccxt_async.bybit(bybit_config(Credentials(0, "nobody", "0" * 64))), served)
    stale = point(ccxt_async.bybit(bybit_config(creds)), served)
    stale.options["enableUnifiedAccount"], stale.options["enableUnifiedMargin"] = True, False
    try:
        with pytest.raises(ccxt.AuthenticationError):  # 10004
            await wrong.fetch_balance()
        with pytest.raises(ccxt.AuthenticationError):  # 10003
            await unknown.fetch_balance()
        stale.options["timeDifference"] = 10 * 60_000  # its clock ten minutes late
        with pytest.raises(ccxt.InvalidNonce):  # 10002
            await stale.fetch_balance()
    finally:
        for exchange in (wrong, unknown, stale):
            await exchange.close()


async def test_private_stream(served: Running, creds: Credentials) -> None:
    exchange = point(ccxt_pro.bybit(bybit_config(creds)), served)
    try:
        await exchange.load_markets()
        orders = asyncio.ensure_future(exchange.watch_orders(SYMBOL))
        await subscribed(served, creds.account_id, "order")
        placed = await exchange.create_order(SYMBOL, "limit", "buy", 0.01, 49000)
        seen = await asyncio.wait_for(orders, 20)
        assert (seen[-1]["id"], seen[-1]["status"]) == (placed["id"], "open")
        snapshot = await asyncio.wait_for(exchange.watch_positions([SYMBOL]), 20)  # over REST
        assert [p["contracts"] for p in snapshot] in ([], [0], [None])
        trades = asyncio.ensure_future(exchange.watch_my_trades(SYMBOL))
        positions = asyncio.ensure_future(exchange.watch_positions([SYMBOL]))
        balance = asyncio.ensure_future(exchange.watch_balance())
        await subscribed(served, creds.account_id, "execution", "position", "wallet")
        await served.venue.set_price(SYMBOL, D(48900))
        filled = await asyncio.wait_for(trades, 20)
        assert (filled[-1]["order"], filled[-1]["price"], filled[-1]["amount"]) == (
            placed["id"], 49000, 0.01)
        held = await asyncio.wait_for(positions, 20)
        assert (held[-1]["symbol"], held[-1]["side"], held[-1]["contracts"]) == (
            SYMBOL, "long", 0.01)
        wallet = await asyncio.wait_for(balance, 20)
        assert wallet["USDT"]["total"] < 100000  # the maker fee
        await served.venue.set_price(SYMBOL, D(50000))
    finally:
        await close_for_good(exchange)  # a late listen-key or reconnect request finds a closed session


async def test_a_gateway_account_on_the_local_venue(
    served: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ccxtpro.bybit` on testnet pointed at the Bybit dialect by `config.ccxt` (the instance
    the worker builds): an order, its lookup by client id, positions and the balance through
    the gateway's CCXT adapter, exact."""
    from apps.oms.config import Settings
    from apps.oms.exchange.ccxt.instances import build_ccxt_exchange
    from apps.oms.exchange.ccxt.venue import CLIENT_ID_LOOKUP, CcxtVenue

    creds = await served.venue.new_account()
    row = {"exchange_id": "ccxtpro.bybit", "is_testnet": True, "config": {"ccxt": {
        "urls": served.ccxt_urls(), "options": {"fetchMarkets": {"types": ["linear"]}}}}}  # fmt: skip
    exchange = build_ccxt_exchange(row, Settings())
    exchange.apiKey, exchange.secret = creds.api_key, creds.secret
    venue = CcxtVenue(exchange)
    symbol = "ETH/USDT:USDT"
    try:
        await venue.set_leverage(4, symbol)
        sold = await venue.create_order(symbol, "market", "sell", D("2"), None,
                                        {"clientOrderId": "oms-7"})  # fmt: skip
        resting = await venue.create_order(symbol, "limit", "buy", D("0.1"), D(2000),
                                           {"clientOrderId": "oms-8"})  # fmt: skip
        # CCXT's bybit passes `clientOrderId` through unchanged (Bybit reads `orderLinkId`,
        # and answers the first open order without it): the gateway asks in Bybit's spelling
        # (`CLIENT_ID_LOOKUP`), and refuses an answer naming another client order id
        found = await venue.fetch_order("", symbol, {"clientOrderId": "oms-7"})
        assert (found["id"], found["clientOrderId"]) == (sold["id"], "oms-7")
        monkeypatch.setitem(CLIENT_ID_LOOKUP, "bybit", ("clientOrderId", {"acknowledged": True}))
        with pytest.raises(ccxt.OrderNotFound):  # Bybit's answer: the resting oms-8
            await venue.fetch_order("", symbol, {"clientOrderId": "oms-7"})
        await venue.cancel_order(resting["id"], symbol)
        assert (found["status"], found["average"]) == ("closed", D(3000))
        [position] = await venue.fetch_positions([symbol])
        assert (position["side"], position["contracts"], position["entryPrice"]) == (
            "short", D(2), D(3000))
        balance = await venue.fetch_balance()
        assert balance["used"]["USDT"] == D(1500)  # 6,000 at leverage 4
        assert balance["total"]["USDT"] == D(100000) - D("3")  # 0.05 % taker on 6,000
    finally:
        await venue.close()
