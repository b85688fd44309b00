"""CCXT's own `binanceusdm` and `ccxt.pro.binanceusdm`, unmodified, trading the paper venue
served in the Binance USDⓈ-M dialect (one-way position mode) over real HTTP and websockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from apps.oms.exchange.ccxt.instances import close_for_good, merged
from apps.paper.wire.accounts import Credentials
from apps.paper.wire.process import Running
from test.integration.wire.conftest import CLIENT_TIMEOUT_MS
from test.integration.wire.test_binance_spot_ccxt import (
    check_balance,
    check_order,
    check_position,
    check_trade,
)

D = Decimal
SYMBOL = "BTC/USDT:USDT"


def point_usdm(exchange: Any, running: Running) -> Any:
    """Override the futures REST and websocket URLs of a CCXT binanceusdm instance (the entries
    the venue announces), as the gateway merges an account's `config.ccxt.urls`."""
    exchange.urls["api"] = merged(exchange.urls["api"], running.ccxt_urls())
    return exchange


def usdm_config(creds: Credentials) -> dict[str, Any]:
    """Keys, and no SAPI currency list (the venue serves `/fapi` only)."""
    return {"apiKey": creds.api_key, "secret": creds.secret,
            "options": {"fetchCurrencies": False}, "timeout": CLIENT_TIMEOUT_MS}  # fmt: skip


async def stream_up(running: Running, account_id: int) -> None:
    """Wait until the venue has the account's private stream (CCXT subscribes after its
    listen key is created)."""
    for _ in range(1000):
        if any(s.account_id == account_id for s in running.venue.streams.subscribers):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no private stream of account {account_id}")


@pytest.fixture
async def creds(futures: Running) -> Credentials:
    return await futures.venue.new_account()


@pytest.fixture
async def usdm(futures: Running, creds: Credentials) -> AsyncIterator[Any]:
    exchange = point_usdm(ccxt_async.binanceusdm(usdm_config(creds)), futures)
    yield exchange
    await exchange.close()


async def test_markets_and_balance(usdm: Any) -> None:
    markets = await usdm.load_markets()
    btc = markets[SYMBOL]
    assert (btc["id"], btc["swap"], btc["linear"], btc["settle"]) == (
        "BTCUSDT", True, True, "USDT")
    assert btc["limits"]["amount"]["min"] == 0.0001
    assert "BTC/USDT" not in markets
    assert isinstance(await usdm.fetch_time(), int)
    balance = await usdm.fetch_balance()
    assert balance["USDT"] == {"free": 100000, "used": 0, "total": 100000}
    assert (await usdm.fetch_ticker(SYMBOL))["last"] == 50000
    funding = await usdm.fetch_funding_rate(SYMBOL)
    assert (funding["markPrice"], funding["fundingRate"]) == (50000, 0)
    assert funding["fundingTimestamp"] % (8 * 3_600_000) == 0  # the next 8-hour boundary


async def test_open_and_close_a_position(usdm: Any, futures: Running) -> None:
    await usdm.load_markets()
    await usdm.set_leverage(5, SYMBOL)
    opened = await usdm.create_order(SYMBOL, "market", "buy", 0.1)
    check_order(opened, SYMBOL)
    assert (opened["status"], opened["filled"], opened["average"]) == ("closed", 0.1, 50000)
    assert opened["info"]["cumQuote"] == "5000.00000000"
    positions = await usdm.fetch_positions([SYMBOL])
    assert len(positions) == 1
    position = positions[0]
    check_position(position, SYMBOL)
    assert (position["side"], position["contracts"], position["entryPrice"]) == (
        "long", 0.1, 50000)
    assert position["leverage"] == 5
    assert position["marginMode"] == "cross"
    balance = await usdm.fetch_balance()
    check_balance(balance)
    # 5,000 notional at leverage 5 = 1,000 initial margin; 2.5 USDT taker fee (0.05 %)
    assert D(str(balance["USDT"]["used"])) == D(1000)
    assert D(str(balance["USDT"]["total"])) == D("99997.5")

    resting = await usdm.create_order(SYMBOL, "limit", "sell", 0.1, 51000, {"reduceOnly": True})
    assert resting["status"] == "open"
    assert resting["reduceOnly"] is True
    assert [o["id"] for o in await usdm.fetch_open_orders(SYMBOL)] == [resting["id"]]
    await futures.venue.set_price(SYMBOL, D(51500))
    closed = await usdm.fetch_order(resting["id"], SYMBOL)
    assert (closed["status"], closed["filled"], closed["average"]) == ("closed", 0.1, 51000)
    assert await usdm.fetch_positions([SYMBOL]) == []
    trades = await usdm.fetch_my_trades(SYMBOL)
    for trade in trades:
        check_trade(trade, SYMBOL)
    assert [(t["side"], t["takerOrMaker"], t["price"], t["fee"]["cost"]) for t in trades] == [
        ("buy", "taker", 50000, 2.5), ("sell", "maker", 51000, 1.02)]
    # +100 realised, fees 2.5 + 1.02 (maker 0.02 %)
    assert D(str((await usdm.fetch_balance())["USDT"]["total"])) == D("100096.48")
    assert [o["status"] for o in await usdm.fetch_orders(SYMBOL)] == ["closed", "closed"]
    await futures.venue.set_price(SYMBOL, D(50000))


async def test_settings_and_refusals(usdm: Any) -> None:
    await usdm.load_markets()
    assert (await usdm.set_margin_mode("isolated", SYMBOL))["msg"] == "success"
    again = await usdm.set_margin_mode("isolated", SYMBOL)  # CCXT swallows -4046 by default
    assert again == {"code": -4046, "msg": "No need to change margin type."}
    usdm.options["throwMarginModeAlreadySet"] = True
    with pytest.raises(ccxt.MarginModeAlreadySet):
        await usdm.set_margin_mode("isolated", SYMBOL)
    assert (await usdm.fetch_margin_mode(SYMBOL))["marginMode"] == "isolated"
    await usdm.set_leverage(7, SYMBOL)
    leverage = await usdm.fetch_leverage(SYMBOL)
    assert (leverage["longLeverage"], leverage["shortLeverage"], leverage["marginMode"]) == (
        7, 7, "isolated")
    fee = await usdm.fetch_trading_fee(SYMBOL)
    assert (fee["maker"], fee["taker"]) == (0.0002, 0.0005)
    assert (await usdm.fetch_position_mode(SYMBOL))["hedged"] is False
    with pytest.raises(ccxt.OperationRejected):  # -4061: a LONG order on a one-way account
        await usdm.create_order(SYMBOL, "limit", "buy", 0.01, 40000, {"positionSide": "LONG"})
    with pytest.raises(ccxt.ExchangeError):  # -2019 "Margin is insufficient."
        await usdm.create_order(SYMBOL, "market", "buy", 50)
    with pytest.raises(ccxt.OrderNotFound):
        await usdm.fetch_order("424242", SYMBOL)
    order = await usdm.create_order(SYMBOL, "limit", "buy", 0.01, 40000)
    edited = await usdm.edit_order(order["id"], SYMBOL, "limit", "buy", 0.02, 41000)  # PUT
    assert (edited["id"], edited["amount"], edited["price"], edited["status"]) == (
        order["id"], 0.02, 41000, "open")
    with pytest.raises(ccxt.ExchangeError):  # -5027 No need to modify the order.
        await usdm.edit_order(order["id"], SYMBOL, "limit", "buy", 0.02, 41000)
    canceled = await usdm.cancel_order(order["id"], SYMBOL)
    assert canceled["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        await usdm.cancel_order(order["id"], SYMBOL)


async def test_watch_orders_and_positions(futures: Running, creds: Credentials) -> None:
    exchange = point_usdm(ccxt_pro.binanceusdm(usdm_config(creds)), futures)
    try:
        await exchange.load_markets()
        orders = asyncio.ensure_future(exchange.watch_orders(SYMBOL))
        await stream_up(futures, creds.account_id)
        placed = await exchange.create_order(SYMBOL, "limit", "buy", 0.01, 49000)
        seen = await asyncio.wait_for(orders, 20)
        assert seen[-1]["id"] == placed["id"]
        assert seen[-1]["status"] == "open"
        ticker = await asyncio.wait_for(exchange.watch_ticker(SYMBOL), 20)  # /market/ws/<n>
        assert (ticker["symbol"], ticker["last"]) == (SYMBOL, 50000)
        trades = asyncio.ensure_future(exchange.watch_my_trades(SYMBOL))
        balance = asyncio.ensure_future(exchange.watch_balance())
        await asyncio.sleep(0)
        await futures.venue.set_price(SYMBOL, D(48900))
        filled = await asyncio.wait_for(trades, 20)
        assert (filled[-1]["order"], filled[-1]["price"], filled[-1]["amount"]) == (
            placed["id"], 49000, 0.01)
        assert filled[-1]["fee"] == {"cost": 0.098, "currency": "USDT"}
        wallet = await asyncio.wait_for(balance, 20)  # ACCOUNT_UPDATE: the USDT wallet
        assert D(str(wallet["USDT"]["total"])) == D("100000") - D("0.098")
        await futures.venue.set_price(SYMBOL, D(50000))
    finally:
        await close_for_good(exchange)  # a late listen-key or reconnect request finds a closed session


@pytest.mark.parametrize("close", ["plain", "for_good"])
async def test_the_listen_key_keep_alive_after_a_close(
    futures: Running, creds: Credentials, close: str
) -> None:
    """CCXT Pro keeps a private stream's listen key alive by a timer (every 20 minutes by
    default, 0.2 s here). After a plain `close()` the timer's request opens a new HTTP session
    that nothing closes (it surfaced as unclosed sessions collected in unrelated tests 20
    minutes later); after `close_for_good` the request finds a closed session and fails."""
    config = usdm_config(creds)
    config["options"] = {**config["options"], "listenKeyRefreshRate": 200}
    exchange = point_usdm(ccxt_pro.binanceusdm(config), futures)
    await exchange.load_markets()
    watching = asyncio.ensure_future(exchange.watch_orders(SYMBOL))
    await stream_up(futures, creds.account_id)  # its listen key held, its renewal timed
    if close == "plain":
        await exchange.close()
    else:
        await close_for_good(exchange)
    with contextlib.suppress(Exception, asyncio.CancelledError):  # ended by the close
        await watching
    await asyncio.sleep(0.6)  # the renewal's time has come and gone
    session = exchange.session
    if close == "plain":  # what the tests avoid: a session opened after the close, left open
        assert session is not None
        assert not session.closed
        await close_for_good(exchange)
    else:
        assert session is not None
        assert session.closed
