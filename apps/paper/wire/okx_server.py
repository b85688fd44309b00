"""The OKX v5 part of the served venue's adapter: its endpoint table, one request through OKX's
security and envelope (`{"code": "0", "msg": "", "data": [...]}`), the private websocket
(`/ws/v5/private`: `login`, `subscribe` to `orders`, `positions`, `account`, the text
`ping`/`pong`, OKX's 30 s idle rule) and the public one's `tickers` (`/ws/v5/public`).

Rate limits are not enforced: OKX would answer 50011 with HTTP 429 past an endpoint's limit
(docs/testnet.md); this venue serves every request, unless an injected `rate_limit` fault says
otherwise (`fault_replies.okx`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from apps.paper.wire import okx_v5 as v5
from apps.paper.wire.okx_handlers import OkxCall
from apps.paper.wire.okx_orders import OkxTrading
from apps.paper.wire.okx_signing import OkxError, verify, verify_login
from apps.paper.wire.streams import DROPPED, QUEUE_SIZE, Subscriber

if TYPE_CHECKING:
    from apps.paper.wire.server import WireVenue

PREFIX = "/api/v5/"
#: (method, path under /api/v5/) -> (handler of `OkxTrading`, signed); "time" is the venue's
ENDPOINTS: dict[tuple[str, str], tuple[str, bool]] = {
    ("GET", "public/time"): ("time", False),
    ("GET", "public/instruments"): ("instruments", False),
    ("GET", "public/funding-rate"): ("funding_rate", False),
    ("GET", "public/mark-price"): ("mark_price", False),
    ("GET", "market/ticker"): ("ticker", False),
    ("GET", "market/tickers"): ("tickers", False),
    ("GET", "market/books"): ("books", False),
    ("GET", "market/trades"): ("trades", False),
    ("GET", "market/history-trades"): ("trades", False),
    ("GET", "market/candles"): ("candles", False),
    ("GET", "market/history-candles"): ("candles", False),
    ("GET", "asset/currencies"): ("currencies", True),
    ("GET", "account/config"): ("config", True),
    ("GET", "account/balance"): ("balance", True),
    ("GET", "account/positions"): ("positions", True),
    ("GET", "account/leverage-info"): ("leverage_info", True),
    ("GET", "account/trade-fee"): ("trade_fee", True),
    ("POST", "account/set-leverage"): ("set_leverage", True),
    ("POST", "account/set-position-mode"): ("set_position_mode", True),
    ("POST", "trade/order"): ("place_order", True),
    ("POST", "trade/batch-orders"): ("batch_orders", True),
    ("POST", "trade/amend-order"): ("amend_order", True),
    ("POST", "trade/cancel-order"): ("cancel_order", True),
    ("POST", "trade/cancel-batch-orders"): ("cancel_batch", True),
    ("GET", "trade/order"): ("get_order", True),
    ("GET", "trade/orders-pending"): ("orders_pending", True),
    ("GET", "trade/orders-history"): ("orders_history", True),
    ("GET", "trade/orders-history-archive"): ("orders_history", True),
    ("GET", "trade/fills"): ("fills", True),
    ("GET", "trade/fills-history"): ("fills_history", True),
}
#: a connection that has carried nothing either way for this long is closed (OKX: 30 s;
#: clients send the text `ping` more often than that when nothing is pushed)
IDLE_SECONDS = 30.0
PRIVATE_CHANNELS = ("orders", "positions", "account")
#: the outbox's marker for the text frame `pong` (the answer to a text `ping`)
PONG: dict[str, Any] = {}


def envelope(data: Any) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def params_of(method: str, query: str, body: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """A GET's query parameters, or a POST's JSON body: an object's entries, or (a batch) an
    array of objects as `items`; values as strings (booleans `true`/`false`)."""
    if method != "POST":
        return dict(parse_qsl(query, keep_blank_values=True)), []
    try:
        data = json.loads(body or "{}")
    except json.JSONDecodeError:
        raise OkxError(50002, "Json data format error") from None
    if isinstance(data, list) and all(isinstance(d, dict) for d in data):
        return {}, [{str(k): _text(v) for k, v in d.items() if v is not None} for d in data]
    if not isinstance(data, dict):
        raise OkxError(50002, "Json data format error")
    return {str(k): _text(v) for k, v in data.items() if v is not None}, []


async def handle(venue: WireVenue, handlers: OkxTrading, method: str, path: str, query: str,
                 body: str, headers: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """One REST request: security per the endpoint, then its handler, in OKX's envelope."""
    now = venue.clock()
    found = ENDPOINTS.get((method, path.removeprefix(PREFIX))) if path.startswith(PREFIX) else None
    if found is None:
        raise OkxError(404, "Not Found", 404)
    name, signed = found
    if name == "time":
        return envelope([{"ts": str(now)}])
    account = None
    if signed:
        key = verify(method, path, query, body, headers, venue.accounts.secret_of,
                     venue.accounts.passphrase_of, now)  # fmt: skip
        account = venue.accounts.venue(key)
    params, items = params_of(method, query, body)
    handler: Callable[[OkxCall], Awaitable[Any]] = getattr(handlers, name)
    try:
        return envelope(await handler(OkxCall(params, now, account, items)))
    except OkxError:
        raise
    except Exception as exc:  # an engine refusal the handler did not name itself
        raise v5.error_of(exc) from exc


# --- the private websocket ---------------------------------------------------------------------


def matches(arg: dict[str, Any], push: dict[str, Any]) -> bool:
    """Whether a subscription `arg` (channel, instType, instId) takes a push."""
    if arg.get("channel") != push["channel"]:
        return False
    kind = arg.get("instType") or "ANY"
    if push["instType"] and kind not in ("ANY", push["instType"]):
        return False
    return not arg.get("instId") or arg["instId"] == push["instId"]


class _Connection:
    """One `/ws/v5/private` connection: its account once logged in, its subscriptions."""

    def __init__(self, venue: WireVenue, handlers: OkxTrading,
                 outbox: asyncio.Queue[dict[str, Any]]) -> None:  # fmt: skip
        self.venue = venue
        self.handlers = handlers
        self.outbox = outbox
        self.conn_id = secrets.token_hex(4)
        self.args: list[dict[str, Any]] = []
        self.sub: Subscriber | None = None
        self.key = ""

    async def answer(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The replies to one op (`login`, `subscribe`, `unsubscribe`), then any snapshot a
        subscription starts with (positions, account)."""
        op = message.get("op")
        try:
            if op == "login":
                self._login(message.get("args"))
                return [{"event": "login", "code": "0", "msg": "", "connId": self.conn_id}]
            if op in ("subscribe", "unsubscribe"):
                return await self._subscribe(op, message.get("args"))
            raise OkxError(60019, f"Invalid op: {op}")
        except OkxError as exc:
            return [{"event": "error", "code": str(exc.code), "msg": exc.msg,
                     "connId": self.conn_id}]  # fmt: skip

    def _login(self, args: object) -> None:
        if self.sub is not None:
            raise OkxError(60010, "Already logged in")
        self.key = verify_login(args, self.venue.accounts.secret_of,
                                self.venue.accounts.passphrase_of, self.venue.clock())  # fmt: skip
        account_id = self.venue.accounts.by_key[self.key].account_id
        self.sub = self.venue.streams.subscribe(account_id, self._frame, self.outbox)

    async def _subscribe(self, op: str, args: object) -> list[dict[str, Any]]:
        if self.sub is None:
            raise OkxError(60011, "Please log in")
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            raise OkxError(60012, "Illegal request: args must be a list of objects")
        replies, snapshots = [], []
        for arg in args:
            channel = arg.get("channel")
            if channel not in PRIVATE_CHANNELS:
                raise OkxError(60018, f"Wrong URL or channel:{channel} doesn't exist.")
            if arg.get("instId") and arg["instId"] not in self.handlers.listed:
                raise OkxError(60018, f"Wrong URL or channel:{channel},instId:{arg['instId']} "
                                      "doesn't exist.")  # fmt: skip
            if op == "subscribe":
                if arg not in self.args:
                    self.args.append(arg)
                snapshots += await self._snapshot(arg)
            elif arg in self.args:
                self.args.remove(arg)
            replies.append({"event": op, "arg": arg, "connId": self.conn_id})
        return replies + snapshots

    async def _snapshot(self, arg: dict[str, Any]) -> list[dict[str, Any]]:
        """OKX starts a `positions` subscription with the open positions it covers, and an
        `account` one with the balance."""
        venue, now = self.venue.accounts.venue(self.key), self.venue.clock()
        if arg["channel"] == "account":
            coins = {arg["ccy"]} if arg.get("ccy") else None
            return [{"arg": arg, "data": [await self.handlers.balance_of(venue, now, coins)]}]
        if arg["channel"] == "positions":
            markets = [m for m in self.handlers.swaps()
                       if matches(arg, {"channel": "positions", "instType": "SWAP",
                                        "instId": v5.inst_id(m)})]  # fmt: skip
            return [{"arg": arg, "data": await self.handlers.positions_of(venue, markets, now)}]
        return []

    def _frame(self, push: dict[str, Any]) -> dict[str, Any]:
        return push  # framed per subscription when sent (`framed`)

    def framed(self, push: dict[str, Any]) -> list[dict[str, Any]]:
        """A hub push as this connection sends it: once per subscription it matches."""
        if "channel" not in push or "data" not in push:
            return [push]  # a reply
        return [{"arg": arg, "data": push["data"]} for arg in self.args if matches(arg, push)]


class Activity:
    """When a connection last carried a frame either way: OKX closes one silent for 30 s."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.last = self.loop.time()

    def touch(self) -> None:
        self.last = self.loop.time()

    async def receive(self, ws: WebSocket) -> str:
        """The client's next text frame; TimeoutError once the connection has been silent
        both ways for `IDLE_SECONDS`."""
        while (left := IDLE_SECONDS - (self.loop.time() - self.last)) > 0:
            try:
                text = await asyncio.wait_for(ws.receive_text(), left)
            except TimeoutError:
                continue  # something may have been sent meanwhile: check again
            self.touch()
            return text
        raise TimeoutError


async def private_stream(ws: WebSocket, venue: WireVenue, handlers: OkxTrading) -> None:
    """Serve one `/ws/v5/private` connection until the client goes, or until it has been
    silent both ways for 30 s."""
    await ws.accept()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
    conn = _Connection(venue, handlers, outbox)
    activity = Activity()

    async def send() -> None:
        while (message := await outbox.get()) is not DROPPED:
            frames = ["pong"] if message is PONG else [json.dumps(f) for f in conn.framed(message)]
            for frame in frames:
                await ws.send_text(frame)
                activity.touch()
        await ws.close(code=1008)

    sender = asyncio.create_task(send())
    try:
        while True:
            text = await activity.receive(ws)
            if text == "ping":
                await outbox.put(PONG)
                continue
            for reply in await conn.answer(_json(text)):
                await outbox.put(reply)
    except (WebSocketDisconnect, RuntimeError, TimeoutError):
        pass
    finally:
        sender.cancel()
        if conn.sub is not None:
            venue.streams.unsubscribe(conn.sub)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        with contextlib.suppress(Exception):
            await ws.close()


def _json(text: str) -> dict[str, Any]:
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        return {"op": None}
    return message if isinstance(message, dict) else {"op": None}


# --- the public websocket (tickers) ------------------------------------------------------------

TICKER_SECONDS = 1.0


def public_reply(message: dict[str, Any], args: list[dict[str, Any]], markets: set[str],
                 conn_id: str) -> dict[str, Any]:  # fmt: skip
    """Apply one op of a public connection to `args`; OKX's answer to it (only `tickers`)."""
    op, wanted = message.get("op"), message.get("args")
    if op not in ("subscribe", "unsubscribe"):
        return {"event": "error", "code": "60019", "msg": f"Invalid op: {op}", "connId": conn_id}
    if not isinstance(wanted, list) or not wanted or not all(isinstance(a, dict) for a in wanted):
        return {"event": "error", "code": "60012", "msg": "Illegal request", "connId": conn_id}
    for arg in wanted:
        if arg.get("channel") != "tickers" or arg.get("instId") not in markets:
            return {"event": "error", "code": "60018",
                    "msg": f"Wrong URL or channel:{arg.get('channel')},instId:"
                           f"{arg.get('instId')} doesn't exist.", "connId": conn_id}  # fmt: skip
    for arg in wanted:
        clean = {"channel": "tickers", "instId": arg["instId"]}
        if op == "subscribe" and clean not in args:
            args.append(clean)
        elif op == "unsubscribe" and clean in args:
            args.remove(clean)
    return {"event": op, "arg": wanted[-1], "connId": conn_id}


async def public_stream(ws: WebSocket, venue: WireVenue, handlers: OkxTrading) -> None:
    """Serve one `/ws/v5/public` connection: `tickers` pushes, the first at once, then one a
    second per subscription (closed once silent both ways for 30 s)."""
    await ws.accept()
    args: list[dict[str, Any]] = []
    conn_id = secrets.token_hex(4)
    woken = asyncio.Event()
    outbox: asyncio.Queue[dict[str, Any] | str] = asyncio.Queue()
    activity = Activity()

    async def send() -> None:
        while True:
            item = await outbox.get()
            await ws.send_text(item if isinstance(item, str) else json.dumps(item))
            activity.touch()

    tasks = [asyncio.create_task(_push(venue, handlers, args, outbox, woken)),
             asyncio.create_task(send())]  # fmt: skip
    try:
        while True:
            text = await activity.receive(ws)
            if text == "ping":
                await outbox.put("pong")
                continue
            await outbox.put(public_reply(_json(text), args, set(handlers.listed), conn_id))
            woken.set()
    except (WebSocketDisconnect, RuntimeError, TimeoutError):
        pass
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _push(venue: WireVenue, handlers: OkxTrading, args: list[dict[str, Any]],
                outbox: asyncio.Queue[dict[str, Any] | str], woken: asyncio.Event) -> None:  # fmt: skip
    """Every second (or at once when woken by a subscription), each subscription's ticker."""
    while True:
        for arg in list(args):
            market = handlers.listed[arg["instId"]]
            row = await handlers.ticker_row(market, venue.clock())
            await outbox.put({"arg": arg, "data": [row]})
        woken.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), TICKER_SECONDS)


def ws_routes(venue: WireVenue) -> list[WebSocketRoute]:
    """`/ws/v5/private`, `/ws/v5/public` and `/ws/v5/business` (served as a public one: no
    candle channels here) — the OKX dialect's only."""

    async def private(ws: WebSocket) -> None:
        if isinstance(venue.handlers, OkxTrading):
            await private_stream(ws, venue, venue.handlers)

    async def public(ws: WebSocket) -> None:
        if isinstance(venue.handlers, OkxTrading):
            await public_stream(ws, venue, venue.handlers)

    return [WebSocketRoute("/ws/v5/private", private),
            WebSocketRoute("/ws/v5/public", public),
            WebSocketRoute("/ws/v5/business", public)]
