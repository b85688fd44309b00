"""The OMS event stream behind `watch_orders` / `watch_my_trades` / `watch_positions`.

One persistent `WS /ws` connection per exchange object, subscribed to the object's account
(namespace `position`). Every event has a dense `seq`; the stream remembers the last one it took
and, after any disconnect, re-subscribes with `since_seq` = that seq, so the server replays what
was missed; a `seq` at or below the last one is dropped. Each update is therefore delivered
exactly once. Only when the socket cannot be opened at all (`wsConnectAttempts` failures in a
row before the first success) does the stream fall back to polling the OMS reads.

ccxt.pro semantics: each `watch_*` call returns the updates that arrived since the previous call
of that kind (waiting for at least one), oldest first, each a full CCXT structure.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque
from typing import Any

import aiohttp
import ccxt

from ccxt_driver import structures
from ccxt_driver.errors import exception_for

log = logging.getLogger("ccxt_driver.stream")
Structure = dict[str, Any]
KINDS = ("orders", "trades", "positions")
INVALID_KEY = 1008


def kind_of(event: str, payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    if event.startswith("order_") and "order_type" in payload:
        return "orders"
    if event == "deal_created":
        return "trades"
    if event.startswith("position_") and "avg_price" in payload:
        return "positions"
    return None


class OmsStream:
    def __init__(self, ex: Any) -> None:
        self.ex = ex
        self.last_seq: int | None = None
        self.pending: dict[str, deque[Structure]] = {k: deque() for k in KINDS}
        self.mode: str | None = None  # "ws" or "poll" once running
        self.connects = 0  # successful websocket (re)connections
        self.delivered: list[int] = []  # seqs taken, for diagnostics and tests (bounded)
        self.error: BaseException | None = None
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._poll_seen: dict[str, dict[Any, Any]] = {k: {} for k in KINDS}

    # --- consumer side --------------------------------------------------------------------

    async def updates(self, kind: str, symbol: Any, since: int | None, limit: int | None
                      ) -> list[Structure]:
        await self.start()
        symbols = None if symbol is None else {symbol} if isinstance(symbol, str) else set(symbol)
        while True:
            if self.error is not None:
                raise self.error
            taken = self._take(kind, symbols)
            if since is not None:
                taken = [u for u in taken if (u.get("timestamp") or 0) >= since]
            if taken:
                return taken[-limit:] if limit else taken
            wake = self._wake
            await wake.wait()

    def _take(self, kind: str, symbols: set[str] | None) -> list[Structure]:
        queue = self.pending[kind]
        if symbols is None:
            taken = list(queue)
            queue.clear()
            return taken
        taken = [u for u in queue if u.get("symbol") in symbols]
        kept = [u for u in queue if u.get("symbol") not in symbols]
        queue.clear()
        queue.extend(kept)
        return taken

    def _notify(self) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    def _push(self, kind: str, update: Structure) -> None:
        queue = self.pending[kind]
        queue.append(update)
        while len(queue) > int(self.ex.options.get("watchCacheLimit", 1000)):
            queue.popleft()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="oms-stream")
        await self._ready.wait()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        self._ws = self._session = None
        self._ready.clear()

    # --- producer side: the websocket -----------------------------------------------------

    def ws_url(self) -> str:
        base: str = self.ex.base_url
        return ("wss://" + base[8:] if base.startswith("https://")
                else "ws://" + base.removeprefix("http://")) + "/ws"

    async def _run(self) -> None:
        failures = 0
        try:
            while True:
                try:
                    await self._connect_and_read()
                    failures = 0
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    failures += 1
                    log.info("oms stream disconnected: %s", exc)
                    if self.connects == 0 and failures >= int(
                        self.ex.options.get("wsConnectAttempts", 3)
                    ):
                        await self._poll_forever()
                        return
                await asyncio.sleep(min(0.1 * 2 ** min(failures, 5), 2.0))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # surfaced to the watchers
            self.error = exc
            self._ready.set()
            self._notify()

    async def _connect_and_read(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        timeout = self.ex.timeout / 1000
        async with self._session.ws_connect(
            self.ws_url(), headers={"x-api-key": str(self.ex.apiKey or "")},
            heartbeat=20, timeout=aiohttp.ClientWSTimeout(ws_close=timeout),
        ) as ws:
            self._ws = ws
            await self._subscribe(ws)
            self.mode = "ws"
            self.connects += 1
            self._ready.set()
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._on_message(json.loads(message.data))
                elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    break
            self._check_close(ws)
        raise aiohttp.ClientConnectionError(f"websocket closed ({ws.close_code})")

    def _check_close(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if ws.close_code == INVALID_KEY:
            raise exception_for(401, {"error": {"code": "invalid_api_key",
                                                "message": "websocket refused the API key"}},
                                prefix=self.ex.id)

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        payload: Structure = {"account_ids": [self.ex.account_id], "namespaces": ["position"],
                              "with_snapshot": False}
        if self.last_seq is not None:
            payload["since_seq"] = self.last_seq
        request_id = f"sub-{next(self._ids)}"
        await ws.send_str(json.dumps({"id": request_id, "action": "subscribe",
                                      "payload": payload}))
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            body = json.loads(message.data)
            if body.get("id") != request_id:
                continue  # the greeting
            if body.get("ok"):
                if self.last_seq is None:
                    self.last_seq = int(body["payload"]["seq"])
                return
            code = (body.get("payload") or {}).get("code")
            if code == "resync_required":
                log.warning("oms stream: events after seq %s are gone; resubscribing live",
                            self.last_seq)
                self.last_seq = None
                raise aiohttp.ClientConnectionError("resync required")
            raise exception_for(None, {"error": body.get("payload")}, prefix=self.ex.id)
        self._check_close(ws)
        raise aiohttp.ClientConnectionError("websocket closed while subscribing")

    def _on_message(self, body: Structure) -> None:
        if body.get("type") != "ws_event" or body.get("action") != "event":
            return
        if body.get("event") == "subscription_revoked":
            self._revoked(body.get("payload") or {})
            return
        seq = body.get("seq")
        if not isinstance(seq, int) or (self.last_seq is not None and seq <= self.last_seq):
            return  # duplicate from a replay overlapping what we already took
        self.last_seq = seq
        self._deliver(str(body.get("event")), body.get("payload"), seq)

    def _revoked(self, notice: Structure) -> None:
        """The key may no longer read this object's account: its subscription ended on the
        server, so every `watch_*` raises (`AccountNotEnabled`) instead of waiting forever."""
        if notice.get("account_id") == self.ex.account_id:
            self.error = exception_for(None, {"error": notice}, prefix=self.ex.id)
            self._notify()

    def _deliver(self, event: str, payload: Any, seq: int | None) -> None:
        kind = kind_of(event, payload)
        if kind is None:
            return
        if kind == "trades" and payload.get("exchange_trade_id") is None and not (
            self.ex.options.get("includeInternalDeals")
        ):
            return
        parse = {"orders": self._order, "trades": self._trade, "positions": self._position}
        self._push(kind, parse[kind](payload))
        if seq is not None:
            self.delivered.append(seq)
            del self.delivered[:-10_000]
        self._notify()

    def _order(self, row: Structure) -> Structure:
        return structures.order(self.ex, row)

    def _trade(self, row: Structure) -> Structure:
        return structures.trade(self.ex, row)

    def _position(self, row: Structure) -> Structure:
        hedged = (self.ex.oms_account or {}).get("position_mode") == "hedge" or None
        return structures.position(self.ex, row, None, hedged)

    async def drop_connection(self) -> None:
        """Close the socket from this side (tests); the stream reconnects and resumes."""
        if self._ws is not None:
            await self._ws.close()

    # --- fallback: polling the OMS reads ----------------------------------------------------

    async def _poll_forever(self) -> None:
        self.mode = "poll"
        log.warning("oms stream: websocket unavailable, polling the OMS reads")
        first = True
        while True:
            try:
                await self._poll_once(emit=not first)
                first = False
            except ccxt.NetworkError as exc:
                log.info("oms stream poll failed: %s", exc)
            self._ready.set()
            await asyncio.sleep(float(self.ex.options.get("pollInterval", 1.0)))

    async def _poll_once(self, *, emit: bool) -> None:
        ex = self.ex
        query = {"account_ids": ex.account_id, "page_size": 100}
        sources = (
            ("orders", "/oms/orders/history",
             lambda r: (r["status"], r["filled_qty"], r["updated_at"], r["price"], r["qty"])),
            ("trades", "/oms/deals", lambda r: r["id"]),
            ("positions", "/oms/positions/history",
             lambda r: (r["state"], r["qty"], r["updated_at"], r["stop_loss"], r["stop_gain"])),
        )
        from ccxt_driver.plans import Call

        for kind, path, fingerprint in sources:
            answer = await ex._run(_single(Call("GET", path, query)))
            seen = self._poll_seen[kind]
            for row in reversed(answer["items"]):
                mark = fingerprint(row)
                if seen.get(row["id"]) == mark:
                    continue
                seen[row["id"]] = mark
                if emit:
                    event = {"orders": "order_", "trades": "deal_created",
                             "positions": "position_"}[kind]
                    self._deliver(event, row, None)


def _single(call: Any) -> Any:
    answer = yield call
    return answer
