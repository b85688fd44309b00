"""Quotes and the synthetic order book around a price; market orders walk it.

A level's volume of `None` means unlimited (the default, so fills in tests are exact).
Prices are in quote currency, volumes in the market's qty units.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from types import MappingProxyType

from apps.oms.domain.markets import Market

BPS = Decimal(10000)


@dataclass(frozen=True, slots=True)
class Quote:
    """The simulated market's price of one symbol; `seq` grows with every change."""

    symbol: str
    last: Decimal
    bid: Decimal
    ask: Decimal
    seq: int = 0
    timestamp_ms: int = 0


@dataclass(frozen=True, slots=True)
class BookConfig:
    """Shape of the synthetic book.

    spread_bps: full bid/ask spread around the price when bid/ask are not given (0 = none).
    spreads: per-symbol spread in bps, winning over `spread_bps` (the configured default
        spread of each market, `paper.market_spread_bps`).
    level_step_bps: distance between consecutive levels.
    level_volume: qty per level for market/marketable orders (None = unlimited, or as
        `level_notional` gives).
    level_notional: quote currency per level when `level_volume` is None (None = unlimited):
        each level holds that much at its price, rounded down to the amount step.
    resting_volume: qty a resting limit can fill per price change (None = unlimited).
    """

    spread_bps: Decimal = Decimal(0)
    spreads: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    levels: int = 10
    level_step_bps: Decimal = Decimal(5)
    level_volume: Decimal | None = None
    resting_volume: Decimal | None = None
    level_notional: Decimal | None = None

    def spread_for(self, symbol: str) -> Decimal:
        return self.spreads.get(symbol, self.spread_bps)


@dataclass(frozen=True, slots=True)
class Level:
    price: Decimal
    volume: Decimal | None


@dataclass(frozen=True, slots=True)
class Book:
    """Asks ascending, bids descending."""

    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


def round_to_step(value: Decimal, step: Decimal, up: bool) -> Decimal:
    """Round a positive price to a multiple of `step`, up or down."""
    units = (value / step).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return units * step


def make_quote(
    market: Market,
    price: Decimal,
    config: BookConfig,
    bid: Decimal | None = None,
    ask: Decimal | None = None,
    seq: int = 0,
    timestamp_ms: int = 0,
) -> Quote:
    """A quote at `price`: explicit bid/ask win, else half the configured spread each side."""
    half = price * config.spread_for(market.symbol) / BPS / 2
    if bid is None:
        bid = round_to_step(price - half, market.price_step, up=False)
    if ask is None:
        ask = round_to_step(price + half, market.price_step, up=True)
    return Quote(market.symbol, price, min(bid, price), max(ask, price), seq, timestamp_ms)


def levels(market: Market, quote: Quote, config: BookConfig, side: str) -> Iterator[Level]:
    """One side of the synthetic book, best first (`side` = "asks" or "bids"), lazily:
    `level_step_bps` apart and at least one tick apart."""
    step = config.level_step_bps / BPS
    up = side == "asks"
    best = quote.ask if up else quote.bid
    previous: Decimal | None = None
    for i in range(config.levels):
        price = round_to_step(best * (1 + step * i if up else 1 - step * i), market.price_step, up)
        if previous is not None and (price <= previous if up else price >= previous):
            price = previous + (market.price_step if up else -market.price_step)
        if price <= 0:
            return
        previous = price
        yield Level(price, _volume(market, config, price))


def _volume(market: Market, config: BookConfig, price: Decimal) -> Decimal | None:
    if config.level_volume is not None or config.level_notional is None:
        return config.level_volume
    units = config.level_notional / (price * market.contract_size) / market.amount_step
    return max(market.amount_step, units.to_integral_value(rounding=ROUND_FLOOR) * market.amount_step)


def synthesize(market: Market, quote: Quote, config: BookConfig) -> Book:
    """The whole synthetic book (for display); matching walks `levels` lazily."""
    return Book(
        market.symbol,
        tuple(levels(market, quote, config, "bids")),
        tuple(levels(market, quote, config, "asks")),
    )


def walk(
    book: Iterable[Level], side: str, qty: Decimal, limit: Decimal | None = None
) -> list[Level]:
    """Take up to `qty` from `book` (the side opposite to `side`), best price first.

    Returns the (price, qty) pieces taken; their sum never exceeds `qty` nor any level's volume,
    and no piece is worse than `limit` (when given). The rest of `qty` is not available.
    """
    taken: list[Level] = []
    left = qty
    for level in book:
        if left <= 0:
            break
        if limit is not None and (level.price > limit if side == "buy" else level.price < limit):
            break
        piece = left if level.volume is None else min(left, level.volume)
        if piece > 0:
            taken.append(Level(level.price, piece))
            left -= piece
    return taken


def would_take(quote: Quote, side: str, limit: Decimal) -> bool:
    """True when a limit order at `limit` crosses the book on arrival."""
    return limit >= quote.ask if side == "buy" else limit <= quote.bid
