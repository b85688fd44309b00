"""Bybit's websockets as a plain client sees them: the private stream's `auth` (refused with a
wrong signature or a past `expires`), `subscribe` only after it, ping/pong, topic filtering;
the public stream's tickers; and `ccxt.pro.bybit`'s `watch_ticker` on it."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt.pro as ccxt_pro
import pytest
import websockets

from apps.oms.exchange.ccxt.instances import close_for_good
from apps.paper.wire.accounts import Credentials
from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue
from test.integration.wire.test_bybit_ccxt import bybit_config, point

D = Decimal


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    store = tmp_path_factory.mktemp("wire-bybit-ws") / "venue.sqlite3"
    running = await start(await build_venue(f"sqlite+aiosqlite:///{store}", "bybit"))
    yield running
    await running.stop()


def auth(creds: Credentials, expires: int, secret: str | None = None) -> str:
    signature = hmac.new((secret or creds.secret).encode(), f"GET/realtime{expires}".encode(),
                         hashlib.sha256).hexdigest()  # fmt: skip
    return json.dumps({"op": "auth", "args": [creds.api_key, expires, signature]})


async def ask(ws: Any, message: dict[str, Any] | str) -> dict[str, Any]:
    await ws.send(message if isinstance(message, str) else json.dumps(message))
    answer: dict[str, Any] = json.loads(await ws.recv())
    return answer


async def test_private_protocol(served: Running) -> None:
    creds = await served.venue.new_account()
    now = served.venue.clock()
    async with websockets.connect(f"{served.ws_url}/v5/private") as ws:
        early = await ask(ws, {"op": "subscribe", "args": ["order"], "req_id": "1"})
        assert (early["success"], early["ret_msg"], early["req_id"]) == (
            False, "Request not authorized", "1")
        wrong = await ask(ws, auth(creds, now + 10_000, "0" * 64))
        assert (wrong["op"], wrong["success"]) == ("auth", False)
        late = await ask(ws, auth(creds, now - 1))
        assert late["success"] is False
        assert (await ask(ws, auth(creds, now + 10_000)))["success"] is True
        pong = await ask(ws, {"op": "ping", "req_id": "2"})
        assert (pong["op"], pong["req_id"]) == ("pong", "2")
        assert (await ask(ws, {"op": "subscribe", "args": ["execution"]}))["success"] is True
        bad = await ask(ws, {"op": "subscribe", "args": ["orderbook.1.BTCUSDT"]})
        assert bad["success"] is False
        venue = served.venue.accounts.venue(creds.api_key)
        await venue.create_order("BTC/USDT:USDT", "limit", "buy", D("0.01"), D(49000))
        await served.venue.set_price("BTCUSDT", D(48900))
        await served.venue.set_price("BTCUSDT", D(50000))
        # order, position and wallet messages are not subscribed: the first is the execution
        message = json.loads(await ws.recv())
        assert message["topic"] == "execution"
        row = message["data"][0]
        assert (row["category"], row["symbol"], row["execPrice"], row["execQty"]) == (
            "linear", "BTCUSDT", "49000", "0.01")


async def test_public_tickers(served: Running) -> None:
    async with websockets.connect(f"{served.ws_url}/v5/public/linear") as ws:
        bad = await ask(ws, {"op": "subscribe", "args": ["tickers.NOPEUSDT"], "req_id": "a"})
        assert bad["success"] is False
        ok = await ask(ws, {"op": "subscribe", "args": ["tickers.ETHUSDT"], "req_id": "b"})
        assert (ok["success"], ok["op"]) == (True, "subscribe")
        snapshot = json.loads(await ws.recv())
        assert (snapshot["topic"], snapshot["type"], snapshot["data"]["lastPrice"]) == (
            "tickers.ETHUSDT", "snapshot", "3000")
        assert (await ask(ws, {"op": "ping"}))["ret_msg"] == "pong"


async def test_watch_ticker(served: Running) -> None:
    exchange = point(ccxt_pro.bybit(bybit_config(None)), served)
    try:
        ticker = await exchange.watch_ticker("SOL/USDT:USDT")
        assert (ticker["symbol"], ticker["last"]) == ("SOL/USDT:USDT", 150)
    finally:
        await close_for_good(exchange)
