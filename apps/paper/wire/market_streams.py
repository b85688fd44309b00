"""Binance's public market streams, the part CCXT's `watch_ticker` uses: a websocket on
`/ws/<n>` (spot) or `/market/ws/<n>` (futures) that takes `SUBSCRIBE` / `UNSUBSCRIBE` /
`LIST_SUBSCRIPTIONS` and sends each subscribed `<symbol>@ticker` stream a `24hrTicker` event
every second (Binance's update speed), the first at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

from starlette.websockets import WebSocket, WebSocketDisconnect

from apps.paper.wire.binance_spot import Json

UPDATE_SECONDS = 1.0
#: the event of a `<symbol>@ticker` stream, None when the symbol is not listed
Ticker = Callable[[str], Awaitable[Json | None]]


def ticker_event(rest: Json, now_ms: int) -> Json:
    """A `24hrTicker` event from the REST `ticker/24hr` answer of the same symbol."""
    return {"e": "24hrTicker", "E": now_ms, "s": rest["symbol"], "p": rest["priceChange"],
            "P": rest["priceChangePercent"], "w": rest["weightedAvgPrice"],
            "x": rest["prevClosePrice"], "c": rest["lastPrice"], "Q": rest["lastQty"],
            "b": rest["bidPrice"], "B": rest["bidQty"], "a": rest["askPrice"],
            "A": rest["askQty"], "o": rest["openPrice"], "h": rest["highPrice"],
            "l": rest["lowPrice"], "v": rest["volume"], "q": rest["quoteVolume"],
            "O": rest["openTime"], "C": rest["closeTime"], "F": -1, "L": -1, "n": 0}  # fmt: skip


def subscription_reply(message: Json, streams: set[str]) -> Json:
    """Apply one control message to `streams`; Binance's answer to it."""
    method, request_id = message.get("method"), message.get("id")
    names = [str(n) for n in message.get("params") or []]
    if method == "SUBSCRIBE":
        streams.update(names)
    elif method == "UNSUBSCRIBE":
        streams.difference_update(names)
    elif method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(streams), "id": request_id}
    else:
        return {"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"},
                "id": request_id}  # fmt: skip
    return {"result": None, "id": request_id}


async def market_stream(ws: WebSocket, ticker: Ticker) -> None:
    """Serve one market-stream connection until the client goes."""
    await ws.accept()
    streams: set[str] = set()
    outbox: asyncio.Queue[Json] = asyncio.Queue()
    woken = asyncio.Event()

    async def send() -> None:
        while True:
            await ws.send_text(json.dumps(await outbox.get()))

    tasks = [asyncio.create_task(_push(streams, ticker, outbox, woken)),
             asyncio.create_task(send())]  # fmt: skip
    try:
        while True:
            await outbox.put(subscription_reply(json.loads(await ws.receive_text()), streams))
            woken.set()  # the new streams' first events at once
    except (WebSocketDisconnect, json.JSONDecodeError, RuntimeError, AttributeError):
        pass
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _push(streams: set[str], ticker: Ticker, outbox: asyncio.Queue[Json],
                woken: asyncio.Event) -> None:  # fmt: skip
    """Every second (or at once when woken by a subscription), each subscribed ticker's event."""
    while True:
        for name in sorted(streams):
            symbol, _, channel = name.partition("@")
            event = await ticker(symbol.upper()) if channel == "ticker" else None
            if event is not None:
                await outbox.put(event)
        woken.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), UPDATE_SECONDS)
