"""Market-data fan-out of `WS /ws` (`subscribe_market` / `unsubscribe_market`).

One upstream per (venue, symbol, channel[, timeframe]) per API process, shared by every client
subscription on it (reference-counted: stopped when the last subscriber unsubscribes or
disconnects). Paper accounts share one simulated market: one paper watcher task polls the
`seq` of the watched symbols in `paper_prices` (every `paper_poll_seconds`, woken at once by
`POST /paper/prices` in this process) and pushes the channels of a symbol whose price moved.
CCXT accounts: ccxt.pro `watch_*` where the exchange has it, else one poller
(`market_sources.run_ccxt_upstream`). Data is serialised once per distinct (account, depth,
limit) of a publish; numbers are exact decimal strings as in `/ccxt` results.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from apps.api.deps import MAX_ID
from apps.api.ws.connection import Connection
from apps.api.ws.envelopes import dumps, push
from apps.api.ws.market_sources import (
    STORE_FEED,
    FeedMode,
    UpstreamKey,
    check_timeframe,
    feed_mode,
    read,
    run_ccxt_upstream,
)
from apps.api.ws.preframed import text_frame
from apps.oms.config import Settings
from apps.oms.domain.access import Action as Permission
from apps.oms.errors import NotFound, OmsError
from apps.oms.exchange.ccxt.error_mapping import to_oms_error
from apps.oms.exchange.ccxt.instances import ExchangeRegistry
from apps.oms.exchange.ccxt.wire import jsonable
from apps.oms.exchange.profiles import PAPER_ID, profile
from apps.oms.security.principal import Principal
from apps.oms.service.request_model import RequestModel
from apps.oms.store.ccxt_records import venue_account
from apps.oms.store.store import Store
from apps.paper.domain.matching import Venue
from apps.paper.exchange.listing import listed
from apps.paper.store.venue_store import PaperStore

if TYPE_CHECKING:
    from apps.paper.exchange.market_data import PaperMarketData

log = logging.getLogger("apps.api.ws.market")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


Channel = Literal["ticker", "orderbook", "trades", "ohlcv"]
SubKey = tuple[int, str, str]  # (account_id, symbol, channel) of one connection


class SubscribeMarketPayload(RequestModel):
    account_id: int = Field(gt=0, le=MAX_ID)
    symbol: str = Field(min_length=1, max_length=64)
    channels: list[Channel] = Field(default=["ticker"], min_length=1, max_length=4)
    timeframe: str = Field(default="1m", pattern=r"^[0-9]{1,3}[smhdwMy]$")
    depth: int | None = Field(default=None, ge=1, le=1000)
    limit: int | None = Field(default=None, ge=1, le=1000)


class UnsubscribeMarketPayload(RequestModel):
    account_id: int | None = None
    symbol: str | None = None
    channels: list[Channel] | None = None


@dataclass(eq=False, slots=True)
class MarketSub:
    conn: Connection
    account_id: int
    key: UpstreamKey
    depth: int | None
    limit: int | None


@dataclass(eq=False)
class Upstream:
    key: UpstreamKey
    exchange: Any
    mode: FeedMode
    subscribers: set[MarketSub] = field(default_factory=set)
    last: Any = None  # JSON-ready data of the last publish
    ts_ms: int = 0
    seen_seq: int = -1  # paper: the price seq last published
    task: asyncio.Task[None] | None = None


def shaped(channel: str, data: Any, depth: int | None, limit: int | None) -> Any:
    """Per-client view of one publish: order book cut to `depth`, trades/candles to `limit`."""
    if channel == "orderbook" and depth and isinstance(data, dict):
        return {**data, "bids": (data.get("bids") or [])[:depth],
                "asks": (data.get("asks") or [])[:depth]}  # fmt: skip
    if channel in ("trades", "ohlcv") and limit and isinstance(data, list):
        return data[-limit:]
    return data


def _most(subs: set[MarketSub]) -> int | None:
    """The most candles or trades any subscriber wants (None: one wants the default)."""
    limits = [s.limit for s in subs]
    return max((n for n in limits if n is not None), default=None) if None not in limits else None


class MarketHub:
    """The upstream registry and fan-out of this API process."""

    def __init__(self, store: Store, registry: ExchangeRegistry, settings: Settings) -> None:
        self.registry = registry
        self.timeout = settings.worker.venue_timeout_seconds
        self.upstreams: dict[UpstreamKey, Upstream] = {}
        self.subs: dict[Connection, dict[SubKey, MarketSub]] = {}
        self.poll_seconds = 1.0  # CCXT pollers
        self.paper_poll_seconds = 0.1
        self._paper: PaperMarketData | None = None  # built on first use: it imports CCXT (P6)
        self.history_seed = settings.paper.seed
        self.store = store
        self.wake = asyncio.Event()  # set by POST /paper/prices
        self._paper_task: asyncio.Task[None] | None = None
        self._closing = False

    # --- client side ------------------------------------------------------------------------

    @property
    def paper(self) -> PaperMarketData:
        if self._paper is None:
            from apps.paper.exchange.market_data import PaperMarketData

            self._paper = PaperMarketData(PaperStore(self.store.engine), Venue(markets=listed()),
                                          now_ms, self.history_seed)
        return self._paper

    async def subscribe(self, conn: Connection, p: SubscribeMarketPayload) -> dict[str, Any]:
        """Validate everything first (awaits), then attach synchronously (no race on creation)."""
        venue, exchange = await self._venue(p.account_id)
        channels = list(dict.fromkeys(p.channels))
        modes = {c: await self._check(venue, exchange, p.symbol, c, p.timeframe) for c in channels}
        for channel in channels:
            key = UpstreamKey(venue, p.symbol, channel, p.timeframe if channel == "ohlcv" else None)
            self._detach(conn, (p.account_id, p.symbol, channel))
            up = self.upstreams.get(key) or self._start(key, exchange, modes[channel])
            sub = MarketSub(conn, p.account_id, key, p.depth, p.limit)
            up.subscribers.add(sub)
            self.subs.setdefault(conn, {})[(p.account_id, p.symbol, channel)] = sub
            if up.last is not None:
                self._send(up, [sub])
        return {"account_id": p.account_id, "symbol": p.symbol, "channels": channels,
                "timeframe": p.timeframe, "depth": p.depth, "limit": p.limit,
                "upstreams": [{"channel": c, "feed": modes[c]} for c in channels]}  # fmt: skip

    def unsubscribe(self, conn: Connection, p: UnsubscribeMarketPayload) -> list[dict[str, Any]]:
        removed = []
        for account_id, symbol, channel in list(self.subs.get(conn, {})):
            if (p.account_id not in (None, account_id) or p.symbol not in (None, symbol)
                    or (p.channels is not None and channel not in p.channels)):  # fmt: skip
                continue
            self._detach(conn, (account_id, symbol, channel))
            removed.append({"account_id": account_id, "symbol": symbol, "channel": channel})
        return removed

    def revoke(self, conn: Connection, principal: Principal) -> list[int]:
        """End the connection's subscriptions on accounts `principal` may no longer read;
        returns those account ids (the key's grants were re-checked)."""
        dropped: set[int] = set()
        for sub_key in list(self.subs.get(conn, {})):
            try:
                principal.require(Permission.READ, sub_key[0])
            except OmsError:
                self._detach(conn, sub_key)
                dropped.add(sub_key[0])
        return sorted(dropped)

    def release(self, conn: Connection) -> None:
        """The connection is gone: drop its subscriptions (and upstreams nobody else uses)."""
        for sub_key in list(self.subs.get(conn, {})):
            self._detach(conn, sub_key)
        self.subs.pop(conn, None)

    def subscriber_count(self, key: UpstreamKey) -> int:
        up = self.upstreams.get(key)
        return 0 if up is None else len(up.subscribers)

    async def _venue(self, account_id: int) -> tuple[str, Any]:
        async with self.store.read() as conn:
            account = await venue_account(conn, account_id)
        if account is None:
            raise NotFound(f"account {account_id} not found", code="account_not_found")
        exchange_id = str(account["exchange_id"])
        if profile(exchange_id).prices_in_store:  # the paper market's own feed
            return PAPER_ID, self.paper
        venue = f"{exchange_id}@sandbox" if account.get("is_testnet") else exchange_id
        return venue, await self.registry.get(account_id)

    async def _check(self, venue: str, exchange: Any, symbol: str, channel: str,
                     timeframe: str) -> FeedMode:
        """Symbol, timeframe and capability; CCXT errors as the API error model."""
        try:
            if venue == PAPER_ID:
                from apps.paper.exchange.errors import ccxt_errors  # lazy: imports CCXT

                with ccxt_errors():
                    self.paper.venue.markets.get(symbol)
                if channel == "ohlcv":
                    await self.paper.fetch_ohlcv(symbol, timeframe)
                return STORE_FEED
            await asyncio.wait_for(exchange.load_markets(), self.timeout)
            exchange.market(symbol)
        except Exception as exc:
            raise to_oms_error(exc) from exc
        if channel == "ohlcv":
            check_timeframe(exchange, timeframe)
        return feed_mode(exchange, channel)

    def _detach(self, conn: Connection, sub_key: SubKey) -> None:
        sub = self.subs.get(conn, {}).pop(sub_key, None)
        if sub is None:
            return
        up = self.upstreams.get(sub.key)
        if up is not None:
            up.subscribers.discard(sub)
            if not up.subscribers:
                self._stop(up)

    # --- upstream side ----------------------------------------------------------------------

    def _start(self, key: UpstreamKey, exchange: Any, mode: FeedMode) -> Upstream:
        up = Upstream(key, exchange, mode)
        self.upstreams[key] = up
        if mode == STORE_FEED:
            if self._paper_task is None or self._paper_task.done():
                self._paper_task = asyncio.create_task(self._paper_loop(), name="paper-market")
            self.wake.set()
        else:
            up.task = asyncio.create_task(run_ccxt_upstream(
                exchange, key, mode, lambda data: self.publish(up, data),
                lambda: self.poll_seconds, self.timeout), name=f"market {key}")  # fmt: skip
        return up

    def _stop(self, up: Upstream) -> None:
        self.upstreams.pop(up.key, None)
        if up.task is not None:
            up.task.cancel()
        if up.mode == STORE_FEED:
            self.wake.set()  # the paper watcher ends by itself when no paper upstream is left

    def _paper_watched(self) -> bool:
        return not self._closing and any(u.mode == STORE_FEED for u in self.upstreams.values())

    def publish(self, up: Upstream, data: Any) -> None:
        if self.upstreams.get(up.key) is not up:
            return  # stopped while its read was in flight
        up.last, up.ts_ms = jsonable(data), now_ms()
        self._send(up, list(up.subscribers))

    def _send(self, up: Upstream, subs: list[MarketSub]) -> None:
        views: dict[tuple[int, int | None, int | None], tuple[str, bytes]] = {}
        channel, symbol = up.key.channel, up.key.symbol
        for sub in subs:
            view = (sub.account_id, sub.depth, sub.limit)
            message = views.get(view)
            if message is None:
                body = {"account_id": sub.account_id, "symbol": symbol, "channel": channel,
                        "data": shaped(channel, up.last, sub.depth, sub.limit), "ts_ms": up.ts_ms}
                text = dumps(push("ccxt", f"{channel}_updated", None, sub.account_id, body))
                message = views[view] = (text, text_frame(text))  # built once per view
            sub.conn.push_text(*message)

    async def _paper_loop(self) -> None:
        """Push the paper channels of every symbol whose shared price `seq` moved. Ends on its
        own between rounds (never cancelled inside a store read, which could leak the pooled
        connection) once no paper upstream is left."""
        while self._paper_watched():
            try:
                await self._paper_round()
            except Exception:
                log.exception("paper market round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.paper_poll_seconds)
            self.wake.clear()

    async def _paper_round(self) -> None:
        ups = [u for u in self.upstreams.values() if u.mode == STORE_FEED]
        quotes = await self.paper.store.get_quotes(sorted({u.key.symbol for u in ups}))
        for up in ups:
            quote = quotes.get(up.key.symbol) or await self.paper.quote(up.key.symbol)
            if quote.seq != up.seen_seq:
                data = await read(self.paper, up.key, limit=_most(up.subscribers))
                up.seen_seq = quote.seq
                self.publish(up, data)

    async def close(self) -> None:
        self._closing = True
        self.wake.set()
        if self._paper_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._paper_task, self.timeout)
        tasks = [u.task for u in self.upstreams.values() if u.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.upstreams.clear()
        self.subs.clear()
