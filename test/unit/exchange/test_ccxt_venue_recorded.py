"""`CcxtVenue` over the real `ccxt.async_support.binance` class, fed recorded binance spot
responses through CCXT's single `fetch` override (no network): requests are signed and shaped by
CCXT itself, results are parsed by CCXT and come back with `Decimal` numbers; venue errors are
raised by binance's own error mapping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from apps.oms.exchange.ccxt.error_mapping import to_oms_error
from apps.oms.exchange.ccxt.venue import CcxtVenue
from test.unit.exchange import binance_spot as rec


class Recorded:
    """Answers (method, path) from a table; records every request CCXT made."""

    def __init__(self, exchange: Any, responses: dict[tuple[str, str], Any]) -> None:
        self.exchange = exchange
        self.responses = responses
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []

    async def fetch(self, url: str, method: str = "GET", headers: Any = None,
                    body: Any = None) -> Any:
        parsed = urlparse(url)
        query = parse_qs(parsed.query or (body or ""))
        self.requests.append((method, parsed.path, query))
        response = self.responses[(method, parsed.path)]
        if isinstance(response, tuple):  # (HTTP status, error body): binance's own mapping
            status, payload = response
            text = json.dumps(payload)
            self.exchange.handle_errors(status, "Bad Request", url, method, {}, text, payload,
                                        headers, body)
            raise AssertionError("handle_errors should have raised")
        return response


@pytest.fixture
async def venue() -> AsyncIterator[tuple[CcxtVenue, Recorded]]:
    exchange = ccxt_async.binance({"apiKey": "k" * 64, "secret": "s" * 64})
    exchange.options["fetchMarkets"] = {"types": ["spot"]}
    exchange.options["fetchCurrencies"] = False
    exchange.options["fetchMargins"] = False
    exchange.number = str
    recorded = Recorded(exchange, {
        ("GET", "/api/v3/exchangeInfo"): rec.EXCHANGE_INFO,
        ("GET", "/api/v3/ticker/24hr"): rec.TICKER,
        ("GET", "/api/v3/account"): rec.ACCOUNT,
        ("POST", "/api/v3/order"): rec.order("FILLED", "0.00123000", [rec.FILL],
                                              cummulativeQuoteQty="36.90012300"),
        ("GET", "/api/v3/order"): rec.order("PARTIALLY_FILLED", "0.00100000"),
        ("DELETE", "/api/v3/order"): (400, rec.UNKNOWN_ORDER),
        ("GET", "/api/v3/openOrders"): [rec.order()],
        ("GET", "/api/v3/myTrades"): rec.MY_TRADES,
    })
    exchange.fetch = recorded.fetch
    adapter = CcxtVenue(exchange)
    yield adapter, recorded
    await adapter.close()


async def test_markets_load_once_and_parse(venue: tuple[CcxtVenue, Recorded]) -> None:
    adapter, recorded = venue
    markets = await adapter.load_markets()
    await adapter.load_markets()
    assert markets["BTC/USDT"]["spot"] is True
    assert [r for r in recorded.requests if r[1] == "/api/v3/exchangeInfo"].__len__() == 1


async def test_create_order_sends_exact_strings_and_returns_decimals(
    venue: tuple[CcxtVenue, Recorded],
) -> None:
    adapter, recorded = venue
    order = await adapter.create_order("BTC/USDT", "limit", "buy", Decimal("0.00123"),
                                       Decimal("30000.10"), {"clientOrderId": "oms123abc"})
    method, path, query = recorded.requests[-1]
    assert (method, path) == ("POST", "/api/v3/order")
    assert query["quantity"] == ["0.00123"]
    assert query["price"] == ["30000.10"] or query["price"] == ["30000.1"]
    assert query["newClientOrderId"] == ["oms123abc"]
    assert "signature" in query
    assert order["status"] == "closed"
    assert order["filled"] == Decimal("0.00123")
    assert order["price"] == Decimal("30000.10")
    assert order["clientOrderId"] == "oms123abc"
    trade = order["trades"][0]
    assert trade["id"] == "56"
    assert trade["fee"]["cost"] == Decimal("0.00000123")
    assert isinstance(order["info"]["origQty"], str)


async def test_reads_return_decimals(venue: tuple[CcxtVenue, Recorded]) -> None:
    adapter, _ = venue
    balance = await adapter.fetch_balance()
    assert balance["USDT"]["total"] == Decimal("10370.12345679")
    assert balance["total"]["BTC"] == Decimal("4723846.89208129")
    ticker = await adapter.fetch_ticker("BTC/USDT")
    assert ticker["bid"] == Decimal("37000.00")
    partial = await adapter.fetch_order("28", "BTC/USDT")
    assert partial["status"] == "open"
    assert partial["remaining"] == Decimal("0.00023")
    assert [o["id"] for o in await adapter.fetch_open_orders("BTC/USDT")] == ["28"]
    trades = await adapter.fetch_my_trades("BTC/USDT")
    assert trades[0]["order"] == "28"
    assert trades[0]["amount"] == Decimal("0.00123")


async def test_venue_errors_map_with_the_ccxt_class(venue: tuple[CcxtVenue, Recorded]) -> None:
    adapter, recorded = venue
    with pytest.raises(ccxt.OrderNotFound) as info:
        await adapter.cancel_order("999", "BTC/USDT")
    error = to_oms_error(info.value)
    assert error.status == 404
    assert error.details == {"ccxt_error": "OrderNotFound"}
    recorded.responses[("POST", "/api/v3/order")] = (400, rec.INSUFFICIENT)
    with pytest.raises(ccxt.InsufficientFunds) as funds:
        await adapter.create_order("BTC/USDT", "market", "buy", Decimal("1"))
    assert to_oms_error(funds.value).code == "insufficient_funds"
