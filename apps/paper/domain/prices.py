"""Price sources of the simulated market, as pure functions: seeded random walk and CSV replay.

No floats: the walk draws integers from SHA-256 of (seed, symbol, step), so the same seed gives
the same path on every machine. Replay turns candle or trade rows into a tick sequence.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from apps.oms.domain.money import parse_decimal
from apps.paper.domain.book import BPS, round_to_step


@dataclass(frozen=True, slots=True)
class Tick:
    """One replayed price: epoch ms, symbol, price."""

    timestamp_ms: int
    symbol: str
    price: Decimal


def draw(seed: int, *key: object) -> int:
    """A deterministic integer in [0, 2**64) for (seed, key...)."""
    text = ":".join(str(part) for part in (seed, *key)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


def unit_draw(seed: int, *key: object) -> Decimal:
    """A deterministic Decimal in [0, 1) with 6 digits, for rates and probabilities."""
    return Decimal(draw(seed, *key) % 1_000_000) / Decimal(1_000_000)


def random_walk_step(
    price: Decimal, seed: int, symbol: str, step: int, step_bps: Decimal, tick: Decimal
) -> Decimal:
    """Next price of a symmetric walk: a uniform move within ±step_bps, rounded to `tick`,
    never below one tick."""
    move = Decimal(draw(seed, symbol, step) % 20001 - 10000) / Decimal(10000)
    moved = price * (1 + move * step_bps / BPS)
    return max(tick, round_to_step(moved, tick, up=move > 0))


def parse_replay(text: str, default_symbol: str) -> list[Tick]:
    """Ticks from a CSV with a header: candles (`timestamp,open,high,low,close[,volume]`) or
    trades (`timestamp,price[,amount,side]`), optional `symbol` column, timestamps in epoch ms.

    A candle yields open, then the extreme nearer the open, the other extreme, and close.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = [name.strip().lower() for name in lines[0].split(",")]
    ticks: list[Tick] = []
    for line in lines[1:]:
        row = dict(zip(header, (cell.strip() for cell in line.split(",")), strict=False))
        symbol = row.get("symbol") or default_symbol
        ts = int(row["timestamp"])
        ticks.extend(Tick(ts, symbol, p) for p in _row_prices(row))
    return ticks


def _row_prices(row: dict[str, str]) -> Iterable[Decimal]:
    if "close" not in row:
        return (parse_decimal(row["price"]),)
    o, h, low, c = (parse_decimal(row[k]) for k in ("open", "high", "low", "close"))
    return (o, low, h, c) if c >= o else (o, h, low, c)


def replay_delays(ticks: list[Tick]) -> list[int]:
    """Milliseconds of recorded time after each tick until the next one. The ticks of one
    timestamp (a candle's four prices, a burst of trades) share the gap to the next timestamp
    evenly; the last timestamp gets the gap before it (0 if there is none)."""
    stamps = sorted({t.timestamp_ms for t in ticks})
    gaps = {a: b - a for a, b in itertools.pairwise(stamps)}
    if len(stamps) > 1:
        gaps[stamps[-1]] = gaps[stamps[-2]]
    counts = collections.Counter(t.timestamp_ms for t in ticks)
    return [max(0, gaps.get(t.timestamp_ms, 0)) // counts[t.timestamp_ms] for t in ticks]
