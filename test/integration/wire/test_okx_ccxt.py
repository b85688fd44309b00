"""CCXT's own `okx` and `ccxt.pro.okx`, unmodified (only `urls` overridden), trading the paper
venue served in the OKX v5 dialect (a trading account in net mode, a new account's: linear SWAP
and SPOT) over HTTP and websockets, and a gateway account on it."""

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
SWAP, SPOT = "BTC/USDT:USDT", "ETH/USDT"


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    store = tmp_path_factory.mktemp("wire-okx") / "venue.sqlite3"
    running = await start(await build_venue(f"sqlite+aiosqlite:///{store}", "okx"))
    yield running
    await running.stop()


def okx_config(creds: Credentials | None) -> dict[str, Any]:
    """Keys with the passphrase (CCXT's `password`), and the SPOT and SWAP lists only (the venue
    lists no futures or options)."""
    config: dict[str, Any] = {"options": {"fetchMarkets": {"types": ["spot", "swap"]}},
                              "timeout": CLIENT_TIMEOUT_MS}
    if creds is not None:
        config.update(apiKey=creds.api_key, secret=creds.secret, password=creds.passphrase)
    return config


def point(exchange: Any, running: Running) -> Any:
    """Override the REST and websocket URLs of a CCXT okx instance (the entries the venue
    announces), as the gateway merges an account's `config.ccxt.urls`."""
    exchange.urls["api"] = merged(exchange.urls["api"], running.ccxt_urls())
    return exchange


async def subscribed(running: Running, account_id: int, *channels: str) -> None:
    """Wait until the account's private connection has subscribed to `channels` (pushes go
    only to subscriptions, and CCXT subscribes once its `login` is answered)."""
    for _ in range(2000):
        for sub in running.venue.streams.subscribers:
            conn = getattr(sub.wrap, "__self__", None)
            held = {a.get("channel") for a in getattr(conn, "args", [])}
            if sub.account_id == account_id and set(channels) <= held:
                return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no subscription to {channels}")


@pytest.fixture
async def creds(served: Running) -> Credentials:
    return await served.venue.new_account()


@pytest.fixture
async def okx(served: Running, creds: Credentials) -> AsyncIterator[Any]:
    exchange = point(ccxt_async.okx(okx_config(creds)), served)
    yield exchange
    await exchange.close()


async def test_public_data(served: Running) -> None:
    exchange = point(ccxt_async.okx(okx_config(None)), served)
    try:
        markets = await exchange.load_markets()
        btc = markets[SWAP]
        assert (btc["id"], btc["swap"], btc["linear"], btc["settle"], btc["contractSize"]) == (
            "BTC-USDT-SWAP", True, True, "USDT", 1)
        assert (btc["limits"]["amount"]["min"], btc["precision"]["price"]) == (0.0001, 0.1)
        assert (markets[SPOT]["id"], markets[SPOT]["spot"]) == ("ETH-USDT", True)
        assert abs(await exchange.fetch_time() - served.venue.clock()) < 60_000
        ticker = await exchange.fetch_ticker(SWAP)
        assert (ticker["symbol"], ticker["last"]) == (SWAP, 50000)
        tickers = await exchange.fetch_tickers([SPOT])
        assert tickers[SPOT]["last"] == 3000
        book = await exchange.fetch_order_book(SWAP, 5)
        assert book["bids"][0][0] <= book["asks"][0][0]
        assert len(book["bids"]) <= 5
        candles = await exchange.fetch_ohlcv(SWAP, "1h", limit=5)
        assert len(candles) == 5
        assert candles == sorted(candles)  # CCXT reverses OKX's newest-first list
        since = candles[1][0]
        later = await exchange.fetch_ohlcv(SPOT, "1h", since=since, limit=2)
        assert [c[0] for c in later] == [since, since + 3_600_000]
        assert (await exchange.fetch_funding_rate(SWAP))["fundingRate"] == 0
        assert (await exchange.fetch_mark_price(SWAP))["markPrice"] == 50000
        [print_] = await exchange.fetch_trades(SPOT)  # no public tape: one synthetic print
        assert (print_["symbol"], print_["price"]) == (SPOT, 3000)
        with pytest.raises(ccxt.BadRequest):  # 51000: no such bar
            await exchange.fetch_ohlcv(SWAP, "1h", params={"bar": "7m"})
    finally:
        await exchange.close()


async def test_open_and_close_a_swap_position(okx: Any, served: Running) -> None:
    await okx.load_markets()
    balance = await okx.fetch_balance()
    check_balance(balance)
    assert balance["USDT"] == {"free": 100000, "used": 0, "total": 100000}
    await okx.set_leverage(5, SWAP)
    assert (await okx.fetch_leverage(SWAP))["longLeverage"] == 5
    opened = await okx.create_order(SWAP, "market", "buy", 0.1)
    fetched = await okx.fetch_order(opened["id"], SWAP)
    check_order(fetched, SWAP)
    assert (fetched["status"], fetched["filled"], fetched["average"]) == ("closed", 0.1, 50000)
    assert fetched["clientOrderId"] == opened["clientOrderId"]  # CCXT's own broker-prefixed id
    [position] = await okx.fetch_positions([SWAP])
    check_position(position, SWAP)
    assert (position["side"], position["contracts"], position["entryPrice"],
            position["leverage"], position["marginMode"]) == ("long", 0.1, 50000, 5, "cross")  # fmt: skip
    balance = await okx.fetch_balance()
    check_balance(balance)
    fee = D(5000) * served.venue.handlers.listed["BTC-USDT-SWAP"].taker_fee
    assert D(str(balance["USDT"]["total"])) == D(100000) - fee
    assert balance["USDT"]["used"] == 1000  # 5,000 at leverage 5

    resting = await okx.create_order(SWAP, "limit", "sell", 0.1, 51000, {"reduceOnly": True})
    open_orders = await okx.fetch_open_orders(SWAP)
    assert [o["id"] for o in open_orders] == [resting["id"]]
    assert (open_orders[0]["status"], open_orders[0]["reduceOnly"]) == ("open", True)
    await served.venue.set_price(SWAP, D(51500))
    closed = await okx.fetch_closed_orders(SWAP)
    assert sorted((o["id"], o["status"], o["filled"]) for o in closed) == sorted([
        (opened["id"], "closed", 0.1), (resting["id"], "closed", 0.1)])
    assert await okx.fetch_positions([SWAP]) == []
    trades = await okx.fetch_my_trades(SWAP)
    for trade in trades:
        check_trade(trade, SWAP)
    assert [(t["side"], t["takerOrMaker"], t["price"], t["order"]) for t in trades] == [
        ("buy", "taker", 50000, opened["id"]), ("sell", "maker", 51000, resting["id"])]
    await served.venue.set_price(SWAP, D(50000))


async def test_spot_orders(okx: Any, served: Running) -> None:
    await okx.load_markets()
    bought = await okx.create_order(SPOT, "market", "buy", 1)
    found = await okx.fetch_order(bought["id"], SPOT)
    assert (found["status"], found["filled"], found["average"], found["fee"]["currency"]) == (
        "closed", 1, 3000, "USDT")
    balance = await okx.fetch_balance()
    assert balance["ETH"]["total"] == 11
    with pytest.raises(ccxt.InvalidOrder):  # 51205: no reduce-only on a cash order
        await okx.create_order(SPOT, "limit", "sell", 1, 3100, {"reduceOnly": True})
    with pytest.raises(ccxt.BadRequest):  # 51000: a market buy sized in USDT
        await okx.create_order(SPOT, "market", "buy", 100, None, {"tgtCcy": "quote_ccy"})
    placed = await okx.create_order(SPOT, "limit", "sell", 1, 3100, {"clientOrderId": "spot1"})
    await served.venue.set_price(SPOT, D(3150))
    [trade] = await okx.fetch_my_trades(SPOT, params={"ordId": placed["id"]})
    assert (trade["price"], trade["amount"], trade["takerOrMaker"]) == (3100, 1, "maker")
    await served.venue.set_price(SPOT, D(3000))


async def test_edit_cancel_and_refusals(okx: Any) -> None:
    await okx.load_markets()
    order = await okx.create_order(SWAP, "limit", "buy", 0.01, 40000, {"clientOrderId": "mine1"})
    by_client = await okx.fetch_order("", SWAP, {"clientOrderId": "mine1"})
    assert (by_client["id"], by_client["clientOrderId"], by_client["status"]) == (
        order["id"], "mine1", "open")
    edited = await okx.edit_order(order["id"], SWAP, "limit", "buy", 0.02, 41000)
    assert edited["id"] == order["id"]
    found = await okx.fetch_open_orders(SWAP)
    assert [(o["amount"], o["price"]) for o in found] == [(0.02, 41000)]
    canceled = await okx.cancel_order(order["id"], SWAP)
    assert canceled["id"] == order["id"]
    assert (await okx.fetch_order(order["id"], SWAP))["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):  # 51400
        await okx.cancel_order(order["id"], SWAP)
    with pytest.raises(ccxt.OrderNotFound):  # 51603
        await okx.fetch_order("", SWAP, {"clientOrderId": "nobody"})
    ids = [(await okx.create_order(SWAP, "limit", "buy", 0.01, p))["id"] for p in (39000, 39500)]
    gone = await okx.cancel_orders(ids, SWAP)
    assert sorted(o["id"] for o in gone) == sorted(ids)
    assert await okx.fetch_open_orders(SWAP) == []
    with pytest.raises(ccxt.InsufficientFunds):  # 51008
        await okx.create_order(SWAP, "market", "buy", 50)
    with pytest.raises(ccxt.BadRequest):  # 51000: a hedge-mode posSide on a net-mode account
        await okx.create_order(SWAP, "limit", "buy", 0.01, 40000, {"posSide": "long"})
    with pytest.raises(ccxt.BadRequest):  # 51000: no such mode (long/short: test_okx_hedge)
        await okx.set_position_mode(True, SWAP, {"posMode": "dual_mode"})
    assert (await okx.set_position_mode(False, SWAP))["code"] == "0"
    assert (await okx.fetch_position_mode(SWAP))["hedged"] is False
    with pytest.raises(ccxt.ExchangeError, match="51169"):  # nothing to reduce
        await okx.create_order(SWAP, "market", "sell", 0.01, None, {"reduceOnly": True})
    with pytest.raises(ccxt.InvalidOrder):  # 51020: below the minimum
        await okx.create_order(SWAP, "limit", "buy", 0.0001, 100)
    with pytest.raises(ccxt.InvalidOrder):  # 51016
        await okx.create_order(SWAP, "limit", "buy", 0.01, 40000, {"clientOrderId": "mine1"})
    with pytest.raises(ccxt.BadRequest):  # 51000: OKX's clOrdId is alphanumeric
        await okx.create_order(SWAP, "limit", "buy", 0.01, 40000, {"clientOrderId": "a-b"})
    # an attached stop-loss (`attachAlgoOrds`) is refused (51000), never ignored
    with pytest.raises(ccxt.BadRequest, match="not served by this venue"):
        await okx.create_order(SWAP, "limit", "buy", 0.01, 40000,
                               {"stopLoss": {"triggerPrice": 30000}})  # fmt: skip
    assert await okx.fetch_open_orders(SWAP) == []


async def test_margin_mode(okx: Any) -> None:
    await okx.load_markets()
    symbol = "SOL/USDT:USDT"
    await okx.set_margin_mode("isolated", symbol, {"lever": 3})
    assert (await okx.fetch_leverage(symbol, {"marginMode": "isolated"}))["longLeverage"] == 3
    await okx.create_order(symbol, "market", "sell", 10, None, {"marginMode": "isolated"})
    [position] = await okx.fetch_positions([symbol])
    assert (position["side"], position["marginMode"], position["contracts"]) == (
        "short", "isolated", 10)
    with pytest.raises(ccxt.ExchangeError):  # 59000: a position in the other mode
        await okx.set_margin_mode("cross", symbol, {"lever": 3})
    with pytest.raises(ccxt.BadRequest):  # 51000: a cross order on the isolated position
        await okx.create_order(symbol, "market", "buy", 10)
    await okx.create_order(symbol, "market", "buy", 10, None,
                           {"marginMode": "isolated", "reduceOnly": True})  # fmt: skip
    assert await okx.fetch_positions([symbol]) == []


async def test_request_security(served: Running, creds: Credentials) -> None:
    def client(**changes: str) -> Any:
        fields = {"api_key": creds.api_key, "secret": creds.secret,
                  "passphrase": creds.passphrase, **changes}  # fmt: skip
        return point(ccxt_async.okx(okx_config(Credentials(0, **fields))), served)

    wrong, unknown, phrase, stale = (client(secret="0" * 64), client(api_key="nobody"),
                                     client(passphrase="guess"), client())  # fmt: skip
    try:
        with pytest.raises(ccxt.AuthenticationError, match="50113"):
            await wrong.fetch_balance()
        with pytest.raises(ccxt.AuthenticationError, match="50111"):
            await unknown.fetch_balance()
        with pytest.raises(ccxt.AuthenticationError, match="50105"):
            await phrase.fetch_balance()
        await stale.load_markets()
        stale.nonce = lambda: served.venue.clock() - 60_000  # its clock a minute late
        with pytest.raises(ccxt.InvalidNonce, match="50102"):
            await stale.fetch_balance()
    finally:
        for exchange in (wrong, unknown, phrase, stale):
            await exchange.close()


async def test_private_stream(served: Running, creds: Credentials) -> None:
    exchange = point(ccxt_pro.okx(okx_config(creds)), served)
    try:
        await exchange.load_markets()
        orders = asyncio.ensure_future(exchange.watch_orders(SWAP))
        await subscribed(served, creds.account_id, "orders")
        placed = await exchange.create_order(SWAP, "limit", "buy", 0.01, 49000)
        seen = await asyncio.wait_for(orders, 20)
        assert (seen[-1]["id"], seen[-1]["status"]) == (placed["id"], "open")
        snapshot = await asyncio.wait_for(exchange.watch_positions([SWAP]), 20)
        assert snapshot == []  # OKX's first push: the open positions (none)
        first = await asyncio.wait_for(exchange.watch_balance(), 20)
        assert first["USDT"]["total"] == 100000
        trades = asyncio.ensure_future(exchange.watch_my_trades(SWAP))
        positions = asyncio.ensure_future(exchange.watch_positions([SWAP]))
        balance = asyncio.ensure_future(exchange.watch_balance())
        await served.venue.set_price(SWAP, D(48900))
        filled = await asyncio.wait_for(trades, 20)
        assert (filled[-1]["order"], filled[-1]["price"], filled[-1]["amount"]) == (
            placed["id"], 49000, 0.01)
        held = await asyncio.wait_for(positions, 20)
        assert (held[-1]["symbol"], held[-1]["side"], held[-1]["contracts"]) == (SWAP, "long", 0.01)
        wallet = await asyncio.wait_for(balance, 20)
        assert wallet["USDT"]["total"] < 100000  # the maker fee
        await served.venue.set_price(SWAP, D(50000))
    finally:
        await close_for_good(exchange)  # a late listen-key or reconnect request finds a closed session


async def test_watch_ticker(served: Running) -> None:
    exchange = point(ccxt_pro.okx(okx_config(None)), served)
    try:
        await exchange.load_markets()  # CCXT's okx `watch_ticker` needs the markets first
        ticker = await exchange.watch_ticker("SOL/USDT:USDT")
        assert (ticker["symbol"], ticker["last"]) == ("SOL/USDT:USDT", 150)
    finally:
        await close_for_good(exchange)


async def test_a_gateway_account_on_the_local_venue(served: Running) -> None:
    """`ccxtpro.okx` on testnet pointed at the OKX dialect by `config.ccxt` (the instance the
    worker builds, the passphrase as CCXT's `password`): an order, its lookup by client id,
    positions and the balance through the gateway's CCXT adapter, exact."""
    from apps.oms.config import Settings
    from apps.oms.exchange.ccxt.instances import build_ccxt_exchange
    from apps.oms.exchange.ccxt.venue import CLIENT_ID_LOOKUP, CcxtVenue

    creds = await served.venue.new_account()
    row = {"exchange_id": "ccxtpro.okx", "is_testnet": True, "config": {"ccxt": {
        "urls": served.ccxt_urls(), "options": {"fetchMarkets": {"types": ["spot", "swap"]}}}}}  # fmt: skip
    exchange = build_ccxt_exchange(row, Settings())
    exchange.apiKey, exchange.secret, exchange.password = (creds.api_key, creds.secret,
                                                           creds.passphrase)  # fmt: skip
    venue = CcxtVenue(exchange)
    symbol = "ETH/USDT:USDT"
    try:
        await venue.set_leverage(4, symbol)
        sold = await venue.create_order(symbol, "market", "sell", D("2"), None,
                                        {"clientOrderId": "oms7"})  # fmt: skip
        resting = await venue.create_order(symbol, "limit", "buy", D("0.1"), D(2000),
                                           {"clientOrderId": "oms8"})  # fmt: skip
        # CCXT's okx sends `clientOrderId` as OKX's `clOrdId` itself: no spelling needed
        assert "okx" not in CLIENT_ID_LOOKUP
        found = await venue.fetch_order("", symbol, {"clientOrderId": "oms7"})
        assert (found["id"], found["clientOrderId"]) == (sold["id"], "oms7")
        with pytest.raises(ccxt.OrderNotFound):
            await venue.fetch_order("", symbol, {"clientOrderId": "oms9"})
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
