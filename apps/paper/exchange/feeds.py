"""Price sources that move the shared paper market (`paper.price_source`).

`manual` (prices move only when set), `random_walk` (seeded, deterministic: the step index is the
stored price `seq`), `replay:<csv>` (candles or trades, at a speed factor, looping or stopping at
the end), and `live:<ccxt id>` (public tickers through CCXT, spot prices also used for the
linear perpetuals). The price scheduler (`apps/worker/price_feed.py`) advances the configured one;
workers then `match()` their paper accounts against the path the prices took.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Protocol

from apps.paper.domain.book import Quote, make_quote
from apps.paper.domain.matching import Venue
from apps.paper.domain.prices import Tick, parse_replay, random_walk_step, replay_delays
from apps.paper.exchange.market_data import now_ms
from apps.paper.exchange.requests import decimal_arg
from apps.paper.store.venue_store import PaperStore

SAMPLE_REPLAY = Path(__file__).parent / "data" / "btc_usdt_1m_sample.csv"
LOOP, STOP = "loop", "stop"


class PriceFeed(Protocol):
    async def advance(self) -> list[Quote]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Point:
    """A price a source produced, before it is stored (bid/ask None: the configured spread)."""

    symbol: str
    price: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None


class RandomWalkFeed:
    """Every symbol takes one seeded step within ±`step_bps` per `advance`, on its tick."""

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
        quotes: list[Quote] = []
        for symbol, market in sorted(self.venue.by_symbol.items()):
            current = stored.get(symbol)
            last = current.last if current else self.venue.markets.default_price(symbol)
            step = current.seq if current else 0
            price = random_walk_step(
                last, self.seed, symbol, step, self.step_bps, market.price_step
            )
            quotes.append(make_quote(market, price, self.venue.book, timestamp_ms=self.clock()))
        return await self.store.put_quotes(quotes, "random_walk")  # one write for every market

    async def close(self) -> None:
        """Nothing to release."""


class ReplayFeed:
    """Replays ticks from a CSV, one per `advance`; a replayed spot price also prices its
    perpetual. `delay_seconds()` is the recorded time to the next tick divided by `speed`.
    At the end it starts again (`at_end="loop"`) or stays `ended` (`"stop"`)."""

    def __init__(
        self,
        store: PaperStore,
        venue: Venue,
        text: str,
        default_symbol: str = "BTC/USDT",
        loop: bool = True,
        clock: Callable[[], int] = now_ms,
        speed: Decimal = Decimal(1),
    ) -> None:
        self.store, self.venue, self.loop, self.clock = store, venue, loop, clock
        self.ticks: list[Tick] = parse_replay(text, default_symbol)
        self.delays = replay_delays(self.ticks)
        self.position = 0
        self.speed = speed
        self.laps = 0

    @classmethod
    def from_path(
        cls, store: PaperStore, venue: Venue, path: str | Path, **kw: Any
    ) -> ReplayFeed:
        return cls(store, venue, Path(path).read_text(encoding="utf-8"), **kw)

    @property
    def ended(self) -> bool:
        return not self.ticks or (not self.loop and self.position >= len(self.ticks))

    def delay_seconds(self) -> float:
        """Pause before the next tick (after the one just replayed)."""
        if not self.ticks or self.position == 0:
            return 0.0
        delay_ms = Decimal(self.delays[self.position - 1]) / self.speed if self.speed > 0 else 0
        return float(delay_ms / 1000)

    async def advance(self) -> list[Quote]:
        moved, _steps = await self.advance_batch(1, 0.0)
        return moved

    async def advance_batch(self, limit: int, window_seconds: float) -> tuple[list[Quote], int]:
        """Store the next tick and the ones due within `window_seconds` after it (at most
        `limit`, never past the end of a lap) in one write; the quotes and the ticks taken."""
        points: list[Point] = []
        window = 0.0
        while len(points) < limit:
            if self.position >= len(self.ticks):
                if points or not self.loop or not self.ticks:
                    break
                self.position, self.laps = 0, self.laps + 1
            tick = self.ticks[self.position]
            self.position += 1
            points.append(Point(tick.symbol, tick.price))
            window += self.delay_seconds()
            if window >= window_seconds:
                break
        if not points:
            return [], 0
        return await store_points(self.store, self.venue, points, "replay", self.clock()), len(
            points
        )

    async def close(self) -> None:
        """Nothing to release."""


class LiveFeed:
    """Public tickers of a CCXT exchange ("paper on live prices"); needs network access.
    `fetch()` calls the exchange (never inside a store transaction), `store()` writes."""

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
        import ccxt.async_support as ccxt_async  # lazy: only a live feed needs CCXT itself

        exchange_class = getattr(ccxt_async, exchange_id)
        return cls(store, venue, exchange_class({"enableRateLimit": True, "timeout": 10_000}))

    @property
    def source(self) -> str:
        return f"live:{self.exchange.id}"

    async def fetch(self) -> list[Point]:
        """One ticker per listed spot pair; CCXT errors propagate (the scheduler reports them)."""
        spot = sorted({m.base + "/" + m.quote for m in self.venue.by_symbol.values()})
        points: list[Point] = []
        for symbol in spot:
            ticker = await self.exchange.fetch_ticker(symbol)
            last = decimal_arg(ticker.get("last") or ticker.get("close"), "last")
            if last is None:
                continue
            bid = decimal_arg(ticker.get("bid"), "bid")
            ask = decimal_arg(ticker.get("ask"), "ask")
            points.append(Point(symbol, last, bid, ask))
        return points

    async def store_points(self, points: list[Point]) -> list[Quote]:
        return await store_points(self.store, self.venue, points, self.source, self.clock())

    async def advance(self) -> list[Quote]:
        return await self.store_points(await self.fetch())

    async def close(self) -> None:
        await self.exchange.close()


async def store_points(
    store: PaperStore, venue: Venue, points: list[Point], source: str, timestamp_ms: int
) -> list[Quote]:
    """Store each point for its symbol and every listed market with the same base and quote
    (spot + perp), rounded to each market's tick (a live price may be finer)."""
    quotes: list[Quote] = []
    for point in points:
        anchor = venue.markets.get(point.symbol)
        for market in venue.by_symbol.values():
            if (market.base, market.quote) == (anchor.base, anchor.quote):
                step = market.price_step
                price = _to_tick(point.price, step, ROUND_HALF_UP)
                bid = None if point.bid is None else _to_tick(point.bid, step, ROUND_FLOOR)
                ask = None if point.ask is None else _to_tick(point.ask, step, ROUND_CEILING)
                if bid is not None and ask is not None and bid >= ask:
                    bid = ask = None  # crossed or locked after rounding: use the spread
                quotes.append(make_quote(market, price, venue.book, bid, ask, 0, timestamp_ms))
    return await store.put_quotes(quotes, source)


def _to_tick(price: Decimal, step: Decimal, rounding: str) -> Decimal:
    """On the market's tick (nearest for prices, outwards for bid and ask), at least one tick."""
    return max(step, (price / step).quantize(Decimal(1), rounding=rounding) * step)


def build_feed(
    source: str,
    store: PaperStore,
    venue: Venue,
    seed: int = 0,
    clock: Callable[[], int] = now_ms,
    *,
    step_bps: Decimal = Decimal(5),
    speed: Decimal = Decimal(1),
    at_end: str = LOOP,
) -> PriceFeed | None:
    """The feed for a `paper.price_source`; None for `manual`. ValueError if unknown (an
    unknown CCXT id or an unreadable CSV included)."""
    kind, _, argument = source.partition(":")
    if kind == "manual":
        return None
    if kind == "random_walk":
        return RandomWalkFeed(store, venue, seed, step_bps, clock=clock)
    if kind == "replay":
        try:
            return ReplayFeed.from_path(
                store, venue, argument or SAMPLE_REPLAY, clock=clock, speed=speed,
                loop=at_end != STOP,
            )  # fmt: skip
        except (OSError, KeyError, ValueError, ArithmeticError) as exc:
            raise ValueError(f"replay file {argument!r} is not usable: {exc}") from exc
    if kind == "live" and argument:
        import ccxt.async_support as ccxt_async  # lazy, as above

        if argument not in ccxt_async.exchanges:
            raise ValueError(f"live:{argument}: CCXT has no exchange {argument!r}")
        return LiveFeed.for_exchange(store, venue, argument)
    raise ValueError(
        f"unknown paper price source {source!r}: use manual, random_walk, replay:<csv> "
        "or live:<ccxt id>"
    )
