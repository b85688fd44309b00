"""OHLCV candles of the simulated market, as pure functions: timeframes, folding a price path
into candles, CCXT's `since`/`limit` window, gap filling, and a seeded backfill of history.

Times are epoch milliseconds, candles open on multiples of their timeframe since the epoch
(UTC), as on exchanges. Prices are Decimal on the market's tick; volumes are synthetic base
units (the paper market has no tape): every price change trades `tick_volume`, a backfilled
candle about what a one-second random walk would have traded in its time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, localcontext
from types import MappingProxyType

from apps.paper.domain.book import BPS
from apps.paper.domain.prices import draw, unit_draw

MINUTE_MS = 60_000
#: The timeframes the paper venue serves (CCXT's names), in milliseconds.
TIMEFRAMES: Mapping[str, int] = MappingProxyType({
    "1m": MINUTE_MS, "5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS, "30m": 30 * MINUTE_MS,
    "1h": 60 * MINUTE_MS, "4h": 240 * MINUTE_MS, "1d": 1440 * MINUTE_MS,
})  # fmt: skip
#: Candles per request at most, and when `limit` is not given (Binance's maximum).
MAX_LIMIT = 1000
#: Candles of seeded history written before a timeframe's first candle.
BACKFILL_COUNT = 1000
#: A backfilled one-minute candle moves within ± this; longer ones by √minutes times it.
BACKFILL_STEP_BPS = Decimal(10)
_CTX = Context(prec=40)
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Candle:
    """One candle: opening time (ms) and OHLCV. Invariant: low ≤ open, close ≤ high."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def row(self) -> list[int | Decimal]:
        """CCXT's shape: `[timestamp, open, high, low, close, volume]`."""
        return [self.open_ms, self.open, self.high, self.low, self.close, self.volume]


@dataclass(frozen=True, slots=True)
class PathPoint:
    """One stored price of the path: when (ms), the price, what it traded."""

    timestamp_ms: int
    price: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class Window:
    """The candles a request covers: opening times `start_ms` … `end_ms` inclusive."""

    start_ms: int
    end_ms: int


def timeframe_ms(timeframe: str) -> int:
    """Milliseconds of a served timeframe; ValueError for any other."""
    try:
        return TIMEFRAMES[timeframe]
    except KeyError:
        raise ValueError(
            f"timeframe {timeframe!r} is not served; use one of {', '.join(TIMEFRAMES)}"
        ) from None


def bucket(timestamp_ms: int, tf_ms: int) -> int:
    """Opening time of the candle that holds `timestamp_ms`."""
    return timestamp_ms - timestamp_ms % tf_ms


def tick_volume(symbol: str, seq: int) -> Decimal:
    """What the price change number `seq` of `symbol` traded: 0.01 … 1.00, deterministic."""
    return Decimal(1 + draw(0, "volume", symbol, seq) % 100) / 100


def merge(old: Candle | None, new: Candle) -> Candle:
    """`new` (a later part of the same candle) applied to `old`: the open stays, extremes
    widen, the close is the newer one, volumes add."""
    if old is None:
        return new
    return Candle(old.open_ms, old.open, max(old.high, new.high), min(old.low, new.low),
                  new.close, old.volume + new.volume)  # fmt: skip


def fold(points: Iterable[PathPoint], tf_ms: int) -> list[Candle]:
    """The candles of a price path (points in the order they were stored), by opening time."""
    out: dict[int, Candle] = {}
    for p in points:
        start = bucket(p.timestamp_ms, tf_ms)
        out[start] = merge(out.get(start), Candle(start, p.price, p.price, p.price, p.price,
                                                  p.volume))  # fmt: skip
    return [out[k] for k in sorted(out)]


def window(
    tf_ms: int, now_ms: int, since: int | None, limit: int | None, first_ms: int | None = None
) -> Window | None:
    """CCXT's semantics: `since` is the earliest opening time wanted (the first candle opens at
    or after it; a `since` before the first candle there is, `first_ms`, starts there, as on
    exchanges), `limit` the most candles (default and cap `MAX_LIMIT`); without `since`, the
    newest `limit` candles up to the one open now. None when nothing can be in it (`since` in
    the future). ValueError on a limit below 1 or a negative `since`."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if since is not None and since < 0:
        raise ValueError(f"since must not be negative, got {since}")
    count = min(limit or MAX_LIMIT, MAX_LIMIT)
    current = bucket(now_ms, tf_ms)
    if since is None:
        return Window(current - (count - 1) * tf_ms, current)
    start = since if since % tf_ms == 0 else bucket(since, tf_ms) + tf_ms
    if first_ms is not None:
        start = max(start, first_ms)
    if start > current:
        return None
    return Window(start, min(current, start + (count - 1) * tf_ms))


def continuous(
    stored: Sequence[Candle], before: Candle | None, win: Window, tf_ms: int
) -> list[Candle]:
    """One candle per opening time of `win`: the stored one, or, where the market did not
    move, a flat candle at the previous close with no volume. Nothing before the first candle
    there is (`before`: the last stored candle ahead of the window, if any)."""
    by_open = {c.open_ms: c for c in stored}
    previous = before
    out: list[Candle] = []
    for start in range(win.start_ms, win.end_ms + 1, tf_ms):
        candle = by_open.get(start)
        if candle is None and previous is not None:
            p = previous.close
            candle = Candle(start, p, p, p, p, Decimal(0))
        if candle is not None:
            out.append(candle)
            previous = candle
    return out


def backfill(
    seed: int,
    symbol: str,
    tf_ms: int,
    anchor_ms: int,
    anchor_price: Decimal,
    price_step: Decimal,
    count: int = BACKFILL_COUNT,
) -> list[Candle]:
    """`count` candles of seeded history just before `anchor_ms` (a candle opening time), the
    last one closing at `anchor_price`: a walk taken backwards, each candle opening where the
    one before it closed. Deterministic in (seed, symbol, timeframe, anchor); prices on
    `price_step`, never below one step; oldest first."""
    with localcontext(_CTX):  # the same digits on every machine, whatever the thread's context
        minutes = Decimal(tf_ms // MINUTE_MS or 1)
        reach = BACKFILL_STEP_BPS * minutes.sqrt() / BPS
        close = anchor_price
        out: list[Candle] = []
        for i in range(1, count + 1):
            start = anchor_ms - i * tf_ms
            move = (Decimal(draw(seed, "ohlcv", symbol, tf_ms, start) % 20001) - 10000) / 10000
            opened = _on_step(close / (1 + move * reach), price_step, ROUND_HALF_EVEN)
            top, bottom = max(opened, close), min(opened, close)
            wick_up = unit_draw(seed, "ohlcv-high", symbol, tf_ms, start) * reach / 2
            wick_down = unit_draw(seed, "ohlcv-low", symbol, tf_ms, start) * reach / 2
            high = _on_step(top * (1 + wick_up), price_step, ROUND_CEILING)
            low = _on_step(bottom * (1 - wick_down), price_step, ROUND_FLOOR)
            share = Decimal("0.25") + unit_draw(seed, "ohlcv-volume", symbol, tf_ms, start) / 2
            volume = (minutes * 60 * share).quantize(_CENT)
            out.append(Candle(start, opened, high, low, close, volume))
            close = opened
    out.reverse()
    return out


def _on_step(price: Decimal, step: Decimal, rounding: str) -> Decimal:
    """`price` on a multiple of `step` (rounded as told), at least one step."""
    return max(step, (price / step).quantize(Decimal(1), rounding=rounding) * step)
