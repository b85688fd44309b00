"""Bars and ticks: `copy_rates_*` from the venue's candles (`fetch_ohlcv` through the gateway,
paged; a timeframe the venue does not serve is built from a smaller one that divides it) and
`copy_ticks_*` from what the gateway can show (the venue's public trades and the last quote)."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from mt5_driver import constants as c
from mt5_driver.convert import num
from mt5_driver.errors import Failure
from mt5_driver.structures import RATES_DTYPE, TICKS_DTYPE

MINUTE, HOUR, DAY = 60, 3600, 86400
WEEK = 7 * DAY
MONTH = 31 * DAY  # the longest month: how far back a month of bars can reach
PAGE = 1000  # candles per venue call
# the venue timeframes the gateway's paper venue serves (CCXT names)
DEFAULT_SERVED = {"1m": MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE, "30m": 30 * MINUTE,
                  "1h": HOUR, "4h": 4 * HOUR, "1d": DAY}  # fmt: skip
Candle = tuple[int, float, float, float, float, float]  # open time s, o, h, l, c, volume
Fetch = Callable[[str, int, int], list[list[Any]]]  # (venue timeframe, since ms, limit) → rows


def served_seconds(names: Iterable[str]) -> dict[str, int]:
    """The venue timeframes (CCXT names) usable as bars: minutes, hours and days (a venue's
    weeks and months may open on other days than MetaTrader's, so they are rebuilt)."""
    units = {"m": MINUTE, "h": HOUR, "d": DAY}
    out = {}
    for name in names:
        count, unit = name[:-1], name[-1:]
        if count.isdigit() and unit in units:
            out[name] = int(count) * units[unit]
    return out or dict(DEFAULT_SERVED)


def period(timeframe: int) -> int:
    """Seconds of a `TIMEFRAME_*` (a month counts as `MONTH`); Failure for another value."""
    if timeframe == c.TIMEFRAME_MN1:
        return MONTH
    if timeframe == c.TIMEFRAME_W1:
        return WEEK
    if 1 <= timeframe <= 30 and timeframe in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30):
        return timeframe * MINUTE
    if timeframe & 0x4000 and (timeframe & 0x3FFF) in (1, 2, 3, 4, 6, 8, 12, 24):
        return (timeframe & 0x3FFF) * HOUR
    raise Failure(c.RES_E_INVALID_PARAMS, f"{timeframe} is not a TIMEFRAME_* value")


def bucket(timeframe: int, t: int) -> int:
    """Opening time of the bar of `timeframe` that holds `t` (UTC; weeks open on Sunday and
    months on their first day, as MetaTrader's)."""
    if timeframe == c.TIMEFRAME_MN1:
        d = datetime.fromtimestamp(t, UTC)
        return calendar.timegm((d.year, d.month, 1, 0, 0, 0))
    if timeframe == c.TIMEFRAME_W1:
        return t - (t - 3 * DAY) % WEEK  # 1970-01-04 was a Sunday
    size = period(timeframe)
    return t - t % size


def base_timeframe(timeframe: int, served: dict[str, int]) -> str:
    """The largest served venue timeframe whose bars make whole bars of `timeframe`."""
    target = DAY if timeframe in (c.TIMEFRAME_W1, c.TIMEFRAME_MN1) else period(timeframe)
    fits = [(size, name) for name, size in served.items() if size <= target and target % size == 0]
    if not fits:
        raise Failure(c.RES_E_UNSUPPORTED, f"the venue serves no bars that make {timeframe}")
    return max(fits)[1]


def candles(fetch: Fetch, served: dict[str, int], timeframe: int, start: int, end: int
            ) -> list[Candle]:  # fmt: skip
    """Bars of `timeframe` opening in [start, end], oldest first."""
    name = base_timeframe(timeframe, served)
    size = served[name]
    rows: list[Candle] = []
    since = start - start % size
    while since <= end:
        page = fetch(name, since * 1000, PAGE)
        fresh = [r for r in page if int(r[0]) // 1000 >= since]
        if not fresh:
            break
        rows += [(int(r[0]) // 1000, num(r[1]), num(r[2]), num(r[3]), num(r[4]), num(r[5]))
                 for r in fresh]  # fmt: skip
        since = rows[-1][0] + size
    bars = rows if size == period(timeframe) else fold(rows, lambda t: bucket(timeframe, t))
    return [b for b in bars if start <= b[0] <= end]


def fold(rows: Iterable[Candle], key: Callable[[int], int]) -> list[Candle]:
    out: dict[int, Candle] = {}
    for t, o, h, low, cl, v in rows:
        k = key(t)
        was = out.get(k)
        out[k] = (k, o, h, low, cl, v) if was is None else (
            k, was[1], max(was[2], h), min(was[3], low), cl, was[5] + v)
    return [out[k] for k in sorted(out)]


def rates_array(bars: list[Candle]) -> npt.NDArray[np.void]:
    """MetaTrader's rates: volumes as whole units (the venue's volume, rounded), no spread."""
    out = np.zeros(len(bars), dtype=RATES_DTYPE)
    for i, (t, o, h, low, cl, v) in enumerate(bars):
        out[i] = (t, o, h, low, cl, round(v), 0, round(v))
    return out


def now() -> int:
    return int(time.time())


def ticks_array(ticks: list[tuple[int, float, float, float, float, int]]
                ) -> npt.NDArray[np.void]:  # fmt: skip
    """(time ms, bid, ask, last, volume, flags) rows as MetaTrader's ticks, oldest first."""
    out = np.zeros(len(ticks), dtype=TICKS_DTYPE)
    for i, (ms, bid, ask, last, volume, flags) in enumerate(sorted(ticks)):
        out[i] = (ms // 1000, bid, ask, last, round(volume), ms, flags, volume)
    return out


def trade_ticks(trades: list[dict[str, Any]]) -> list[tuple[int, float, float, float, float, int]]:
    out = []
    for t in trades:
        side = c.TICK_FLAG_BUY if t.get("side") == "buy" else (
            c.TICK_FLAG_SELL if t.get("side") == "sell" else 0)
        out.append((int(t.get("timestamp") or 0), 0.0, 0.0, num(t.get("price")),
                    num(t.get("amount")), c.TICK_FLAG_LAST | c.TICK_FLAG_VOLUME | side))
    return out


def quote_tick(ticker: dict[str, Any]) -> tuple[int, float, float, float, float, int]:
    flags = c.TICK_FLAG_BID | c.TICK_FLAG_ASK | (c.TICK_FLAG_LAST if ticker.get("last") else 0)
    return (int(ticker.get("timestamp") or 0), num(ticker.get("bid")), num(ticker.get("ask")),
            num(ticker.get("last")), 0.0, flags)  # fmt: skip


def wanted(flags: int) -> tuple[bool, bool]:
    """(quote ticks, trade ticks) a `COPY_TICKS_*` flag asks for."""
    if flags == c.COPY_TICKS_INFO:
        return True, False
    if flags == c.COPY_TICKS_TRADE:
        return False, True
    if flags == c.COPY_TICKS_ALL:
        return True, True
    raise Failure(c.RES_E_INVALID_PARAMS, f"{flags} is not a COPY_TICKS_* value")
