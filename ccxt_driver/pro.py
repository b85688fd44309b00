"""`OmsCcxtProExchange`: the asyncio exchange (`ccxt.async_support` base) with ccxt.pro-style
`watch_*`: orders, trades and positions over one persistent `WS /ws` per object (see
`ccxt_driver.stream`), market data and balance by polling the gateway."""

# mypy: disallow-subclassing-any=False
from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import ccxt
import ccxt.async_support as ccxt_async
from ccxt.async_support.base.ws.cache import ArrayCacheByTimestamp

from ccxt_driver import plans
from ccxt_driver.base import VENUE_FUNCTIONS, OmsBase
from ccxt_driver.plans import Plan
from ccxt_driver.stream import OmsStream

T = TypeVar("T")
S = dict[str, Any]
L = list[dict[str, Any]]


WATCH_HAS = dict.fromkeys((
    "ws", "watchOrders", "watchMyTrades", "watchPositions", "watchBalance", "watchTicker",
    "watchOrderBook", "watchTrades", "watchOHLCV"), True)  # fmt: skip


class OmsCcxtProExchange(OmsBase, ccxt_async.Exchange):
    """Asyncio twin of `OmsCcxtExchange`, plus `watch_*`; `await close()` releases the socket."""

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        api_key: str | None = None,
        account_id: int | None = None,
        strategy_id: int | None = None,
        base_url: str | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        cfg = self._oms_setup(config, api_key, account_id, strategy_id, base_url, timeout_seconds)
        super().__init__(cfg)
        self.stream = OmsStream(self)
        self._last_seen: dict[str, Any] = {}

    async def _run(self, plan: Plan[T]) -> T:
        try:
            call = next(plan)
            while True:
                url, headers, body = self._request_args(call)
                try:
                    answer = await self.fetch(url, call.method, headers, body)
                except ccxt.BaseError as exc:
                    call = plan.throw(self._remap(exc, call))
                    continue
                call = plan.send(answer)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.stream.close()
        await super().close()

    async def ccxt_call(self, func: str, *args: Any, **kwargs: Any) -> Any:
        """Any CCXT function the gateway allows, as the raw gateway result (exact strings)."""
        return await self._run(plans.gateway(self, func, *args, **kwargs))

    async def load_venue_has(self) -> S:
        """Merge the venue's capabilities (`GET /ccxt/{account_id}/has`) into `has` now
        (`load_markets` does it once by itself); returns `has`."""
        return await self._run(plans.load_venue_has(self))

    def _oms_describe(self) -> dict[str, Any]:
        described = super()._oms_describe()
        described["has"] = {**described["has"], **WATCH_HAS}
        return described

    # market data (/ccxt)
    async def fetch_markets(self, params: S | None = None) -> L:
        return await self._run(plans.fetch_markets(self, params))

    async def fetch_ticker(self, symbol: str, params: S | None = None) -> S:
        return await self._run(plans.fetch_ticker(self, symbol, params))

    async def fetch_tickers(self, symbols: list[str] | None = None, params: S | None = None
                            ) -> S:
        return await self._run(plans.fetch_tickers(self, symbols, params))

    async def fetch_order_book(self, symbol: str, limit: int | None = None,
                               params: S | None = None) -> S:
        return await self._run(plans.fetch_order_book(self, symbol, limit, params))

    async def fetch_trades(self, symbol: str, since: int | None = None,
                           limit: int | None = None, params: S | None = None) -> L:
        return await self._run(plans.fetch_trades(self, symbol, since, limit, params))

    async def fetch_ohlcv(self, symbol: str, timeframe: str = "1m", since: int | None = None,
                          limit: int | None = None, params: S | None = None) -> list[list[Any]]:
        return await self._run(plans.fetch_ohlcv(self, symbol, timeframe, since, limit, params))

    async def fetch_balance(self, params: S | None = None) -> S:
        return await self._run(plans.fetch_balance(self, params))

    async def fetch_trading_fee(self, symbol: str, params: S | None = None) -> S:
        return await self._run(plans.fetch_trading_fee(self, symbol, params))

    async def fetch_trading_fees(self, params: S | None = None) -> S:
        return await self._run(plans.fetch_trading_fees(self, params))

    async def fetch_leverage_tiers(self, symbols: list[str] | None = None,
                                   params: S | None = None) -> S:
        return await self._run(plans.fetch_leverage_tiers(self, symbols, params))

    async def fetch_market_leverage_tiers(self, symbol: str, params: S | None = None) -> L:
        return await self._run(plans.fetch_market_leverage_tiers(self, symbol, params))

    async def fetch_funding_history(self, symbol: str | None = None, since: int | None = None,
                                    limit: int | None = None, params: S | None = None) -> L:
        return await self._run(plans.fetch_funding_history(self, symbol, since, limit, params))

    # orders (/oms)
    async def create_order(self, symbol: str, type: str, side: str, amount: Any,
                           price: Any = None, params: S | None = None) -> S:
        return await self._run(plans.create_order(self, symbol, type, side, amount, price,
                                                  params))

    async def create_orders(self, orders: list[S], params: S | None = None) -> list[S]:
        return await self._run(plans.create_orders(self, orders, params))

    async def edit_order(self, id: Any, symbol: str | None = None, type: str | None = None,
                         side: str | None = None, amount: Any = None, price: Any = None,
                         params: S | None = None) -> S:
        return await self._run(plans.edit_order(self, id, type, side, amount, price, params))

    async def cancel_order(self, id: Any, symbol: str | None = None, params: S | None = None
                           ) -> S:
        return await self._run(plans.cancel_order(self, id, params))

    async def cancel_all_orders(self, symbol: str | None = None, params: S | None = None) -> L:
        return await self._run(plans.cancel_all_orders(self, symbol, params))

    async def fetch_order(self, id: Any, symbol: str | None = None, params: S | None = None
                          ) -> S:
        return await self._run(plans.fetch_order(self, id, symbol, params))

    async def fetch_orders(self, symbol: str | None = None, since: int | None = None,
                           limit: int | None = None, params: S | None = None) -> L:
        return await self._run(plans.fetch_history(self, symbol, since, limit, params, None))

    async def fetch_open_orders(self, symbol: str | None = None, since: int | None = None,
                                limit: int | None = None, params: S | None = None) -> L:
        return await self._run(plans.fetch_open_orders(self, symbol, since, limit, params))

    async def fetch_closed_orders(self, symbol: str | None = None, since: int | None = None,
                                  limit: int | None = None, params: S | None = None) -> L:
        return await self._run(plans.fetch_history(self, symbol, since, limit, params,
                                                   "closed"))

    async def fetch_canceled_orders(self, symbol: str | None = None, since: int | None = None,
                                    limit: int | None = None, params: S | None = None) -> L:
        return await self._run(plans.fetch_history(self, symbol, since, limit, params,
                                                   "canceled"))

    async def fetch_my_trades(self, symbol: str | None = None, since: int | None = None,
                              limit: int | None = None, params: S | None = None) -> L:
        return await self._run(plans.fetch_my_trades(self, symbol, since, limit, params))

    # positions and the OMS extras
    async def fetch_positions(self, symbols: list[str] | None = None, params: S | None = None
                              ) -> L:
        return await self._run(plans.fetch_positions(self, symbols, params))

    async def fetch_position(self, symbol: Any, params: S | None = None) -> S:
        return await self._run(plans.fetch_position(self, symbol, params))

    async def close_position(self, symbol: Any, side: str | None = None,
                             params: S | None = None) -> S:
        return await self._run(plans.close_position(self, symbol, side, params))

    async def close_by(self, position_id_a: Any, position_id_b: Any, qty: Any = None,
                       params: S | None = None) -> L:
        return await self._run(plans.close_by(self, position_id_a, position_id_b, qty, params))

    async def merge_positions(self, source: Any, target: Any, params: S | None = None) -> S:
        return await self._run(plans.merge_positions(self, source, target, params))

    async def set_position_targets(self, position_id: Any, stop_loss: Any = ...,
                                   stop_gain: Any = ..., params: S | None = None) -> S:
        return await self._run(plans.set_position_targets(self, position_id, stop_loss,
                                                          stop_gain, params))

    # streaming: the OMS stream (one websocket per object)
    async def watch_orders(self, symbol: str | None = None, since: int | None = None,
                           limit: int | None = None, params: S | None = None) -> L:
        return await self.stream.updates("orders", symbol, since, limit)

    async def watch_my_trades(self, symbol: str | None = None, since: int | None = None,
                              limit: int | None = None, params: S | None = None) -> L:
        return await self.stream.updates("trades", symbol, since, limit)

    async def watch_positions(self, symbols: list[str] | None = None, since: int | None = None,
                              limit: int | None = None, params: S | None = None) -> L:
        return await self.stream.updates("positions", symbols, since, limit)

    # streaming: market data and balance, polled (the gateway's `ccxt/subscribe_market`
    # websocket pushes are not used by the driver yet: ccxt_driver/README.md → Known gaps)
    async def _changed(self, key: str, fetch: Any, fingerprint: Any) -> Any:
        while True:
            value = await fetch()
            mark = fingerprint(value)
            if self._last_seen.get(key) != mark:
                self._last_seen[key] = mark
                return value
            await asyncio.sleep(float(self.options.get("pollInterval", 1.0)))

    async def watch_ticker(self, symbol: str, params: S | None = None) -> S:
        return await self._changed(  # type: ignore[no-any-return]
            f"ticker:{symbol}", lambda: self.fetch_ticker(symbol, params),
            lambda t: (t["timestamp"], t["last"], t["bid"], t["ask"]))

    async def watch_order_book(self, symbol: str, limit: int | None = None,
                               params: S | None = None) -> S:
        return await self._changed(  # type: ignore[no-any-return]
            f"book:{symbol}", lambda: self.fetch_order_book(symbol, limit, params),
            lambda b: (repr(b["bids"]), repr(b["asks"])))

    async def watch_trades(self, symbol: str, since: int | None = None, limit: int | None = None,
                           params: S | None = None) -> L:
        key = f"trades:{symbol}"
        seen: set[str] = self._last_seen.setdefault(key, set())
        while True:
            trades = await self.fetch_trades(symbol, since, limit, params)
            new = [t for t in trades if t["id"] not in seen]
            seen.update(t["id"] for t in new)
            if new:
                return new
            await asyncio.sleep(float(self.options.get("pollInterval", 1.0)))

    async def watch_ohlcv(self, symbol: str, timeframe: str = "1m", since: int | None = None,
                          limit: int | None = None, params: S | None = None) -> list[list[Any]]:
        """The candles when the last one changed, also kept where CCXT Pro keeps them
        (`self.ohlcvs[symbol][timeframe]`, an `ArrayCacheByTimestamp` of `options.OHLCVLimit`):
        programs that read that cache, such as freqtrade, see them. The first poll of a cache
        reads `since`/`limit` as asked, later ones the last two candles (the one that closed
        and the current one)."""
        by_timeframe = self.ohlcvs.setdefault(symbol, {})
        stored = by_timeframe.get(timeframe)
        window = limit
        if stored is None:
            stored = ArrayCacheByTimestamp(int(self.options.get("OHLCVLimit", 1000)))
            by_timeframe[timeframe] = stored
        elif since is None:
            window = 2
        rows: list[list[Any]] = await self._changed(
            f"ohlcv:{symbol}:{timeframe}",
            lambda: self.fetch_ohlcv(symbol, timeframe, since, window, params),
            lambda rows: repr(rows[-1:]))
        for row in rows:
            stored.append(list(row))
        return rows

    async def watch_balance(self, params: S | None = None) -> S:
        return await self._changed(  # type: ignore[no-any-return]
            "balance", lambda: self.fetch_balance(params), lambda b: repr(b["total"]))


def _forwarder(name: str) -> Any:
    async def forward(self: OmsCcxtProExchange, *args: Any, **kwargs: Any) -> Any:
        return await self.ccxt_call(name, *args, **kwargs)

    forward.__name__ = name
    forward.__doc__ = f"`{name}` on the venue through `/ccxt` (raw gateway result)."
    return forward


for _name in VENUE_FUNCTIONS:  # venue-only functions: the merged `has` reports them
    setattr(OmsCcxtProExchange, _name, _forwarder(_name))
