"""OKX's websockets as a plain client sees them: the private stream's `login` (refused with a
wrong sign, an expired timestamp or a wrong passphrase), `subscribe` only after it, the text
`ping`/`pong`, the 30 s idle rule, channel filtering; the public stream's `tickers`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import websockets

from apps.paper.wire import okx_server
from apps.paper.wire.accounts import Credentials
from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue

D = Decimal


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    store = tmp_path_factory.mktemp("wire-okx-ws") / "venue.sqlite3"
    running = await start(await build_venue(f"sqlite+aiosqlite:///{store}", "okx"))
    yield running
    await running.stop()


def login(creds: Credentials, seconds: int, secret: str | None = None,
          passphrase: str | None = None) -> dict[str, Any]:  # fmt: skip
    digest = hmac.new((secret or creds.secret).encode(), f"{seconds}GET/users/self/verify".encode(),
                      hashlib.sha256).digest()  # fmt: skip
    return {"op": "login", "args": [{"apiKey": creds.api_key, "timestamp": str(seconds),
                                     "passphrase": passphrase or creds.passphrase,
                                     "sign": base64.b64encode(digest).decode()}]}  # fmt: skip


async def ask(ws: Any, message: dict[str, Any] | str) -> Any:
    await ws.send(message if isinstance(message, str) else json.dumps(message))
    answer = await ws.recv()
    return answer if answer == "pong" else json.loads(answer)


async def test_private_protocol(served: Running) -> None:
    creds = await served.venue.new_account()
    now = served.venue.clock() // 1000
    async with websockets.connect(f"{served.ws_url}/ws/v5/private") as ws:
        early = await ask(ws, {"op": "subscribe", "args": [{"channel": "orders",
                                                            "instType": "ANY"}]})  # fmt: skip
        assert (early["event"], early["code"]) == ("error", "60011")
        assert (await ask(ws, login(creds, now, secret="0" * 64)))["code"] == "60007"
        assert (await ask(ws, login(creds, now - 60)))["code"] == "60006"
        assert (await ask(ws, login(creds, now, passphrase="guess")))["code"] == "60024"
        answer = await ask(ws, login(creds, now))
        assert (answer["event"], answer["code"]) == ("login", "0")
        assert await ask(ws, "ping") == "pong"
        fills = {"channel": "orders", "instType": "SWAP", "instId": "BTC-USDT-SWAP"}
        assert (await ask(ws, {"op": "subscribe", "args": [fills]}))["event"] == "subscribe"
        bad = await ask(ws, {"op": "subscribe", "args": [{"channel": "balance_and_position"}]})
        assert (bad["event"], bad["code"]) == ("error", "60018")
        venue = served.venue.accounts.venue(creds.api_key)
        await venue.create_order("ETH/USDT", "limit", "buy", D("0.1"), D(2900))  # not subscribed
        await venue.create_order("BTC/USDT:USDT", "limit", "buy", D("0.01"), D(49000))
        await served.venue.set_price("BTC/USDT:USDT", D(48900))
        await served.venue.set_price("BTC/USDT:USDT", D(50000))
        # orders of other instruments, positions and account pushes are not subscribed
        message = json.loads(await ws.recv())
        assert message["arg"] == fills
        row = message["data"][0]
        assert (row["instId"], row["state"], row["fillPx"], row["fillSz"], row["execType"]) == (
            "BTC-USDT-SWAP", "filled", "49000", "0.01", "M")


async def test_positions_and_account_start_with_a_snapshot(served: Running) -> None:
    creds = await served.venue.new_account()
    async with websockets.connect(f"{served.ws_url}/ws/v5/private") as ws:
        assert (await ask(ws, login(creds, served.venue.clock() // 1000)))["code"] == "0"
        await ws.send(json.dumps({"op": "subscribe", "args": [
            {"channel": "account", "ccy": "USDT"}, {"channel": "positions", "instType": "ANY"}]}))
        frames = [json.loads(await ws.recv()) for _ in range(4)]
        assert [f.get("event") for f in frames] == ["subscribe", "subscribe", None, None]
        account, positions = frames[2], frames[3]
        assert [d["ccy"] for d in account["data"][0]["details"]] == ["USDT"]
        assert (positions["arg"]["channel"], positions["data"]) == ("positions", [])


async def test_a_silent_connection_is_closed(served: Running,
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """OKX closes a connection that carried nothing either way for 30 s (shortened here):
    pings keep it open, as do pushes."""
    monkeypatch.setattr(okx_server, "IDLE_SECONDS", 1.5)
    async with websockets.connect(f"{served.ws_url}/ws/v5/private") as ws:
        for _ in range(3):
            await asyncio.sleep(1)
            assert await ask(ws, "ping") == "pong"
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
    async with websockets.connect(f"{served.ws_url}/ws/v5/public") as ws:
        arg = {"channel": "tickers", "instId": "BTC-USDT"}
        await ws.send(json.dumps({"op": "subscribe", "args": [arg]}))
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(4)]
        assert [f.get("arg") for f in frames[1:]] == [arg] * 3  # a push a second, never cut


async def test_public_tickers(served: Running) -> None:
    async with websockets.connect(f"{served.ws_url}/ws/v5/public") as ws:
        assert await ask(ws, "ping") == "pong"
        bad = await ask(ws, {"op": "subscribe", "args": [{"channel": "tickers",
                                                          "instId": "NOPE-USDT"}]})  # fmt: skip
        assert (bad["event"], bad["code"]) == ("error", "60018")
        arg = {"channel": "tickers", "instId": "ETH-USDT-SWAP"}
        assert (await ask(ws, {"op": "subscribe", "args": [arg]}))["event"] == "subscribe"
        pushed = json.loads(await ws.recv())
        assert (pushed["arg"], pushed["data"][0]["last"]) == (arg, "3000")
