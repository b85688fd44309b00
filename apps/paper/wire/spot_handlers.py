"""Binance spot endpoints over the paper engine: each parses with `binance_spot`, makes one call
of `PaperVenue` (or the shared market data), answers with `binance_spot`/`binance_public`, and
hands the user-data events of what changed to the stream hub."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from apps.oms.domain.markets import Market
from apps.paper.exchange.market_data import PaperMarketData
from apps.paper.exchange.venue import PaperVenue
from apps.paper.wire import binance_public as public
from apps.paper.wire import binance_spot as spot
from apps.paper.wire.binance_events import (
    account_position,
    execution_report,
    new_order_reports,
    trade_reports,
)
from apps.paper.wire.signing import WireError, mandatory
from apps.paper.wire.streams import fills_by_order

Json = Any
Publish = Callable[[int, list[spot.Json]], Awaitable[None]]
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Call:
    """One request as the handlers see it: parameters, the account's venue (signed endpoints),
    the server time."""

    params: Mapping[str, str]
    now_ms: int
    venue: PaperVenue | None = None

    @property
    def account(self) -> PaperVenue:
        assert self.venue is not None  # noqa: S101  (signed endpoints only)
        return self.venue


class SpotHandlers:
    """The `/api/v3` endpoints of one served venue."""

    def __init__(self, markets: Mapping[str, Market], data: PaperMarketData,
                 publish: Publish) -> None:  # fmt: skip
        self.markets = spot.spot_markets(markets.values()) if markets else {}
        self.by_symbol = {m.symbol: m for m in self.markets.values()}
        self.data = data
        self.publish = publish

    # --- public ------------------------------------------------------------------------------

    async def exchange_info(self, call: Call) -> Json:
        return public.exchange_info(self.markets, call.now_ms, public.wanted_symbols(call.params))

    async def ticker_price(self, call: Call) -> Json:
        rows = [public.ticker_price_json(m, await self.data.fetch_ticker(m.symbol))
                for m in self._chosen(call)]  # fmt: skip
        return rows[0] if call.params.get("symbol") else rows

    async def ticker_24hr(self, call: Call) -> Json:
        rows = []
        for m in self._chosen(call):
            candles = await self.data.fetch_ohlcv(m.symbol, "1h", call.now_ms - 86_400_000, 24)
            rows.append(public.ticker_24hr_json(m, await self.data.fetch_ticker(m.symbol),
                                                candles, call.now_ms))  # fmt: skip
        return rows[0] if call.params.get("symbol") else rows

    async def book_ticker(self, call: Call) -> Json:
        rows = [public.book_ticker_json(m, await self.data.fetch_ticker(m.symbol), call.now_ms)
                for m in self._chosen(call)]  # fmt: skip
        return rows[0] if call.params.get("symbol") else rows

    async def premium_index(self, call: Call) -> Json:
        rows = [public.premium_index_json(m, await self.data.fetch_ticker(m.symbol), call.now_ms)
                for m in self._chosen(call)]  # fmt: skip
        return rows[0] if call.params.get("symbol") else rows

    def _chosen(self, call: Call) -> list[Market]:
        """The markets of `symbol` / `symbols`, else all (-1121 for an unknown one)."""
        chosen = public.wanted_symbols(call.params)
        return [spot.market_of({"symbol": s}, self.markets) for s in chosen or self.markets]

    async def depth(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        limit = public.depth_limit(call.params)
        book = await self.data.fetch_order_book(market.symbol, limit)
        quote = await self.data.quote(market.symbol)
        return public.depth_json(book, quote.seq)

    async def klines(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        interval = call.params.get("interval") or ""
        if not interval:
            raise mandatory("interval")
        span = public.interval_ms(interval)
        limit = min(spot.int_param(call.params, "limit", 500) or 500, MAX_LIMIT)
        start = spot.int_param(call.params, "startTime")
        end = spot.int_param(call.params, "endTime")
        rows = await self.data.fetch_ohlcv(market.symbol, interval, start, limit)
        return [public.kline_json(r, span) for r in rows if end is None or r[0] <= end]

    # --- account -----------------------------------------------------------------------------

    async def account_info(self, call: Call) -> Json:
        balance = await call.account.fetch_balance()
        if call.params.get("omitZeroBalances", "").lower() == "true":
            balance = {**balance, "total": {c: v for c, v in balance["total"].items() if v}}
        first = next(iter(self.markets.values()))
        return spot.account_json(balance, first.maker_fee, first.taker_fee,
                                 call.account.account_id)  # fmt: skip

    async def new_order(self, call: Call) -> Json:
        order_call = spot.order_call(call.params, self.markets)
        order = await self._place(call, order_call)
        return spot.new_order_json(order, order_call.market, order_call.resp_type)

    async def _place(self, call: Call, order_call: spot.OrderCall) -> Json:
        venue = call.account
        try:
            order = await venue.create_order(order_call.market.symbol, order_call.type,
                                              order_call.side, order_call.qty, order_call.price,
                                              order_call.params)  # fmt: skip
        except Exception as exc:
            raise spot.error_of(exc) from exc
        await self._changed(venue, new_order_reports(order, order_call.market, call.now_ms))
        return order

    async def cancel_replace(self, call: Call) -> Json:
        """POST /api/v3/order/cancelReplace: cancel an order, then place a new one (a new
        orderId); `cancelReplaceMode` STOP_ON_FAILURE places nothing when the cancel fails,
        ALLOW_FAILURE places anyway. A failure of either half is -2021 (409, the other half
        done) or -2022 (400, neither), with both halves' results in `data`."""
        mode = call.params.get("cancelReplaceMode", "").upper()
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise mandatory("cancelReplaceMode")
        order_call = spot.order_call(call.params, self.markets)
        ref = {"symbol": call.params["symbol"],
               "orderId": call.params.get("cancelOrderId", ""),
               "origClientOrderId": call.params.get("cancelOrigClientOrderId", "")}  # fmt: skip
        try:
            canceled: Json = await self.cancel_order(Call(ref, call.now_ms, call.venue))
        except WireError as exc:
            canceled = exc
        placed: Json = None
        if not isinstance(canceled, WireError) or mode == "ALLOW_FAILURE":
            try:
                placed = spot.new_order_json(await self._place(call, order_call),
                                             order_call.market, order_call.resp_type)  # fmt: skip
            except WireError as exc:
                placed = exc
        return spot.cancel_replace_json(canceled, placed)

    async def test_order(self, call: Call) -> Json:
        """POST /api/v3/order/test: the order's checks, nothing placed."""
        spot.order_call(call.params, self.markets)
        return {}

    async def query_order(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        order = await self._find(call, market, spot.NO_ORDER)
        return spot.order_json(self._shown(call.account, order), market)

    async def cancel_order(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        order = await self._find(call, market, spot.UNKNOWN_ORDER)
        try:
            canceled = await call.account.cancel_order(order["id"], market.symbol)
        except Exception as exc:
            raise spot.error_of(exc, spot.UNKNOWN_ORDER) from exc
        canceled = self._shown(call.account, canceled)
        await self._changed(call.account, [self._canceled_report(canceled, market, call)])
        return spot.canceled_json(canceled, market, call.now_ms)

    async def cancel_open_orders(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        canceled = [self._shown(call.account, o)
                    for o in await call.account.cancel_all_orders(market.symbol)]
        if not canceled:
            raise WireError(400, -2011, spot.UNKNOWN_ORDER)
        await self._changed(call.account,
                            [self._canceled_report(o, market, call) for o in canceled])
        return [spot.canceled_json(o, market, call.now_ms) for o in canceled]

    async def open_orders(self, call: Call) -> Json:
        market = (spot.market_of(call.params, self.markets) if call.params.get("symbol")
                  else None)  # fmt: skip
        orders = await call.account.fetch_open_orders(market.symbol if market else None)
        return [spot.order_json(self._shown(call.account, o), self.by_symbol[o["symbol"]])
                for o in orders]  # fmt: skip

    async def all_orders(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        start, end, limit = self._window(call.params)
        orders = await call.account.fetch_orders(market.symbol, start)
        from_id = spot.int_param(call.params, "orderId")
        rows = [spot.order_json(self._shown(call.account, o), market) for o in orders]
        rows = [r for r in rows if (from_id is None or r["orderId"] >= from_id)
                and (end is None or r["time"] <= end)]  # fmt: skip
        return rows[:limit] if from_id is not None or start is not None else rows[-limit:]

    async def my_trades(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        start, end, limit = self._window(call.params)
        trades = await call.account.fetch_my_trades(market.symbol, start)
        rows = [spot.trade_json(t, market, self._list_id(call.account, t["order"])) for t in trades]
        order_id = spot.int_param(call.params, "orderId")
        from_id = spot.int_param(call.params, "fromId")
        rows = [r for r in rows if (order_id is None or r["orderId"] == order_id)
                and (from_id is None or r["id"] >= from_id)
                and (end is None or r["time"] <= end)]  # fmt: skip
        return rows[:limit] if from_id is not None or start is not None else rows[-limit:]

    # --- matching, as the market moves -------------------------------------------------------

    async def after_match(self, venue: PaperVenue, fills: list[dict[str, Any]],
                          now_ms: int) -> None:  # fmt: skip
        """The user-data events of fills found by `match()` (resting orders that filled)."""
        by_order = fills_by_order(fills, self.by_symbol)
        events: list[spot.Json] = []
        for order_id, trades in by_order.items():
            order = self._shown(venue, await venue.fetch_order(order_id))
            events += trade_reports(order, self.by_symbol[order["symbol"]], trades, now_ms)
        if events:
            await self._changed(venue, events)

    async def venue_canceled(self, venue: PaperVenue, order: spot.Json, now_ms: int,
                             expired: bool) -> None:  # fmt: skip
        """The venue canceled or expired an open order itself: one report saying which."""
        kind = "EXPIRED" if expired else "CANCELED"
        order = self._shown(venue, order)
        await self._changed(venue, [execution_report(order, self.by_symbol[order["symbol"]],
                                                     now_ms, execution=kind, status=kind)])  # fmt: skip

    # --- internals ---------------------------------------------------------------------------

    def _shown(self, venue: PaperVenue, order: spot.Json) -> spot.Json:
        """An engine order as this dialect shows it (an order list's leg: `spot_lists`)."""
        return order

    def _list_id(self, venue: PaperVenue, order_id: str) -> int:
        """The order list of an order, -1 for a plain one (`spot_lists`)."""
        return -1

    async def _changed(self, venue: PaperVenue, events: list[spot.Json]) -> None:
        balance = await venue.fetch_balance()
        await self.publish(venue.account_id, [*events, account_position(balance, venue.clock())])

    def _canceled_report(self, order: spot.Json, market: Market, call: Call) -> spot.Json:
        return execution_report(order, market, call.now_ms, execution="CANCELED")

    async def _find(self, call: Call, market: Market, not_found: str) -> spot.Json:
        engine_id, params = spot.order_ref(call.params, call.account.account_id)
        try:
            order = await call.account.fetch_order(engine_id, market.symbol, params)
        except Exception as exc:
            raise spot.error_of(exc, not_found) from exc
        if order["symbol"] != market.symbol:
            raise WireError(400, -2013 if not_found == spot.NO_ORDER else -2011, not_found)
        return order

    @staticmethod
    def _window(params: Mapping[str, str]) -> tuple[int | None, int | None, int]:
        limit = spot.int_param(params, "limit", 500) or 500
        if limit > MAX_LIMIT:
            raise WireError(400, -1100, "Illegal characters found in parameter 'limit'.")
        return spot.int_param(params, "startTime"), spot.int_param(params, "endTime"), limit
