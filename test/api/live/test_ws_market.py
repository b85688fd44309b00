"""`subscribe_market` / `unsubscribe_market` over real uvicorn and real websocket clients: one
upstream per (venue, symbol, channel) shared by all clients (the hub's registry is asserted),
paper pushes after `POST /paper/prices`, unsubscribe stops pushes, a disconnect releases the
upstream, read permission; the CCXT poller against recorded binance responses (`fetch`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import httpx
import pytest

from apps.api.ws.market import MarketHub
from apps.api.ws.market_sources import UpstreamKey
from test.api.live.conftest import Client, Stack, connect
from test.unit.exchange import binance_spot as rec
from test.unit.exchange.test_ccxt_venue_recorded import Recorded

pytestmark = pytest.mark.mysql
SYMBOL = "SOL/USDT"  # no other live test moves it
DEPTH = {"lastUpdateId": 1027024, "bids": [["37000.00", "1.5"], ["36999.99", "2.0"]],
         "asks": [["37000.20", "0.75"], ["37000.30", "3.0"]]}  # fmt: skip


def hub(stack: Stack) -> MarketHub:
    market: MarketHub = stack.app.state.market_hub
    return market


def updated(channel: str, **match: Any) -> Any:
    def check(message: dict[str, Any]) -> bool:
        payload = message.get("payload") or {}
        data = payload.get("data") or {}
        return message.get("event") == f"{channel}_updated" and all(
            data.get(k) == v for k, v in match.items())

    return check


async def until_each(client: Client, *checks: Any) -> list[dict[str, Any]]:
    """The first message matching each check, whatever order they arrive in."""
    found: dict[int, dict[str, Any]] = {}

    def done(message: dict[str, Any]) -> bool:
        for index, check in enumerate(checks):
            if index not in found and check(message):
                found[index] = message
        return len(found) == len(checks)

    await client.until(done)
    return [found[i] for i in range(len(checks))]


async def set_price(stack: Stack, price: str) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        response = await http.post("/paper/prices", json={"symbol": SYMBOL, "price": price},
                                   headers={"x-api-key": stack.trader_key})
    assert response.status_code == 200, response.text


async def silent(client: Client, event: str, seconds: float = 0.5) -> bool:
    """True when no `event` push arrives within `seconds`."""
    try:
        await client.until(lambda m: m.get("event") == event, seconds)
    except TimeoutError:
        return True
    return False


async def eventually(check: Any, seconds: float = 60) -> None:
    """Wait for `check()`, generously: a poller stops once its in-flight request returns, which a
    loaded machine delays by seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def subscribe(client: Client, account_id: int, **extra: Any) -> dict[str, Any]:
    body = {"account_id": account_id, "symbol": SYMBOL, "channels": ["ticker"], **extra}
    return await client.request("subscribe_market", body, namespace="ccxt")


async def test_paper_market_is_one_shared_upstream(stack: Stack) -> None:
    a = await connect(stack, stack.trader_key)
    b = await connect(stack, stack.readonly_key)
    ticker, book = UpstreamKey("paper", SYMBOL, "ticker"), UpstreamKey("paper", SYMBOL, "orderbook")
    try:
        reply = await subscribe(a, stack.account_id, channels=["ticker", "orderbook"], depth=2)
        assert reply["event"] == "subscribed_market", reply
        assert reply["payload"]["upstreams"][0] == {"channel": "ticker", "feed": "paper"}
        assert (await subscribe(b, stack.account_id, channels=["ticker"]))["ok"] is True
        assert hub(stack).subscriber_count(ticker) == 2
        assert hub(stack).subscriber_count(book) == 1
        assert len([k for k in hub(stack).upstreams if k.symbol == SYMBOL]) == 2
        await set_price(stack, "123.45")
        seen = (await b.until(updated("ticker", last="123.45")))[-1]
        assert seen["namespace"] == "ccxt"
        assert seen["payload"]["account_id"] == stack.account_id
        _, levels = await until_each(a, updated("ticker", last="123.45"), updated("orderbook"))
        assert len(levels["payload"]["data"]["bids"]) <= 2
        assert isinstance(levels["payload"]["data"]["bids"][0][0], str)
        gone = await a.request("unsubscribe_market", {"channels": ["ticker"]}, namespace="ccxt")
        assert gone["payload"]["removed"] == [
            {"account_id": stack.account_id, "symbol": SYMBOL, "channel": "ticker"}]
        assert hub(stack).subscriber_count(ticker) == 1
        await set_price(stack, "124.5")
        await b.until(updated("ticker", last="124.5"))
        assert await silent(a, "ticker_updated")
        await b.ws.close()
        await eventually(lambda: ticker not in hub(stack).upstreams)
        assert book in hub(stack).upstreams  # still used by a
        rest = await a.request("unsubscribe_market", {}, namespace="ccxt")
        assert [r["channel"] for r in rest["payload"]["removed"]] == ["orderbook"]
        assert not [k for k in hub(stack).upstreams if k.symbol == SYMBOL]
    finally:
        await a.ws.close()
        await b.ws.close()


async def test_market_subscription_needs_read_and_a_real_market(stack: Stack) -> None:
    client = await connect(stack, stack.readonly_key)
    try:
        hidden = await subscribe(client, stack.other_account_id)
        assert hidden["payload"]["code"] == "account_not_found"
        bad = await client.request("subscribe_market", {"account_id": stack.account_id,
                                                        "symbol": "NOPE/USDT"}, namespace="ccxt")
        assert bad["payload"]["code"] == "unsupported_market"
        channel = await subscribe(client, stack.account_id, channels=["funding"])
        assert channel["payload"]["code"] == "validation_error"
        frame = await subscribe(client, stack.account_id, channels=["ohlcv"], timeframe="7m")
        assert frame["ok"] is False
        assert not [k for k in hub(stack).upstreams if k.symbol == SYMBOL]
    finally:
        await client.ws.close()
    anonymous = await connect(stack, None)
    try:
        refused = await subscribe(anonymous, stack.account_id)
        assert refused["payload"]["code"] == "missing_api_key"
    finally:
        await anonymous.ws.close()


@pytest.fixture
async def recorded_binance(stack: Stack) -> AsyncIterator[Recorded]:
    """The API's exchange instance of the binance testnet account, answering from recordings."""
    exchange = ccxt_async.binance({"apiKey": "k" * 64, "secret": "s" * 64})
    exchange.options["fetchMarkets"] = {"types": ["spot"]}
    exchange.options["fetchCurrencies"] = False
    exchange.number = str
    exchange.set_sandbox_mode(True)
    recorded = Recorded(exchange, {
        ("GET", "/api/v3/exchangeInfo"): rec.EXCHANGE_INFO,
        ("GET", "/api/v3/ticker/24hr"): dict(rec.TICKER),
        ("GET", "/api/v3/depth"): DEPTH,
    })
    exchange.fetch = recorded.fetch
    registry = stack.app.state.ccxt_registry
    previous = registry._instances.pop(stack.binance_account_id, None)
    if previous is not None:
        await previous.close()
    registry._instances[stack.binance_account_id] = exchange
    hub(stack).poll_seconds = 0.05
    try:
        yield recorded
    finally:
        hub(stack).poll_seconds = 1.0
        registry._instances.pop(stack.binance_account_id, None)
        await exchange.close()


async def test_ccxt_poller_is_shared_and_stops_with_its_last_client(
    stack: Stack, recorded_binance: Recorded
) -> None:
    key = UpstreamKey("ccxt.binance@sandbox", "BTC/USDT", "ticker")
    clients = [await connect(stack, k) for k in (stack.granted_key, stack.readonly_key)]
    try:
        for client in clients:
            reply = await client.request("subscribe_market", {
                "account_id": stack.binance_account_id, "symbol": "BTC/USDT",
                "channels": ["ticker", "orderbook"], "depth": 1}, namespace="ccxt")
            assert reply["payload"].get("upstreams") == [
                {"channel": "ticker", "feed": "poll"}, {"channel": "orderbook", "feed": "poll"}], reply["payload"]
        upstream = hub(stack).upstreams[key]
        assert hub(stack).subscriber_count(key) == 2
        for client in clients:
            pushes = await until_each(client, updated("ticker"), updated("orderbook"))
            first, book = (m["payload"]["data"] for m in pushes)
            assert Decimal(first["bid"]) == Decimal("37000")
            assert [Decimal(x) for x in book["bids"][0]] == [Decimal("37000"), Decimal("1.5")]
            assert len(book["asks"]) == 1
        responses = recorded_binance.responses
        responses[("GET", "/api/v3/ticker/24hr")] = {**rec.TICKER, "lastPrice": "37111.50"}
        for client in clients:
            await client.until(lambda m: updated("ticker")(m) and Decimal(
                m["payload"]["data"]["last"]) == Decimal("37111.5"))
        polls = [r for r in recorded_binance.requests if r[1] == "/api/v3/ticker/24hr"]
        assert len(polls) < 200  # one poller for both clients, not one per client
        for client in clients:
            await client.ws.close()
        await eventually(lambda: key not in hub(stack).upstreams)
        assert upstream.task is not None
        await eventually(upstream.task.done)
    finally:
        for client in clients:
            await client.ws.close()
