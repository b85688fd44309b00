"""Public side of the paper venue: markets, tickers, synthetic order book, shared prices.

All paper accounts share one simulated market: one price row per symbol in the store, starting
at the documented default price of its base coin until a price source or a user moves it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal
from typing import Any, ClassVar

from apps.oms.domain.markets import Market
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.domain.book import Quote, make_quote, synthesize
from apps.paper.domain.candles import (
    TIMEFRAMES,
    Candle,
    backfill,
    continuous,
    timeframe_ms,
    window,
)
from apps.paper.domain.matching import Venue
from apps.paper.domain.tiers import DEFAULT_TIERS, Tier
from apps.paper.exchange.errors import ccxt_errors
from apps.paper.exchange.structures import (
    Structure,
    iso8601,
    market_structure,
    order_book_structure,
    ticker_structure,
)
from apps.paper.store.venue_store import PaperStore

Params = dict[str, Any]
#: Amount shown for an unlimited synthetic level: about this much quote currency.
DISPLAY_NOTIONAL = Decimal(1_000_000)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def set_paper_price(
    store: PaperStore,
    venue: Venue,
    symbol: str,
    price: Decimal,
    bid: Decimal | None = None,
    ask: Decimal | None = None,
    *,
    source: str = "manual",
    timestamp_ms: int | None = None,
) -> Quote:
    """Store a new shared price (what `POST /paper/prices` does); BadSymbol / InvalidOrder on
    an unknown symbol or a non-positive price. Matching happens in the workers."""
    with ccxt_errors():
        market = venue.markets.get(symbol)
    if price <= 0 or (bid is not None and bid <= 0) or (ask is not None and ask <= 0):
        raise ccxt.InvalidOrder("paper prices must be positive")
    if bid is not None and ask is not None and bid > ask:
        raise ccxt.InvalidOrder("paper bid must not exceed ask")
    quote = make_quote(market, price, venue.book, bid, ask, 0, timestamp_ms or now_ms())
    return await store.put_quote(quote, source)


async def get_paper_prices(
    store: PaperStore, venue: Venue, symbols: list[str] | None = None
) -> dict[str, Quote]:
    """Current shared prices (`GET /paper/prices`); unset symbols show their default price."""
    wanted = symbols or sorted(venue.by_symbol)
    with ccxt_errors():
        for symbol in wanted:
            venue.markets.get(symbol)
    stored = await store.get_quotes(wanted)
    return {s: stored.get(s) or _default_quote(venue, s) for s in wanted}


def _default_quote(venue: Venue, symbol: str) -> Quote:
    market = venue.markets.get(symbol)
    return make_quote(market, venue.markets.default_price(symbol), venue.book, seq=0)


class PaperMarketData:
    """Markets and public market data of the shared simulated market."""

    id = "paper"
    has: dict[str, bool] = dict.fromkeys(
        [
            "loadMarkets",
            "fetchMarkets",
            "fetchTicker",
            "fetchTickers",
            "fetchOrderBook",
            "fetchTrades",
            "fetchOHLCV",
            "fetchBalance",
            "createOrder",
            "editOrder",
            "cancelOrder",
            "cancelAllOrders",
            "fetchOrder",
            "fetchOrders",
            "fetchOpenOrders",
            "fetchClosedOrders",
            "fetchMyTrades",
            "fetchPositions",
            "setLeverage",
            "fetchLeverage",
            "setMarginMode",
            "fetchMarginMode",
            "fetchMarginModes",
            "setPositionMode",
            "fetchPositionMode",
            "fetchLeverageTiers",
            "fetchMarketLeverageTiers",
            "fetchTradingFee",
            "fetchTradingFees",
        ],
        True,
    )

    #: the leverage tiers of every swap (`PaperVenue` derives them from its maintenance rate)
    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    #: CCXT's `timeframes`: the candle periods `fetch_ohlcv` serves
    timeframes: ClassVar[dict[str, str]] = {tf: tf for tf in TIMEFRAMES}

    def __init__(
        self, store: PaperStore, venue: Venue, clock: Callable[[], int], history_seed: int = 0
    ) -> None:
        self.store = store
        self.venue = venue
        self.clock = clock
        # the seed of the history written before a timeframe's first candle (`paper.seed`)
        self.history_seed = history_seed
        self.markets: dict[str, Structure] = {}
        # an account with a spread of its own sees every stored price re-quoted with it
        self.own_spread = False

    def _market(self, symbol: str) -> Market:
        with ccxt_errors():
            return self.venue.markets.get(symbol)

    async def load_markets(
        self, reload: bool = False, params: Params | None = None
    ) -> dict[str, Structure]:
        if reload or not self.markets:
            self.markets = {m["symbol"]: m for m in await self.fetch_markets()}
        return self.markets

    async def fetch_markets(self, params: Params | None = None) -> list[Structure]:
        return [market_structure(m, self.tiers) for m in self.venue.by_symbol.values()]

    async def quote(self, symbol: str) -> Quote:
        """The shared price of `symbol`, seeding its default price on first use."""
        self._market(symbol)
        stored = (await self.store.get_quotes([symbol])).get(symbol)
        if stored is not None:
            return self.view(stored)
        default = _default_quote(self.venue, symbol)
        # insert-if-absent: a price set concurrently (POST /paper/prices) must win over the seed
        return self.view(await self.store.seed_quote(
            Quote(symbol, default.last, default.bid, default.ask, 0, self.clock()), "default"
        ))

    def view(self, quote: Quote) -> Quote:
        """The stored price as this venue quotes it (its own spread around `last`, if any)."""
        if not self.own_spread:
            return quote
        market = self.venue.markets.get(quote.symbol)
        return make_quote(
            market, quote.last, self.venue.book, seq=quote.seq, timestamp_ms=quote.timestamp_ms
        )

    async def set_price(
        self, symbol: str, price: Decimal, bid: Decimal | None = None, ask: Decimal | None = None
    ) -> Quote:
        return await set_paper_price(
            self.store, self.venue, symbol, price, bid, ask, timestamp_ms=self.clock()
        )

    async def fetch_ticker(self, symbol: str, params: Params | None = None) -> Structure:
        return ticker_structure(await self.quote(symbol))

    async def fetch_tickers(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> dict[str, Structure]:
        return {s: await self.fetch_ticker(s) for s in symbols or sorted(self.venue.by_symbol)}

    async def fetch_mark_price(self, symbol: str) -> Structure:
        """The paper's ticker carries its mark price (its last price)."""
        return await self.fetch_ticker(symbol)

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Params | None = None
    ) -> Structure:
        market = self._market(symbol)
        quote = await self.quote(symbol)
        book = synthesize(market, quote, self.venue.book)
        display = DISPLAY_NOTIONAL / quote.last / market.contract_size / market.amount_step
        display = display.to_integral_value(rounding=ROUND_FLOOR) * market.amount_step
        return order_book_structure(book, display, limit, quote.timestamp_ms)

    async def fetch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[Structure]:
        """The paper market has no public tape: one synthetic print at the current price."""
        market = self._market(symbol)
        quote = await self.quote(symbol)
        return [
            {
                "info": {"synthetic": True},
                "id": f"{symbol}-{quote.seq}",
                "order": None,
                "timestamp": quote.timestamp_ms,
                "datetime": iso8601(quote.timestamp_ms),
                "symbol": symbol,
                "type": None,
                "side": None,
                "takerOrMaker": None,
                "price": quote.last,
                "amount": market.min_amount,
                "cost": quote.last * market.min_amount * market.contract_size,
                "fee": None,
                "fees": [],
            }
        ]

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[list[Any]]:
        """Candles built from the shared market's price path (`apps/paper/domain/candles.py`), with
        a seeded history before the first one; one per period up to the one open now (a period
        in which the price did not move is flat at the previous close, volume 0). CCXT's
        `since` (earliest opening time) and `limit` (at most 1,000, the default)."""
        market = self._market(symbol)
        try:
            tf_ms = timeframe_ms(timeframe)
            window(tf_ms, 0, since, limit)  # the arguments alone, before anything is written
        except ValueError as exc:
            raise ccxt.BadRequest(f"paper fetch_ohlcv: {exc}") from exc

        def history(anchor_ms: int, anchor_price: Decimal) -> list[Candle]:
            return backfill(self.history_seed, symbol, tf_ms, anchor_ms, anchor_price,
                            market.price_step)  # fmt: skip

        await self.quote(symbol)  # seeds the price row the history is anchored on
        now = self.clock()
        await self.store.ensure_history(symbol, timeframe, now, history)
        first = None if since is None else await self.store.first_candle(symbol, timeframe)
        win = window(tf_ms, now, since, limit, first)
        if win is None:
            return []
        stored, before = await self.store.candles(symbol, timeframe, win)
        return [c.row() for c in continuous(stored, before, win, tf_ms)]

    async def close(self) -> None:
        """Nothing to release: the store's engine belongs to the composition root."""
