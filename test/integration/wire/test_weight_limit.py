"""The local Binance venue's weight limit (`POST /admin/limits`, `venue serve --weight-limit`):
past it, Binance's 429 -1003 with `Retry-After`, then 418 to a client that keeps on; CCXT's own
class raises `DDoSProtection` for both (its mapping of 418 and 429)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import ccxt
import ccxt.async_support as ccxt_async
import httpx
import pytest

from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue
from test.integration.wire.conftest import point, spot_options


@pytest.fixture
async def venue(tmp_path: Path) -> AsyncIterator[Running]:
    running = await start(await build_venue(f"sqlite+aiosqlite:///{tmp_path / 'v.sqlite3'}",
                                            "binance"))  # fmt: skip
    yield running
    await running.stop()


async def test_429_then_418_past_the_limit(venue: Running) -> None:
    async with httpx.AsyncClient(base_url=venue.rest_url) as http:
        limits = await http.post("/admin/limits", json={"weight_limit": 4, "window_ms": 600_000,
                                                         "ban_after": 2, "ban_s": 300})  # fmt: skip
        assert limits.json()["limit"] == 4
        ticker = {"symbol": "BTCUSDT"}
        answers = [await http.get("/api/v3/ticker/24hr", params=ticker) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 429, 418]  # weight 2 each
    assert answers[1].headers["X-MBX-USED-WEIGHT-1M"] == "4"
    assert answers[2].json()["code"] == -1003
    assert 0 < int(answers[2].headers["Retry-After"]) <= 600
    assert answers[3].json()["code"] == -1003
    assert "banned" in answers[3].json()["msg"]
    assert answers[3].headers["Retry-After"] == "300"


async def test_ccxt_raises_ddos_protection(venue: Running) -> None:
    exchange = point(ccxt_async.binance(spot_options(None)), venue)
    try:
        await exchange.load_markets()
        async with httpx.AsyncClient(base_url=venue.rest_url) as http:
            await http.post("/admin/limits", json={"weight_limit": 3})  # counts start again
        await exchange.fetch_ticker("BTC/USDT")
        with pytest.raises(ccxt.DDoSProtection):
            await exchange.fetch_ticker("BTC/USDT")
    finally:
        await exchange.close()
    async with httpx.AsyncClient(base_url=venue.rest_url) as http:
        off = await http.post("/admin/limits", json={})
        assert off.json()["limit"] == 0
        assert (await http.get("/api/v3/ticker/24hr", params={"symbol": "BTCUSDT"})).is_success


async def test_an_orders_answer_carries_the_keys_order_counts(venue: Running) -> None:
    creds = await venue.venue.new_account()
    exchange = point(ccxt_async.binance(spot_options(creds)), venue)
    exchange.enableLastResponseHeaders = True
    try:
        await exchange.create_order("ETH/USDT", "market", "buy", 0.01)
        await exchange.create_order("ETH/USDT", "market", "buy", 0.01)
        headers = {k.lower(): v for k, v in exchange.last_response_headers.items()}
    finally:
        await exchange.close()
    assert headers["x-mbx-order-count-1d"] == "2"
    assert headers["x-mbx-order-count-10s"] in ("1", "2")  # a 10-s window may have turned
