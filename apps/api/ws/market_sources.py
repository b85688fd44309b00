"""Where market data comes from, per channel: the CCXT method names (`fetch_*` / `watch_*`),
how an upstream is fed (`paper`, `watch`, `poll`), and the loop of one CCXT upstream (ccxt.pro
`watch_*` where the exchange has it, else one poller on an interval; errors back off)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from apps.oms.errors import OmsError, ValidationFailed

log = logging.getLogger("apps.api.ws.market")
CHANNELS = ("ticker", "orderbook", "trades", "ohlcv")
FETCH = {"ticker": "fetch_ticker", "orderbook": "fetch_order_book", "trades": "fetch_trades",
         "ohlcv": "fetch_ohlcv"}  # fmt: skip
WATCH = {"ticker": "watch_ticker", "orderbook": "watch_order_book", "trades": "watch_trades",
         "ohlcv": "watch_ohlcv"}  # fmt: skip
HAS_FETCH = {"ticker": "fetchTicker", "orderbook": "fetchOrderBook", "trades": "fetchTrades",
             "ohlcv": "fetchOHLCV"}  # fmt: skip
HAS_WATCH = {"ticker": "watchTicker", "orderbook": "watchOrderBook", "trades": "watchTrades",
             "ohlcv": "watchOHLCV"}  # fmt: skip
# Where a channel's data comes from: the prices the store holds (the paper market, published
# by one watcher when its price `seq` moves), a ccxt.pro stream, or polling the venue.
FeedMode = Literal["paper", "watch", "poll"]
STORE_FEED: FeedMode = "paper"
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class UpstreamKey:
    """One upstream subscription: venue (`paper`, `ccxt.binance`, `ccxt.binance@sandbox`, ...),
    symbol, channel, and the timeframe for `ohlcv`."""

    venue: str
    symbol: str
    channel: str
    timeframe: str | None = None


def feed_mode(exchange: Any, channel: str) -> FeedMode:
    """`watch` when the exchange instance streams the channel (ccxt.pro), else `poll`; 422
    `not_supported` when it can do neither."""
    has: dict[str, Any] = getattr(exchange, "has", None) or {}
    if has.get(HAS_WATCH[channel]) and callable(getattr(exchange, WATCH[channel], None)):
        return "watch"
    if has.get(HAS_FETCH[channel]) and callable(getattr(exchange, FETCH[channel], None)):
        return "poll"
    raise OmsError(f"{getattr(exchange, 'id', 'exchange')} has no {channel} data",
                   code="not_supported", status=422, details={"channel": channel})


def check_timeframe(exchange: Any, timeframe: str) -> None:
    frames = getattr(exchange, "timeframes", None)
    if isinstance(frames, dict) and frames and timeframe not in frames:
        raise ValidationFailed(f"timeframe {timeframe} not offered by {exchange.id}",
                               details={"timeframes": sorted(frames)})


async def read(
    exchange: Any, key: UpstreamKey, *, watch: bool = False, limit: int | None = None
) -> Any:
    """One read of the channel (a whole structure; trimming per client happens at fan-out);
    `limit`: the most candles any subscriber wants (None: the venue's default)."""
    method = getattr(exchange, (WATCH if watch else FETCH)[key.channel])
    if key.channel == "ohlcv":
        return await method(key.symbol, key.timeframe, None, limit)
    return await method(key.symbol)


async def run_ccxt_upstream(
    exchange: Any,
    key: UpstreamKey,
    mode: FeedMode,
    publish: Callable[[Any], None],
    poll_seconds: Callable[[], float],
    call_timeout: float,
) -> None:
    """Feed one CCXT upstream until cancelled: `watch` awaits each update, `poll` fetches every
    `poll_seconds()` and publishes only changes. Failures are logged and retried with back-off."""
    backoff = poll_seconds()
    last: Any = None
    while True:
        try:
            if mode == "watch":
                data = await read(exchange, key, watch=True)
            else:
                data = await asyncio.wait_for(read(exchange, key), call_timeout)
        except Exception as exc:
            log.warning("market upstream %s failed: %s: %s", key, type(exc).__name__, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            continue
        backoff = poll_seconds()
        if mode == "watch" or data != last:
            publish(data)
            last = data
        if mode == "poll":
            await asyncio.sleep(poll_seconds())
