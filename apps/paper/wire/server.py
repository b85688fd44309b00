"""The HTTP and websocket adapter of a served paper venue (Starlette under uvicorn): one
dialect's endpoint table, Binance's request security and weight headers, the user-data
websockets, and a small admin surface (prices, clock skew, accounts) for the local operator.

`build_venue` makes the venue over its own store; `create_app` its ASGI app; `serve` runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from apps.oms.store.boundary import Engine
from apps.oms.store.engine import create_engine
from apps.oms.store.migrate import upgrade_async
from apps.paper.domain.book import BookConfig
from apps.paper.domain.matching import Venue
from apps.paper.exchange.feeds import RandomWalkFeed
from apps.paper.exchange.market_data import PaperMarketData, now_ms
from apps.paper.exchange.venue import PaperVenue
from apps.paper.store.venue_store import PaperStore
from apps.paper.wire import bybit_server, okx_server, signing
from apps.paper.wire.accounts import FUTURES_FUNDS, SPOT_FUNDS, Accounts, Credentials
from apps.paper.wire.binance_spot import error_of
from apps.paper.wire.bybit_orders import BybitTrading
from apps.paper.wire.endpoints import (
    SIGNED,
    SPOT_ENDPOINTS,
    USDM_ENDPOINTS,
    USER_STREAM,
    Endpoint,
)
from apps.paper.wire.fault_admin import admin_routes
from apps.paper.wire.fault_gate import FaultGate
from apps.paper.wire.fault_middleware import FaultMiddleware
from apps.paper.wire.fault_plan import RATE_LIMIT, Refusal
from apps.paper.wire.fault_replies import binance as binance_reply
from apps.paper.wire.fault_replies import render_for
from apps.paper.wire.market_streams import market_stream, ticker_event
from apps.paper.wire.okx_orders import OkxTrading
from apps.paper.wire.order_lists import OrderLists
from apps.paper.wire.spot_handlers import Call, SpotHandlers
from apps.paper.wire.spot_lists import SpotListHandlers
from apps.paper.wire.streams import DROPPED, QUEUE_SIZE, Streams, Subscriber
from apps.paper.wire.usdm_handlers import UsdmHandlers, futures_error
from apps.paper.wire.weights import ORDER_COUNTS, OrderCounts, Weights

DIALECTS = ("binance", "binanceusdm", "bybit", "okx")
#: endpoints the venue answers itself (the rest are the dialect's handlers')
VENUE_HANDLERS = frozenset({"ping", "time", "listen_key_new", "listen_key_keep",
                            "listen_key_close"})  # fmt: skip


class Clock:
    """The venue's clock: the host's epoch ms plus a skew the admin can set (Binance -1021)."""

    def __init__(self) -> None:
        self.skew_ms = 0

    def __call__(self) -> int:
        return now_ms() + self.skew_ms


class WireVenue:
    """One served venue: its store, accounts, dialect handlers, streams and clock."""

    def __init__(self, engine: Engine, dialect: str, book: BookConfig) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}: one of {', '.join(DIALECTS)}")
        self.engine = engine
        self.dialect = dialect
        self.clock = Clock()
        self.gate = FaultGate(self.clock)  # the injected faults (`/admin/faults`)
        self.accounts = Accounts(engine, book, self.clock, self.gate, self._publish_fills)
        self.streams = Streams(self.clock, self.gate.event)
        self.weights = Weights()
        self.order_counts = OrderCounts()
        self.limits = bybit_server.Limits()
        self.data = PaperMarketData(PaperStore(engine), Venue(book=book), self.clock)
        self.feed = RandomWalkFeed(self.data.store, self.data.venue, clock=self.clock)
        markets = dict(self.data.venue.by_symbol)
        self.handlers: SpotHandlers | BybitTrading | OkxTrading
        self.endpoints: dict[tuple[str, str], Endpoint]
        if dialect == "bybit":
            self.handlers = BybitTrading(markets, self.data, self.streams.publish)
            self.endpoints, self.funds = {}, SPOT_FUNDS  # a unified account holds coins
        elif dialect == "okx":
            self.handlers = OkxTrading(markets, self.data, self.streams.publish)
            self.endpoints, self.funds = {}, SPOT_FUNDS  # a trading account holds coins
        elif dialect == "binanceusdm":
            self.handlers = UsdmHandlers(markets, self.data, self.streams.publish)
            self.endpoints, self.funds = USDM_ENDPOINTS, FUTURES_FUNDS
        else:
            self.handlers = SpotListHandlers(markets, self.data, self.streams.publish,
                                             OrderLists(engine))  # fmt: skip
            self.endpoints, self.funds = SPOT_ENDPOINTS, SPOT_FUNDS

    async def new_account(self) -> Credentials:
        return await self.accounts.create(self.funds)

    async def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the shared price of `symbol` and match every account against it."""
        market = self.handlers.markets.get(symbol.upper())
        unified = market.symbol if market is not None else symbol
        await self.data.set_price(unified, price)
        await self._match([unified])

    async def walk(self) -> None:
        """One seeded random-walk step of every market (±5 bps, on its tick), then matching:
        what `--walk-seconds` runs on a timer."""
        await self.feed.advance()
        await self._match(sorted(m.symbol for m in self.handlers.markets.values()))

    async def _match(self, symbols: list[str]) -> None:
        for venue in self.accounts.all_venues():
            fills = await venue.match(symbols)
            await self.handlers.after_match(venue, fills, self.clock())

    async def _publish_fills(self, venue: PaperVenue, fills: list[dict[str, Any]],
                             now_ms: int) -> None:  # fmt: skip
        """The events of fills the venue made on its own (an order filled in parts)."""
        await self.handlers.after_match(venue, fills, now_ms)

    async def cancel_by_venue(self, account_id: int, order_id: str, client_order_id: str,
                              expired: bool) -> dict[str, Any]:  # fmt: skip
        """Cancel or expire an open order as the venue itself would, and say so on the
        account's private stream. `order_id` as the dialect shows it (Binance's number or the
        engine's id), else `client_order_id`."""
        venue = self.accounts.venue_of(account_id)
        if order_id.isdigit():
            order_id = f"{account_id}-{order_id}"
        params = {} if order_id else {"clientOrderId": client_order_id}
        canceled = await venue.cancel_order(order_id, None, params)
        await self.handlers.venue_canceled(venue, canceled, self.clock(), expired)
        return canceled

    async def ticker_event(self, market_id: str) -> dict[str, Any] | None:
        """The `24hrTicker` event of a listed market (by Binance symbol), else None."""
        if market_id not in self.handlers.markets or not isinstance(self.handlers, SpotHandlers):
            return None
        now = self.clock()
        rest = await self.handlers.ticker_24hr(Call({"symbol": market_id}, now))
        return ticker_event(rest, now)

    async def handle(self, method: str, path: str, query: str, body: str,
                     headers: dict[str, str]) -> Any:  # fmt: skip
        """One REST request: security per the endpoint's type, then its handler."""
        if isinstance(self.handlers, OkxTrading):
            return await okx_server.handle(self, self.handlers, method, path, query, body,
                                           headers)  # fmt: skip
        if isinstance(self.handlers, BybitTrading):
            return await bybit_server.handle(self, self.handlers, method, path, query, body,
                                             headers)  # fmt: skip
        endpoint = self.endpoints.get((method, path))
        if endpoint is None:
            raise signing.WireError(404, -1000, f"Unknown endpoint {method} {path}")
        now = self.clock()
        params = signing.params_of(query, body)
        venue = None
        if endpoint.security == SIGNED:
            signed = signing.verify(query, body, headers, self.accounts.secret_of, now)
            params, venue = signed.params, self.accounts.venue(signed.api_key)
        elif endpoint.security == USER_STREAM:
            key, _ = signing.api_key_of(headers, self.accounts.secret_of)
            venue = self.accounts.venue(key)
        call = Call(params, now, venue)
        handler: Callable[[Call], Awaitable[Any]] = getattr(
            self if endpoint.handler in VENUE_HANDLERS else self.handlers, endpoint.handler)
        try:
            return await handler(call)
        except signing.WireError:
            raise
        except Exception as exc:  # a refusal of the engine the handler did not name itself
            raise self.refusal(exc) from exc

    def refusal(self, exc: Exception) -> signing.WireError:
        """The dialect's answer to an engine refusal (a CCXT error; else -1000, 500)."""
        return futures_error(exc) if self.dialect == "binanceusdm" else error_of(exc)

    async def ping(self, call: Call) -> Any:
        return {}

    async def time(self, call: Call) -> Any:
        return {"serverTime": call.now_ms}

    async def listen_key_new(self, call: Call) -> Any:
        return {"listenKey": self.streams.new_listen_key(call.account.account_id)}

    async def listen_key_keep(self, call: Call) -> Any:
        key = self._listen_key(call)
        self.streams.keep_alive(key, call.account.account_id)
        return {"listenKey": key} if self.dialect == "binanceusdm" else {}

    async def listen_key_close(self, call: Call) -> Any:
        self.streams.close(self._listen_key(call), call.account.account_id)
        return {}

    def _listen_key(self, call: Call) -> str | None:
        """Spot names the key; futures keeps one per account and takes none."""
        if self.dialect == "binanceusdm":
            return self.streams.key_of(call.account.account_id)
        return call.params.get("listenKey")


async def build_venue(store_url: str, dialect: str, book: BookConfig | None = None) -> WireVenue:
    """The venue over its own store (migrated to head), with the accounts of earlier runs."""
    await upgrade_async(store_url)
    venue = WireVenue(create_engine(store_url, pool_size=4), dialect, book or BookConfig())
    await venue.accounts.load()
    if isinstance(venue.handlers, SpotListHandlers):
        await venue.handlers.lists.load()
    return venue


# --- the ASGI adapter ---------------------------------------------------------------------------


def _reply(venue: WireVenue, request: Request, status: int, body: Any, weight: int) -> Response:
    client = request.client.host if request.client else ""
    if venue.dialect == "okx":
        return JSONResponse(body, status_code=status)
    if venue.dialect == "bybit":
        caller = request.headers.get("x-bapi-api-key") or client
        return JSONResponse(body, status_code=status, headers=venue.limits.headers(
            caller, request.url.path, venue.clock()))  # fmt: skip
    used = venue.weights.add(weight, venue.clock(), client)
    headers = {"X-MBX-USED-WEIGHT-1M": str(used), "X-MBX-USED-WEIGHT": str(used)}
    api_key = request.headers.get("x-mbx-apikey")
    orders = _new_orders(request.url.path) if request.method == "POST" else 0
    if orders and api_key:
        tens, day = venue.order_counts.add(api_key, venue.clock(), orders)
        headers.update({"X-MBX-ORDER-COUNT-10S": str(tens), "X-MBX-ORDER-COUNT-1D": str(day)})
    return JSONResponse(body, status_code=status, headers=headers)


def _new_orders(path: str) -> int:
    """The new orders a POST to `path` places (the futures' `/fapi/v1/order` too)."""
    if path.endswith("/order"):
        return 1
    return ORDER_COUNTS.get(path, 0)


def _over_limit(venue: WireVenue, request: Request, weight: int) -> Response | None:
    """Binance's 429 or 418 (-1003) to a client past the venue's weight limit, when one is set
    (`--weight-limit`, `POST /admin/limits`); nothing is executed then."""
    if venue.dialect not in ("binance", "binanceusdm"):
        return None
    client = request.client.host if request.client else ""
    verdict = venue.weights.admit(weight, venue.clock(), client)
    if verdict is None:
        return None
    reply = binance_reply(Refusal(RATE_LIMIT, verdict.retry_after_s, verdict.banned),
                          venue.clock())  # fmt: skip
    used = venue.weights.used.get(client, 0)
    return Response(reply.body, reply.status, {**reply.headers, "X-MBX-USED-WEIGHT-1M": str(used),
                                               "X-MBX-USED-WEIGHT": str(used)},
                    media_type=reply.media_type)  # fmt: skip


def create_app(venue: WireVenue) -> Starlette:
    async def rest(request: Request) -> Response:
        endpoint = venue.endpoints.get((request.method, request.url.path))
        weight = endpoint.weight if endpoint else 1
        refused = _over_limit(venue, request, weight)
        if refused is not None:
            return refused
        body = (await request.body()).decode()
        try:
            answer = await venue.handle(request.method, request.url.path, request.url.query,
                                        body, dict(request.headers))  # fmt: skip
        except signing.WireError as exc:
            return _reply(venue, request, exc.status, exc.body(), weight)
        return _reply(venue, request, 200, answer, weight)

    async def admin_price(request: Request) -> Response:
        data = await request.json()
        await venue.set_price(str(data["symbol"]), Decimal(str(data["price"])))
        return JSONResponse({"ok": True})

    async def admin_skew(request: Request) -> Response:
        venue.clock.skew_ms = int((await request.json())["skew_ms"])
        return JSONResponse({"ok": True, "skew_ms": venue.clock.skew_ms})

    async def admin_account(request: Request) -> Response:
        creds = await venue.new_account()
        return JSONResponse({"api_key": creds.api_key, "secret": creds.secret,
                             "account_id": creds.account_id,
                             "password": creds.passphrase})  # fmt: skip

    routes = [
        *admin_routes(venue),
        Route("/admin/price", admin_price, methods=["POST"]),
        Route("/admin/skew", admin_skew, methods=["POST"]),
        Route("/admin/account", admin_account, methods=["POST"]),
        *_ws_routes(venue),
        Route("/{path:path}", rest, methods=["GET", "POST", "PUT", "DELETE"]),
    ]
    faults = Middleware(FaultMiddleware, gate=venue.gate, render=render_for(venue.dialect))
    return Starlette(routes=routes, middleware=[faults])


def _ws_routes(venue: WireVenue) -> list[WebSocketRoute]:
    """The user-data websockets: listen-key streams and the WebSocket API."""

    async def stream(ws: WebSocket) -> None:
        """`/ws/<listenKey>`: the raw user-data stream of the key's account; any other name
        (CCXT's `/ws/0`) is a market-stream connection."""
        try:
            account_id = venue.streams.account_of(ws.path_params["listen_key"])
        except signing.WireError:
            await market_stream(ws, venue.ticker_event)
            return
        await ws.accept()
        await _pump(ws, venue.streams, account_id, None)

    async def market(ws: WebSocket) -> None:
        """`/market/ws/<n>`, `/public/ws/<n>`: the futures market streams (CCXT's URLs)."""
        await market_stream(ws, venue.ticker_event)

    async def private_stream(ws: WebSocket) -> None:
        """`/private/ws?listenKey=…`: the futures user-data stream (CCXT's private URL)."""
        try:
            account_id = venue.streams.account_of(ws.query_params.get("listenKey"))
        except signing.WireError:
            await ws.close(code=1008)
            return
        await ws.accept()
        await _pump(ws, venue.streams, account_id, None)

    async def ws_api(ws: WebSocket) -> None:
        """`/ws-api/v3`: Binance's WebSocket API, the user-data subscription part."""
        client = ws.client.host if ws.client else ""
        await ws.accept()
        await _pump(ws, venue.streams, None,
                    lambda message, subs, outbox: _ws_request(venue, message, subs, outbox,
                                                              client))

    return [WebSocketRoute("/ws/{listen_key}", stream),
            WebSocketRoute("/market/ws/{n}", market),
            WebSocketRoute("/public/ws/{n}", market),
            WebSocketRoute("/private/ws", private_stream),
            WebSocketRoute("/ws-api/v3", ws_api),
            *(bybit_server.ws_routes(venue) if venue.dialect == "bybit" else []),
            *(okx_server.ws_routes(venue) if venue.dialect == "okx" else [])]


WsRequest = Callable[[dict[str, Any], list[Subscriber], "Outbox"], Awaitable[dict[str, Any]]]
Outbox = asyncio.Queue[dict[str, Any]]


async def _pump(ws: WebSocket, streams: Streams, account_id: int | None,
                on_request: WsRequest | None) -> None:  # fmt: skip
    """Send the account's events (and the answers to requests) while reading requests, until
    the client goes."""
    outbox: Outbox = asyncio.Queue(QUEUE_SIZE)
    subs: list[Subscriber] = []
    if account_id is not None:
        subs.append(streams.subscribe(account_id, lambda event: event, outbox))

    async def send() -> None:
        while (message := await outbox.get()) is not DROPPED:
            await ws.send_text(json.dumps(message))
        await ws.close(code=1008)  # too slow: the venue drops it, as Binance does

    sender = asyncio.create_task(send())
    try:
        while True:
            text = await ws.receive_text()
            if on_request is not None:
                await outbox.put(await on_request(json.loads(text), subs, outbox))
    except (WebSocketDisconnect, json.JSONDecodeError, RuntimeError):
        pass
    finally:
        sender.cancel()
        for s in subs:
            streams.unsubscribe(s)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


def _framed(subscription_id: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The WebSocket API's frame of a user-data event."""
    return lambda event: {"subscriptionId": subscription_id, "event": event}


async def _ws_request(venue: WireVenue, message: dict[str, Any], subs: list[Subscriber],
                      outbox: Outbox, client: str = "") -> dict[str, Any]:  # fmt: skip
    """One WebSocket API request: `ping`, `time`, `userDataStream.subscribe.signature`,
    `userDataStream.unsubscribe`; answers in Binance's envelope."""
    request_id = message.get("id")
    method = message.get("method")
    params = message.get("params") or {}
    limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
               "limit": venue.weights.message_limit(),
               "count": venue.weights.add(2, venue.clock(), client)}]  # fmt: skip
    try:
        result: dict[str, Any]
        if method == "ping":
            result = {}
        elif method == "time":
            result = {"serverTime": venue.clock()}
        elif method == "userDataStream.subscribe.signature":
            signed = signing.verify_ws(params, venue.accounts.secret_of, venue.clock())
            account_id = venue.accounts.by_key[signed.api_key].account_id
            sub_id = len(subs)
            subs.append(venue.streams.subscribe(account_id, _framed(sub_id), outbox))
            result = {"subscriptionId": sub_id}
        elif method == "userDataStream.unsubscribe":
            for s in subs:
                venue.streams.unsubscribe(s)
            subs.clear()
            result = {}
        else:
            raise signing.WireError(400, -1100, f"Unknown method {method!r}")
    except signing.WireError as exc:
        return {"id": request_id, "status": exc.status, "error": exc.body(), "rateLimits": limits}
    return {"id": request_id, "status": 200, "result": result, "rateLimits": limits}
