"""Price sources that move the shared paper market (`OMS_PAPER_PRICE_SOURCE`).

`manual` (prices move only when set), `random_walk` (seeded, deterministic: the step index is the
stored price `seq`), `replay:<csv>` (candles or trades, one tick per `advance`), and
`live:<ccxt id>` (public tickers through CCXT, spot prices also used for the linear perpetuals).
The scheduler calls `advance()`; workers then `match()` their paper accounts.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import ccxt.async_support as ccxt_async

from apps.oms.domain.paper.book import Quote, make_quote
from apps.oms.domain.paper.matching import Venue
from apps.oms.domain.paper.prices import Tick, parse_replay, random_walk_step
from apps.oms.exchange.paper.market_data import now_ms
from apps.oms.exchange.paper.requests import decimal_arg
from apps.oms.store.paper import PaperStore

SAMPLE_REPLAY = Path(__file__).parent / "data" / "btc_usdt_1m_sample.csv"


class PriceFeed(Protocol):
    async def advance(self) -> list[Quote]: ...

    async def close(self) -> None: ...


class RandomWalkFeed:
    """Every symbol takes one seeded step within ±`step_bps` per `advance`."""

    def __init__(
        self,
        store: PaperStore,
        venue: Venue,
        seed: int = 0,
        step_bps: Decimal = Decimal(5),
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store, self.venue, self.seed, self.step_bps, self.clock = (
            store,
            venue,
            seed,
            step_bps,
            clock,
        )

    async def advance(self) -> list[Quote]:
        stored = await self.store.get_quotes()
        moved = []
        for symbol, market in sorted(self.venue.by_symbol.items()):
            current = stored.get(symbol)
            last = current.last if current else self.venue.markets.default_price(symbol)
            step = current.seq if current else 0
            price = random_walk_step(
                last, self.seed, symbol, step, self.step_bps, market.price_step
            )
            quote = make_quote(market, price, self.venue.book, timestamp_ms=self.clock())
            moved.append(await self.store.put_quote(quote, "random_walk"))
        return moved

    async def close(self) -> None:
        """Nothing to release."""


class ReplayFeed:
    """Replays ticks from a CSV; a replayed spot price also prices its perpetual."""

    def __init__(
        self,
        store: PaperStore,
        venue: Venue,
        text: str,
        default_symbol: str = "BTC/USDT",
        loop: bool = True,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store, self.venue, self.loop, self.clock = store, venue, loop, clock
        self.ticks: list[Tick] = parse_replay(text, default_symbol)
        self.position = 0

    @classmethod
    def from_path(cls, store: PaperStore, venue: Venue, path: str | Path) -> ReplayFeed:
        return cls(store, venue, Path(path).read_text(encoding="utf-8"))

    async def advance(self) -> list[Quote]:
        if self.position >= len(self.ticks):
            if not self.loop or not self.ticks:
                return []
            self.position = 0
        tick = self.ticks[self.position]
        self.position += 1
        return await _store_price(
            self.store, self.venue, tick.symbol, tick.price, None, None, "replay", self.clock()
        )

    async def close(self) -> None:
        """Nothing to release."""


class LiveFeed:
    """Public tickers of a CCXT exchange ("paper on live prices"); needs network access."""

    def __init__(
        self,
        store: PaperStore,
        venue: Venue,
        exchange: Any,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store, self.venue, self.exchange, self.clock = store, venue, exchange, clock
        self.exchange.number = str  # keep CCXT's numbers exact: strings, never floats

    @classmethod
    def for_exchange(cls, store: PaperStore, venue: Venue, exchange_id: str) -> LiveFeed:
        exchange_class = getattr(ccxt_async, exchange_id)
        return cls(store, venue, exchange_class({"enableRateLimit": True}))

    async def advance(self) -> list[Quote]:
        spot = sorted({m.base + "/" + m.quote for m in self.venue.by_symbol.values()})
        moved: list[Quote] = []
        for symbol in spot:
            ticker = await self.exchange.fetch_ticker(symbol)
            last = decimal_arg(ticker.get("last") or ticker.get("close"), "last")
            if last is None:
                continue
            bid = decimal_arg(ticker.get("bid"), "bid")
            ask = decimal_arg(ticker.get("ask"), "ask")
            moved += await _store_price(
                self.store,
                self.venue,
                symbol,
                last,
                bid,
                ask,
                f"live:{self.exchange.id}",
                self.clock(),
            )
        return moved

    async def close(self) -> None:
        await self.exchange.close()


async def _store_price(
    store: PaperStore,
    venue: Venue,
    symbol: str,
    price: Decimal,
    bid: Decimal | None,
    ask: Decimal | None,
    source: str,
    timestamp_ms: int,
) -> list[Quote]:
    """Store `symbol` and every listed market with the same base and quote (spot + perp)."""
    anchor = venue.markets.get(symbol)
    stored = []
    for market in venue.by_symbol.values():
        if (market.base, market.quote) == (anchor.base, anchor.quote):
            quote = make_quote(market, price, venue.book, bid, ask, 0, timestamp_ms)
            stored.append(await store.put_quote(quote, source))
    return stored


def build_feed(
    source: str,
    store: PaperStore,
    venue: Venue,
    seed: int = 0,
    clock: Callable[[], int] = now_ms,
) -> PriceFeed | None:
    """The feed for `OMS_PAPER_PRICE_SOURCE`; None for `manual`. ValueError if unknown."""
    kind, _, argument = source.partition(":")
    if kind == "manual":
        return None
    if kind == "random_walk":
        return RandomWalkFeed(store, venue, seed, clock=clock)
    if kind == "replay":
        return ReplayFeed.from_path(store, venue, argument or SAMPLE_REPLAY)
    if kind == "live" and argument:
        return LiveFeed.for_exchange(store, venue, argument)
    raise ValueError(
        f"unknown paper price source {source!r}: use manual, random_walk, replay:<csv> "
        "or live:<ccxt id>"
    )
