"""Faults as real venues have them, injected at the wire (`/admin/faults`), met by CCXT's own
`binance`, `binanceusdm`, `bybit` and `okx` classes (and `ccxt.pro` for the private streams): each
raises the class it maps the venue's answer to, a lost response leaves the order on the venue,
an invisible order is not found and then found. No test bounds wall-clock time: latencies are
small and outcomes are polled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from apps.oms.exchange.ccxt.instances import close_for_good, merged
from apps.paper.wire.accounts import Credentials
from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue
from test.integration.wire.conftest import spot_options
from test.integration.wire.test_bybit_ccxt import bybit_config, subscribed
from test.integration.wire.test_okx_ccxt import okx_config
from test.integration.wire.test_okx_ccxt import subscribed as okx_subscribed

DIALECTS = ("binance", "binanceusdm", "bybit", "okx")
SYMBOL = {"binance": "BTC/USDT", "binanceusdm": "BTC/USDT:USDT", "bybit": "BTC/USDT:USDT",
          "okx": "BTC/USDT:USDT"}  # fmt: skip
#: what CCXT raises for each refusal, by dialect (its own mapping of the venue's answer)
RAISES: dict[str, dict[str, type[Exception]]] = {
    "binance": {"server_error": ccxt.OperationFailed, "unavailable": ccxt.ExchangeNotAvailable,
                "maintenance": ccxt.OnMaintenance},
    "bybit": {"server_error": ccxt.ExchangeError, "unavailable": ccxt.ExchangeNotAvailable,
              "maintenance": ccxt.ExchangeError},
    "okx": {"server_error": ccxt.ExchangeNotAvailable, "unavailable": ccxt.ExchangeNotAvailable,
            "maintenance": ccxt.OnMaintenance},
}
#: what CCXT raises for a rate limit, then for the ban (OKX: its sub-account order limit)
LIMITED: dict[str, tuple[type[Exception], type[Exception]]] = {
    "binance": (ccxt.DDoSProtection, ccxt.DDoSProtection),
    "binanceusdm": (ccxt.DDoSProtection, ccxt.DDoSProtection),
    "bybit": (ccxt.RateLimitExceeded, ccxt.RateLimitExceeded),
    "okx": (ccxt.RateLimitExceeded, ccxt.ExchangeError),
}
RAISES["binanceusdm"] = RAISES["binance"]


@pytest.fixture(scope="module", params=DIALECTS)
async def venue(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:  # fmt: skip
    """Each dialect served over a store of its own."""
    store = tmp_path_factory.mktemp(f"faults-{request.param}") / "venue.sqlite3"
    running = await start(await build_venue(f"sqlite+aiosqlite:///{store}", request.param))
    yield running
    await running.stop()


def ccxt_config(dialect: str, creds: Credentials) -> dict[str, Any]:
    if dialect == "binance":
        return spot_options(creds)
    if dialect == "bybit":
        return bybit_config(creds)
    if dialect == "okx":
        return okx_config(creds)
    return {"apiKey": creds.api_key, "secret": creds.secret,
            "options": {"fetchCurrencies": False}}  # fmt: skip


def make(module: Any, running: Running, creds: Credentials) -> Any:
    """CCXT's class of the venue's dialect, pointed at it by its URLs only."""
    dialect = running.venue.dialect
    exchange = getattr(module, dialect)(ccxt_config(dialect, creds))
    if dialect == "binance":
        urls = running.urls()
        api = dict(exchange.urls["api"])
        api.update(public=urls["public"], private=urls["private"])
        if "ws" in api:
            api["ws"] = {**api["ws"], "spot": urls["ws_stream"],
                         "ws-api": {**api["ws"]["ws-api"], "spot": urls["ws_api"]}}  # fmt: skip
        exchange.urls["api"] = api
    else:
        exchange.urls["api"] = merged(exchange.urls["api"], running.ccxt_urls())
    return exchange


@pytest.fixture
async def creds(venue: Running) -> Credentials:
    return await venue.venue.new_account()


@pytest.fixture
async def exchange(venue: Running, creds: Credentials) -> AsyncIterator[Any]:
    client = make(ccxt_async, venue, creds)
    await client.load_markets()
    yield client
    await client.close()


@pytest.fixture(autouse=True)
async def no_faults_after(venue: Running) -> AsyncIterator[None]:
    yield
    await admin(venue, "DELETE", "/admin/faults")


async def admin(running: Running, method: str, path: str,
                body: Any = None) -> tuple[int, dict[str, Any]]:  # fmt: skip
    """The venue's admin surface over HTTP, as an operator's curl."""
    async with aiohttp.ClientSession() as session, session.request(
            method, f"{running.rest_url}{path}", json=body) as response:  # fmt: skip
        return response.status, await response.json()


async def set_faults(running: Running, *faults: dict[str, Any], seed: int = 0) -> None:
    status, answer = await admin(running, "POST", "/admin/faults",
                                 {"seed": seed, "faults": list(faults)})  # fmt: skip
    assert status == 200, answer


def extra(dialect: str) -> dict[str, Any]:
    return {"acknowledged": True} if dialect == "bybit" else {}


async def poll(check: Callable[[], Any], what: str, tries: int = 400) -> Any:
    """`check()` until it gives something (an awaitable's result counts), else fail."""
    for _ in range(tries):
        try:
            found = await check()
        except ccxt.OrderNotFound:
            found = None
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


# --- the admin endpoint ------------------------------------------------------------------------


async def test_the_admin_endpoint_sets_shows_and_clears_faults(venue: Running) -> None:
    status, shown = await admin(venue, "POST", "/admin/faults", {
        "seed": 3, "skew_ms": 1500, "faults": [{"kind": "latency", "ms": 1, "rate": 0.5}]})
    assert status == 200
    assert shown["faults"][0]["rate"] == "0.5"
    assert (shown["seed"], shown["skew_ms"], shown["faults"][0]["hits"]) == (3, 1500, 0)
    assert venue.venue.clock.skew_ms == 1500
    status, error = await admin(venue, "POST", "/admin/faults", {"faults": [{"kind": "meteor"}]})
    assert (status, error["ok"]) == (400, False)
    assert "kind" in error["error"]
    _, shown = await admin(venue, "GET", "/admin/faults")
    assert len(shown["faults"]) == 1  # a refused plan leaves the one set
    _, shown = await admin(venue, "DELETE", "/admin/faults")
    assert (shown["faults"], shown["skew_ms"], venue.venue.clock.skew_ms) == ([], 0, 0)


async def test_clock_skew_through_the_same_endpoint(venue: Running, exchange: Any) -> None:
    await set_faults(venue)
    await admin(venue, "POST", "/admin/faults", {"skew_ms": 60_000})  # past every window (OKX: 30 s)
    with pytest.raises(ccxt.InvalidNonce):
        await exchange.fetch_balance()
    await admin(venue, "DELETE", "/admin/faults")
    assert await exchange.fetch_balance()


# --- request faults ----------------------------------------------------------------------------


async def test_latency_delays_the_requests_it_names(venue: Running, exchange: Any) -> None:
    await set_faults(venue, {"kind": "latency", "ms": 20, "endpoints": "reads", "count": 2})
    await exchange.fetch_balance()
    await exchange.fetch_open_orders(SYMBOL[venue.venue.dialect])
    await exchange.fetch_balance()
    _, shown = await admin(venue, "GET", "/admin/faults")
    assert shown["faults"][0]["hits"] == 2


async def test_a_rate_limit_then_a_ban(venue: Running, exchange: Any) -> None:
    """Binance: 429 then 418 (both -1003, `Retry-After`), CCXT's DDoSProtection (its binance
    class raises that for both statuses); Bybit: retCode 10006, then HTTP 403, both CCXT's
    RateLimitExceeded; OKX: 429 with 50011 (RateLimitExceeded), then 429 with 50061, the
    sub-account's order limit (CCXT's ExchangeError: OKX bans no IP)."""
    dialect = venue.venue.dialect
    symbol = SYMBOL[dialect]
    await set_faults(venue, {"kind": "rate_limit", "count": 3, "ban_after": 2,
                             "retry_after_s": 7})  # fmt: skip
    raised = []
    for _ in range(3):
        with pytest.raises((ccxt.NetworkError, ccxt.ExchangeError)) as caught:
            await exchange.fetch_open_orders(symbol)  # one request in every dialect
        raised.append((type(caught.value), {k.lower(): v for k, v in  # names as sent, any case
                                                 (exchange.last_response_headers or {}).items()}))
    limited, banned = LIMITED[dialect]
    assert [cls for cls, _ in raised] == [limited, limited, banned]
    if dialect == "bybit":
        assert raised[0][1]["x-bapi-limit-status"] == "0"
        assert "403" in str(caught.value)
    elif dialect == "okx":
        assert "50061" in str(caught.value)
    else:
        assert [h["retry-after"] for _, h in raised] == ["7"] * 3
        assert "418" in str(caught.value)
    assert await exchange.fetch_open_orders(symbol) == []  # the count is spent


@pytest.mark.parametrize("kind", ["server_error", "unavailable", "maintenance"])
async def test_a_refused_order_is_not_placed(venue: Running, exchange: Any, kind: str) -> None:
    dialect = venue.venue.dialect
    symbol = SYMBOL[dialect]
    await set_faults(venue, {"kind": kind, "endpoints": "orders", "count": 1})
    with pytest.raises(RAISES[dialect][kind]) as caught:
        await exchange.create_order(symbol, "limit", "buy", 0.01, 49000)
    assert type(caught.value) is RAISES[dialect][kind]
    assert await exchange.fetch_open_orders(symbol) == []  # reads pass, nothing was placed
    placed = await exchange.create_order(symbol, "limit", "buy", 0.01, 49000)
    assert [o["id"] for o in await exchange.fetch_open_orders(symbol)] == [placed["id"]]
    await exchange.cancel_order(placed["id"], symbol)


@pytest.mark.parametrize("mode", ["delay", "drop"])
async def test_a_lost_response_leaves_the_order_on_the_venue(venue: Running, exchange: Any,
                                                             mode: str) -> None:  # fmt: skip
    """The order is placed; the client times out (held answer: RequestTimeout) or sees the
    connection close (dropped: ExchangeNotAvailable, a NetworkError); the order is found by its
    client order id."""
    dialect = venue.venue.dialect
    symbol = SYMBOL[dialect]
    await set_faults(venue, {"kind": "lost_response", "endpoints": "orders", "count": 1,
                             "mode": mode, "ms": 1500})  # fmt: skip
    client_id = f"lost{mode}{dialect}"[:30]
    params = {"clientOrderId": client_id}
    exchange.timeout = 300 if mode == "delay" else 10_000
    with pytest.raises(ccxt.RequestTimeout if mode == "delay" else ccxt.ExchangeNotAvailable):
        await exchange.create_order(symbol, "limit", "buy", 0.01, 49000, params)
    exchange.timeout = 10_000

    async def found() -> list[Any]:
        return [o for o in await exchange.fetch_open_orders(symbol)
                if o["clientOrderId"] == client_id]  # fmt: skip

    order = (await poll(found, "the lost order on the venue"))[0]
    await exchange.cancel_order(order["id"], symbol)


# --- order faults ------------------------------------------------------------------------------


async def test_an_order_invisible_for_a_while(venue: Running, exchange: Any) -> None:
    dialect = venue.venue.dialect
    symbol = SYMBOL[dialect]
    await set_faults(venue, {"kind": "invisible_order", "ms": 5000, "count": 1})
    placed = await exchange.create_order(symbol, "limit", "buy", 0.01, 49000)
    with pytest.raises(ccxt.OrderNotFound):
        await exchange.fetch_order(placed["id"], symbol, extra(dialect))
    assert placed["id"] not in [o["id"] for o in await exchange.fetch_open_orders(symbol)]
    shown = await poll(lambda: exchange.fetch_order(placed["id"], symbol, extra(dialect)),
                       "the order found")  # fmt: skip
    assert (shown["id"], shown["status"]) == (placed["id"], "open")
    assert placed["id"] in [o["id"] for o in await exchange.fetch_open_orders(symbol)]
    await exchange.cancel_order(placed["id"], symbol)


async def test_the_fills_of_an_invisible_order(venue: Running, exchange: Any) -> None:
    """A filled order kept out of sight does not break the account's trade list (OKX leaves
    its fills out with it); once shown, its trade is listed."""
    dialect = venue.venue.dialect
    symbol = SYMBOL[dialect]
    await set_faults(venue, {"kind": "invisible_order", "ms": 3000, "count": 1})
    placed = await exchange.create_order(symbol, "market", "buy", 0.01)
    await exchange.fetch_my_trades(symbol)

    async def traded() -> list[Any]:
        return [t for t in await exchange.fetch_my_trades(symbol) if t["order"] == placed["id"]]

    assert len(await poll(traded, "the order's trade listed")) == 1


async def test_a_market_order_filled_in_parts(venue: Running, exchange: Any) -> None:
    dialect = venue.venue.dialect
    symbol = SYMBOL[dialect]
    await set_faults(venue, {"kind": "partial_fills", "parts": 3, "ms": 300, "count": 1})
    placed = await exchange.create_order(symbol, "market", "buy", 0.03)

    async def closed() -> Any:
        order = await exchange.fetch_order(placed["id"], symbol, extra(dialect))
        return order if order["status"] == "closed" else None

    order = await poll(closed, "the order filled")
    assert order["filled"] == 0.03
    trades = [t for t in await exchange.fetch_my_trades(symbol) if t["order"] == placed["id"]]
    assert sorted(Decimal(str(t["amount"])) for t in trades) == [Decimal("0.01")] * 3


# --- the venue's own cancels and the private stream ----------------------------------------------


async def watching(running: Running, creds: Credentials, pro: Any) -> Any:
    """A pending `watch_orders`, once the venue has the account's subscription."""
    symbol = SYMBOL[running.venue.dialect]
    watch = asyncio.ensure_future(pro.watch_orders(symbol))
    if running.venue.dialect == "bybit":
        await subscribed(running, creds.account_id, "order")
    elif running.venue.dialect == "okx":
        await okx_subscribed(running, creds.account_id, "orders")
    else:
        await poll(lambda: _has_subscriber(running, creds.account_id), "a subscription")
    return watch


async def _has_subscriber(running: Running, account_id: int) -> bool:
    return any(s.account_id == account_id for s in running.venue.streams.subscribers)


@pytest.mark.parametrize("status", ["expired", "canceled"])
async def test_the_venue_cancels_or_expires_an_order(venue: Running, creds: Credentials,
                                                     exchange: Any, status: str) -> None:  # fmt: skip
    dialect = venue.venue.dialect
    symbol = SYMBOL[dialect]
    pro = make(ccxt_pro, venue, creds)
    try:
        await pro.load_markets()
        placed = await exchange.create_order(symbol, "limit", "buy", 0.01, 49000)
        watch = await watching(venue, creds, pro)
        code, answer = await admin(venue, "POST", "/admin/orders/cancel", {
            "account_id": creds.account_id, "order_id": placed["id"], "status": status})
        assert (code, answer["status"]) == (200, status)
        seen = await asyncio.wait_for(watch, 20)
        # Bybit shows it Cancelled, OKX canceled (neither has an expired state for it)
        shown = "canceled" if dialect in ("bybit", "okx") else status
        assert (seen[-1]["id"], seen[-1]["status"]) == (placed["id"], shown)
        if dialect == "okx":  # "canceled by system" (a client's own cancel says 1)
            assert seen[-1]["info"]["cancelSource"] == "0"
        assert await exchange.fetch_open_orders(symbol) == []
        code, _ = await admin(venue, "POST", "/admin/orders/cancel", {
            "account_id": creds.account_id, "order_id": placed["id"]})
        assert code == 404
    finally:
        await close_for_good(pro)  # a late listen-key renewal finds a closed session


async def test_a_stream_that_skips_events(venue: Running, creds: Credentials,
                                          exchange: Any) -> None:  # fmt: skip
    """The first order's events never come; the next order's do."""
    dialect = venue.venue.dialect
    symbol = SYMBOL[dialect]
    pro = make(ccxt_pro, venue, creds)
    try:
        await pro.load_markets()
        watch = await watching(venue, creds, pro)
        await set_faults(venue, {"kind": "stream_skip", "count": 50})
        first = await exchange.create_order(symbol, "limit", "buy", 0.01, 49000)
        _, shown = await admin(venue, "GET", "/admin/faults")
        skipped = shown["faults"][0]["hits"]
        assert skipped > 0
        await set_faults(venue)
        second = await exchange.create_order(symbol, "limit", "buy", 0.01, 48000)
        seen = await asyncio.wait_for(watch, 20)
        assert [o["id"] for o in seen] == [second["id"]]
        assert first["id"] != second["id"]
        await cancel_open(exchange, symbol)
    finally:
        await close_for_good(pro)  # a late listen-key renewal finds a closed session


async def test_a_stream_that_drops_then_the_client_reconnects(venue: Running,
                                                              creds: Credentials,
                                                              exchange: Any) -> None:  # fmt: skip
    dialect = venue.venue.dialect
    symbol = SYMBOL[dialect]
    pro = make(ccxt_pro, venue, creds)
    try:
        await pro.load_markets()
        watch = await watching(venue, creds, pro)
        await set_faults(venue, {"kind": "stream_drop", "count": 1})
        await exchange.create_order(symbol, "limit", "buy", 0.01, 49000)
        with pytest.raises(ccxt.NetworkError):
            await asyncio.wait_for(watch, 20)
        await poll(lambda: _gone(venue, creds.account_id), "the stream closed")
        watch = await watching(venue, creds, pro)  # CCXT connects again
        again = await exchange.create_order(symbol, "limit", "buy", 0.01, 48000)
        seen = await asyncio.wait_for(watch, 20)
        assert seen[-1]["id"] == again["id"]
        await cancel_open(exchange, symbol)
    finally:
        await close_for_good(pro)  # a late listen-key renewal finds a closed session


async def cancel_open(exchange: Any, symbol: str) -> None:
    """Cancel the open orders one by one (CCXT's okx has no cancel_all_orders)."""
    for order in await exchange.fetch_open_orders(symbol):
        await exchange.cancel_order(order["id"], symbol)


async def _gone(running: Running, account_id: int) -> bool:
    return not await _has_subscriber(running, account_id)
