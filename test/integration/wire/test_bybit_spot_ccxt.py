"""CCXT's own `bybit` on the spot half of the local Bybit venue's unified account: spot markets
beside the linear ones, a market buy in base coin, a resting limit sell filled by the price,
cancels, trades, balances, spot's own refusals, and the private stream's spot orders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from apps.oms.exchange.ccxt.instances import close_for_good
from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue
from test.integration.wire.test_binance_spot_ccxt import check_balance, check_order, check_trade
from test.integration.wire.test_bybit_ccxt import point, subscribed

D = Decimal
SYMBOL = "ETH/USDT"


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    store = tmp_path_factory.mktemp("wire-bybit-spot") / "venue.sqlite3"
    running = await start(await build_venue(f"sqlite+aiosqlite:///{store}", "bybit"))
    yield running
    await running.stop()


@pytest.fixture
async def bybit(served: Running) -> AsyncIterator[Any]:
    creds = await served.venue.new_account()
    exchange = point(ccxt_async.bybit({
        "apiKey": creds.api_key, "secret": creds.secret,
        "options": {"fetchMarkets": {"types": ["spot", "linear"]}}}), served)  # fmt: skip
    yield exchange
    await exchange.close()


async def test_spot_markets_beside_linear(bybit: Any) -> None:
    markets = await bybit.load_markets()
    eth, swap = markets[SYMBOL], markets["ETH/USDT:USDT"]
    assert (eth["id"], eth["spot"], eth["type"], swap["id"], swap["swap"]) == (
        "ETHUSDT", True, "spot", "ETHUSDT", True)
    assert eth["limits"]["cost"]["min"] == 5
    assert (await bybit.fetch_ticker(SYMBOL))["last"] == 3000
    assert len(await bybit.fetch_ohlcv(SYMBOL, "1m", limit=3)) == 3
    book = await bybit.fetch_order_book(SYMBOL)
    assert book["symbol"] == SYMBOL


async def test_spot_trading(bybit: Any, served: Running) -> None:
    await bybit.load_markets()
    bought = await bybit.create_order(SYMBOL, "market", "buy", 0.5)  # marketUnit baseCoin
    found = await bybit.fetch_order(bought["id"], SYMBOL, {"acknowledged": True})
    check_order(found, SYMBOL)
    assert (found["status"], found["filled"], found["average"]) == ("closed", 0.5, 3000)
    balance = await bybit.fetch_balance()
    check_balance(balance)
    assert balance["ETH"]["total"] == 10.5
    assert D(str(balance["USDT"]["total"])) == D(100000) - D(1500) - D("1.5")  # 0.1 % taker

    resting = await bybit.create_order(SYMBOL, "limit", "sell", 1, 3100)
    assert [o["id"] for o in await bybit.fetch_open_orders(SYMBOL)] == [resting["id"]]
    assert (await bybit.fetch_balance())["ETH"]["used"] == 1
    await served.venue.set_price(SYMBOL, D(3200))
    trades = await bybit.fetch_my_trades(SYMBOL)
    for trade in trades:
        check_trade(trade, SYMBOL)
    assert [(t["side"], t["price"], t["amount"]) for t in trades] == [
        ("buy", 3000, 0.5), ("sell", 3100, 1)]
    other = await bybit.create_order(SYMBOL, "limit", "buy", 0.1, 2000)
    await bybit.cancel_order(other["id"], SYMBOL)
    assert [o["status"] for o in await bybit.fetch_closed_orders(SYMBOL)] == ["closed", "closed"]
    assert await bybit.fetch_open_orders(SYMBOL) == []
    await served.venue.set_price(SYMBOL, D(3000))


async def test_spot_refusals(bybit: Any) -> None:
    await bybit.load_markets()
    with pytest.raises(ccxt.InsufficientFunds):  # 170131
        await bybit.create_order(SYMBOL, "limit", "sell", 100, 3000)
    with pytest.raises(ccxt.InvalidOrder):  # 170136 below the minimum quantity
        await bybit.create_order(SYMBOL, "limit", "buy", 0.0001, 3000, {"qty": "0.0001"})
    with pytest.raises(ccxt.BadRequest):  # 10001: a market buy sized in quote coin
        await bybit.create_order(SYMBOL, "market", "buy", None, None, {"cost": 100})


async def test_spot_stream(served: Running) -> None:
    """`ccxt.pro.bybit` on spot: the unified account's private stream (`/v5/private`) carries
    the spot orders and fills, and the wallet's coins."""
    creds = await served.venue.new_account()
    exchange = point(ccxt_pro.bybit({
        "apiKey": creds.api_key, "secret": creds.secret,
        "options": {"fetchMarkets": {"types": ["spot", "linear"]}}}), served)  # fmt: skip
    try:
        await exchange.load_markets()
        orders = asyncio.ensure_future(exchange.watch_orders(SYMBOL))
        await subscribed(served, creds.account_id, "order")
        placed = await exchange.create_order(SYMBOL, "limit", "sell", 2, 3050)
        seen = await asyncio.wait_for(orders, 20)
        assert (seen[-1]["id"], seen[-1]["symbol"], seen[-1]["status"]) == (
            placed["id"], SYMBOL, "open")
        trades = asyncio.ensure_future(exchange.watch_my_trades(SYMBOL))
        balance = asyncio.ensure_future(exchange.watch_balance())
        await subscribed(served, creds.account_id, "execution", "wallet")
        await served.venue.set_price(SYMBOL, D(3100))
        filled = await asyncio.wait_for(trades, 20)
        assert (filled[-1]["symbol"], filled[-1]["price"], filled[-1]["amount"]) == (
            SYMBOL, 3050, 2)
        wallet = await asyncio.wait_for(balance, 20)
        assert wallet["ETH"]["total"] == 8
        await served.venue.set_price(SYMBOL, D(3000))
    finally:
        await close_for_good(exchange)  # a late listen-key or reconnect request finds a closed session
