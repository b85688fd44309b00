"""The Bybit v5 part of the served venue's adapter: its endpoint table, one request through
Bybit's security, envelope and rate-limit headers, the private websocket (`/v5/private`:
`auth`, `subscribe`, `ping`, topic messages over the venue's stream hub) and the public one's
tickers (`/v5/public/linear`, `/v5/public/spot`)."""

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

from apps.paper.wire import bybit_v5 as v5
from apps.paper.wire.bybit_orders import BybitTrading
from apps.paper.wire.bybit_signing import BybitError, params_error, verify, verify_ws_auth
from apps.paper.wire.spot_handlers import Call
from apps.paper.wire.streams import DROPPED, QUEUE_SIZE, Subscriber

if TYPE_CHECKING:
    from apps.paper.wire.server import WireVenue

#: (method, path) -> (handler of `BybitTrading`, signed); "time" is the venue's own
ENDPOINTS: dict[tuple[str, str], tuple[str, bool]] = {
    ("GET", "/v5/market/time"): ("time", False),
    ("GET", "/v5/market/instruments-info"): ("instruments", False),
    ("GET", "/v5/market/tickers"): ("tickers", False),
    ("GET", "/v5/market/orderbook"): ("orderbook", False),
    ("GET", "/v5/market/kline"): ("kline", False),
    ("GET", "/v5/user/query-api"): ("query_api", True),
    ("GET", "/v5/account/info"): ("account_info", True),
    ("GET", "/v5/account/wallet-balance"): ("wallet_balance", True),
    ("GET", "/v5/account/fee-rate"): ("fee_rate", True),
    ("GET", "/v5/asset/coin/query-info"): ("coin_info", True),
    ("POST", "/v5/order/create"): ("create_order", True),
    ("POST", "/v5/order/amend"): ("amend_order", True),
    ("POST", "/v5/order/cancel"): ("cancel_order", True),
    ("POST", "/v5/order/cancel-all"): ("cancel_all", True),
    ("GET", "/v5/order/realtime"): ("realtime", True),
    ("GET", "/v5/order/history"): ("history", True),
    ("GET", "/v5/execution/list"): ("executions", True),
    ("GET", "/v5/position/list"): ("position_list", True),
    ("POST", "/v5/position/set-leverage"): ("set_leverage", True),
    ("POST", "/v5/position/switch-mode"): ("switch_mode", True),
}
#: Bybit's per-endpoint request limit (per second and UID), as `X-Bapi-Limit` reports it
LIMIT_PER_SECOND = 10
#: a connection with neither ping-pong nor stream data for this long is cut off (Bybit's
#: default; a private connection may choose 30 s to 600 s by `max_active_time`); Bybit asks
#: clients to ping every 20 s
IDLE_SECONDS = 600.0
MIN_ACTIVE_SECONDS = 30.0


def alive_seconds(max_active_time: str | None) -> float:
    """`max_active_time` (`45s`, `2m`, `120`) in seconds, held to Bybit's 30 s – 10 min; the
    default 10 min when absent or unreadable."""
    text = (max_active_time or "").strip().lower()
    scale = 60 if text.endswith("m") else 1
    digits = text.rstrip("ms")
    if not digits.isdigit():
        return IDLE_SECONDS
    return min(IDLE_SECONDS, max(MIN_ACTIVE_SECONDS, float(int(digits) * scale)))


def envelope(result: Any, now_ms: int) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now_ms}


def params_of(method: str, query: str, body: str) -> dict[str, str]:
    """A GET's query parameters or a POST's JSON body, as strings (booleans `true`/`false`)."""
    if method != "POST":
        return dict(parse_qsl(query, keep_blank_values=True))
    try:
        data = json.loads(body or "{}")
    except json.JSONDecodeError:
        raise params_error("the body is not JSON") from None
    if not isinstance(data, dict):
        raise params_error("the body is not a JSON object")
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in data.items() if v is not None}  # fmt: skip


async def handle(venue: WireVenue, handlers: BybitTrading, method: str, path: str, query: str,
                 body: str, headers: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """One REST request: security per the endpoint, then its handler, in Bybit's envelope."""
    now = venue.clock()
    try:
        found = ENDPOINTS.get((method, path))
        if found is None:
            raise BybitError(10001, f"Unknown endpoint {method} {path}", 404)
        name, signed = found
        if name == "time":
            return envelope({"timeSecond": str(now // 1000),
                             "timeNano": str(now * 1_000_000)}, now)  # fmt: skip
        account = None
        if signed:
            key = verify(method, query, body, headers, venue.accounts.secret_of, now)
            account = venue.accounts.venue(key)
        call = Call(params_of(method, query, body), now, account)
        handler: Callable[[Call], Awaitable[Any]] = getattr(handlers, name)
        try:
            return envelope(await handler(call), now)
        except BybitError:
            raise
        except Exception as exc:  # an engine refusal the handler did not name itself
            raise v5.error_of(exc) from exc
    except BybitError as exc:
        exc.now_ms = now
        raise


class Limits:
    """Requests per caller (API key, else address), endpoint and second, as Bybit's
    `X-Bapi-Limit-Status` reports what is left (counted and reported, never enforced)."""

    def __init__(self) -> None:
        self.second = -1
        self.used: dict[tuple[str, str], int] = {}

    def headers(self, caller: str, path: str, now_ms: int) -> dict[str, str]:
        second = now_ms // 1000
        if second != self.second:
            self.second, self.used = second, {}
        used = self.used[caller, path] = self.used.get((caller, path), 0) + 1
        return {"X-Bapi-Limit": str(LIMIT_PER_SECOND),
                "X-Bapi-Limit-Status": str(max(0, LIMIT_PER_SECOND - used)),
                "X-Bapi-Limit-Reset-Timestamp": str((second + 1) * 1000)}  # fmt: skip


# --- the private websocket ---------------------------------------------------------------------


class _Connection:
    """One `/v5/private` connection: its account once authenticated, its topics."""

    def __init__(self, venue: WireVenue, outbox: asyncio.Queue[dict[str, Any]]) -> None:
        self.venue = venue
        self.outbox = outbox
        self.conn_id = secrets.token_hex(8)
        self.topics: set[str] = set()
        self.sub: Subscriber | None = None

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        """The reply to one op: `auth`, `subscribe`, `unsubscribe`, `ping`."""
        op, req_id = message.get("op"), message.get("req_id")
        reply: dict[str, Any] = {"success": True, "ret_msg": "", "op": op,
                                 "conn_id": self.conn_id}  # fmt: skip
        if req_id is not None:
            reply["req_id"] = req_id
        if op == "ping":
            return {**reply, "op": "pong", "args": [str(self.venue.clock())]}
        try:
            if op == "auth":
                self._auth(message.get("args") or [])
            elif op in ("subscribe", "unsubscribe"):
                self._topics(op, message.get("args") or [])
            else:
                raise BybitError(10001, f"Invalid op {op!r}")
        except BybitError as exc:
            return {**reply, "success": False, "ret_msg": exc.msg}
        return reply

    def _auth(self, args: list[Any]) -> None:
        if self.sub is not None:
            raise BybitError(10001, "Repeat auth")
        key = verify_ws_auth(args, self.venue.accounts.secret_of, self.venue.clock())
        account_id = self.venue.accounts.by_key[key].account_id
        self.sub = self.venue.streams.subscribe(account_id, self._frame, self.outbox)

    def _topics(self, op: str, args: list[Any]) -> None:
        if self.sub is None:
            raise BybitError(10003, "Request not authorized")
        names = {str(a) for a in args}
        unknown = names - {"order", "execution", "position", "wallet", "order.linear",
                           "execution.linear", "position.linear"}  # fmt: skip
        if unknown:
            raise BybitError(10001, f"Invalid topic: {sorted(unknown)}")
        if op == "subscribe":
            self.topics |= names
        else:
            self.topics -= names

    def _frame(self, event: dict[str, Any]) -> dict[str, Any]:
        return event

    def wanted(self, message: dict[str, Any]) -> bool:
        """A topic message goes out only when its topic (or `<topic>.linear`) is subscribed."""
        name = message.get("topic")
        return name is None or name in self.topics or f"{name}.linear" in self.topics


async def private_stream(ws: WebSocket, venue: WireVenue) -> None:
    """Serve one `/v5/private` connection until the client goes, or until neither side has
    sent anything for its alive time."""
    alive = alive_seconds(ws.query_params.get("max_active_time"))
    await ws.accept()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
    conn = _Connection(venue, outbox)
    loop = asyncio.get_running_loop()
    last = [loop.time()]

    async def send() -> None:
        while (message := await outbox.get()) is not DROPPED:
            if conn.wanted(message):
                await ws.send_text(json.dumps(message))
                last[0] = loop.time()
        await ws.close(code=1008)

    sender = asyncio.create_task(send())
    try:
        while (left := alive - (loop.time() - last[0])) > 0:
            try:
                text = await asyncio.wait_for(ws.receive_text(), left)
            except TimeoutError:
                continue  # the stream may have sent meanwhile: check again
            last[0] = loop.time()
            await outbox.put(conn.answer(json.loads(text)))
    except (WebSocketDisconnect, json.JSONDecodeError, RuntimeError, TimeoutError,
            AttributeError):  # fmt: skip
        pass
    finally:
        sender.cancel()
        if conn.sub is not None:
            venue.streams.unsubscribe(conn.sub)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        with contextlib.suppress(Exception):
            await ws.close()


# --- the public websocket (tickers) ------------------------------------------------------------

TICKER_SECONDS = 1.0


def public_reply(message: dict[str, Any], topics: set[str], markets: set[str],
                 conn_id: str) -> dict[str, Any]:  # fmt: skip
    """Apply one op of a public connection to `topics`; Bybit's answer to it."""
    op, req_id = message.get("op"), message.get("req_id")
    reply: dict[str, Any] = {"success": True, "ret_msg": op, "conn_id": conn_id, "op": op}
    if req_id is not None:
        reply["req_id"] = req_id
    if op == "ping":
        return {**reply, "ret_msg": "pong"}
    names = {str(a) for a in message.get("args") or []}
    bad = sorted(n for n in names if n.partition(".")[0] != "tickers"
                 or n.partition(".")[2] not in markets)  # fmt: skip
    if op not in ("subscribe", "unsubscribe") or bad:
        return {**reply, "success": False,
                "ret_msg": f"error:handler not found,topic:{','.join(bad)}" if bad
                else f"Invalid op {op!r}"}  # fmt: skip
    if op == "subscribe":
        topics |= names
    else:
        topics -= names
    return reply


async def public_stream(ws: WebSocket, venue: WireVenue, handlers: BybitTrading,
                        category: str) -> None:  # fmt: skip
    """Serve one `/v5/public/<category>` connection: `tickers.<symbol>` snapshots, the first at
    once, then one a second per topic (each a full snapshot, which CCXT takes as well)."""
    await ws.accept()
    topics: set[str] = set()
    conn_id = secrets.token_hex(8)
    woken = asyncio.Event()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send() -> None:
        while True:
            await ws.send_text(json.dumps(await outbox.get()))

    tasks = [asyncio.create_task(_push(venue, handlers, category, topics, outbox, woken)),
             asyncio.create_task(send())]  # fmt: skip
    try:
        while True:
            message = json.loads(await asyncio.wait_for(ws.receive_text(), IDLE_SECONDS))
            await outbox.put(public_reply(message, topics, set(handlers.listed[category]),
                                          conn_id))  # fmt: skip
            woken.set()
    except (WebSocketDisconnect, json.JSONDecodeError, RuntimeError, TimeoutError,
            AttributeError):  # fmt: skip
        pass
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _push(venue: WireVenue, handlers: BybitTrading, category: str, topics: set[str],
                outbox: asyncio.Queue[dict[str, Any]], woken: asyncio.Event) -> None:  # fmt: skip
    """Every second (or at once when woken by a subscription), each topic's ticker snapshot."""
    while True:
        for name in sorted(topics):
            now = venue.clock()
            answer = await handlers.tickers(Call({"category": category,
                                                  "symbol": name.partition(".")[2]}, now))  # fmt: skip
            await outbox.put({"topic": name, "type": "snapshot", "data": answer["list"][0],
                              "cs": now, "ts": now})  # fmt: skip
        woken.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), TICKER_SECONDS)


def ws_routes(venue: WireVenue) -> list[WebSocketRoute]:
    """`/v5/private` and `/v5/public/{linear,spot}` (the Bybit dialect's only)."""

    async def private(ws: WebSocket) -> None:
        await private_stream(ws, venue)

    async def public(ws: WebSocket) -> None:
        category = ws.path_params["category"]
        if isinstance(venue.handlers, BybitTrading) and category in v5.CATEGORIES:
            await public_stream(ws, venue, venue.handlers, category)
        else:
            await ws.close(code=1008)

    return [WebSocketRoute("/v5/private", private),
            WebSocketRoute("/v5/public/{category}", public)]
