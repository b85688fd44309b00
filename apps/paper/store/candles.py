"""Candles of the shared paper market in the store: every stored price updates its candles in
the same transaction (`record`, called by `PaperStore.put_quotes` under its lock of the price
rows), `fetch_ohlcv` reads them (`read`), and a seeded history is written once per symbol and
timeframe before its first candle (`ensure_history`, under the same lock).

Candles are merged in Python, not with SQL `GREATEST`/`LEAST`: SQLite keeps money as exact
decimal text, which SQL would compare as text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Insert, and_, delete, insert, select
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.paper.domain.book import Quote
from apps.paper.domain.candles import (
    TIMEFRAMES,
    Candle,
    PathPoint,
    Window,
    bucket,
    fold,
    merge,
    tick_volume,
)
from apps.paper.store.tables import paper_candles, paper_prices

C = paper_candles.c
#: Candles kept per symbol and timeframe (older ones are pruned with the price path).
KEEP = 5000
Key = tuple[str, str, int]
#: What a missing history is made from: (anchor opening time, anchor price) → candles.
History = Callable[[int, Decimal], list[Candle]]


def _candle(r: Any) -> Candle:
    return Candle(int(r.open_ms), r.open, r.high, r.low, r.close, r.volume)


def _row(symbol: str, timeframe: str, c: Candle, synthetic: bool) -> dict[str, Any]:
    return {"symbol": symbol, "timeframe": timeframe, "open_ms": c.open_ms, "open": c.open,
            "high": c.high, "low": c.low, "close": c.close, "volume": c.volume,
            "synthetic": synthetic}  # fmt: skip


def path_candles(quotes: Sequence[Quote]) -> dict[Key, Candle]:
    """The candles of stored prices (in the order stored), every timeframe, by key."""
    points: dict[str, list[PathPoint]] = {}
    for q in quotes:
        points.setdefault(q.symbol, []).append(
            PathPoint(q.timestamp_ms, q.last, tick_volume(q.symbol, q.seq)))
    return {(symbol, tf, c.open_ms): c
            for symbol, path in points.items()
            for tf, tf_ms in TIMEFRAMES.items()
            for c in fold(path, tf_ms)}  # fmt: skip


def _upsert(dialect: str) -> Insert:
    """Insert, or overwrite every value of an existing candle (already merged in Python)."""
    values = ("open", "high", "low", "close", "volume", "synthetic")
    if dialect == "sqlite":
        stmt = sqlite_insert(paper_candles)
        return stmt.on_conflict_do_update(
            index_elements=[C.symbol, C.timeframe, C.open_ms],
            set_={v: stmt.excluded[v] for v in values})
    mysql = mysql_insert(paper_candles)
    return mysql.on_duplicate_key_update({v: mysql.inserted[v] for v in values})


async def record(conn: AsyncConnection, quotes: Sequence[Quote]) -> None:
    """Fold stored prices into their candles: one read of the candles they touch, one upsert.
    The caller holds the lock of these symbols' price rows (no other writer of the rows)."""
    fresh = path_candles(quotes)
    if not fresh:
        return
    query = select(paper_candles).where(
        C.symbol.in_(sorted({k[0] for k in fresh})),
        C.timeframe.in_(sorted({k[1] for k in fresh})),
        C.open_ms.in_(sorted({k[2] for k in fresh})))  # a superset: filtered below
    stored = {(str(r.symbol), str(r.timeframe), int(r.open_ms)): r
              for r in await conn.execute(query)}  # fmt: skip
    rows = []
    for key in sorted(fresh):
        old = stored.get(key)
        merged = merge(None if old is None else _candle(old), fresh[key])
        rows.append(_row(key[0], key[1], merged, bool(old is not None and old.synthetic)))
    await conn.execute(_upsert(conn.dialect.name), rows)


async def read(
    conn: AsyncConnection, symbol: str, timeframe: str, win: Window
) -> tuple[list[Candle], Candle | None]:
    """The stored candles of the window, oldest first, and the last one before it."""
    key = and_(C.symbol == symbol, C.timeframe == timeframe)
    rows = await conn.execute(select(paper_candles).where(
        key, C.open_ms >= win.start_ms, C.open_ms <= win.end_ms).order_by(C.open_ms))
    before = (await conn.execute(select(paper_candles).where(key, C.open_ms < win.start_ms)
                                 .order_by(C.open_ms.desc()).limit(1))).first()  # fmt: skip
    return [_candle(r) for r in rows], None if before is None else _candle(before)


async def first_open(conn: AsyncConnection, symbol: str, timeframe: str) -> int | None:
    """Opening time of the first candle of (symbol, timeframe) there is."""
    found = (await conn.execute(select(C.open_ms).where(C.symbol == symbol, C.timeframe ==
                                timeframe).order_by(C.open_ms).limit(1))).scalar()  # fmt: skip
    return None if found is None else int(found)


async def history_state(conn: AsyncConnection, symbol: str, timeframe: str) -> tuple[bool, str]:
    """Whether the seeded history of (symbol, timeframe) is written, and the price's source."""
    written = (await conn.execute(select(C.open_ms).where(
        C.symbol == symbol, C.timeframe == timeframe, C.synthetic.is_(True)).limit(1))).first()
    source = (await conn.execute(
        select(paper_prices.c.source).where(paper_prices.c.symbol == symbol))).scalar()
    return written is not None, str(source or "")


async def ensure_history(
    conn: AsyncConnection, symbol: str, timeframe: str, now_ms: int, make: History
) -> None:
    """Write the seeded history of (symbol, timeframe) unless it is written or a replay moves
    the market (a replay's history is what it plays). Anchored on the first candle there is,
    else on the candle open now at the current price. Locks the symbol's price row first, as
    `put_quotes` does, so writers of the same candles queue instead of deadlocking."""
    lock = select(paper_prices.c.source, paper_prices.c.last).where(
        paper_prices.c.symbol == symbol)
    if conn.dialect.name != "sqlite":  # SQLite: BEGIN IMMEDIATE serialises writers
        lock = lock.with_for_update()
    price = (await conn.execute(lock)).first()
    written, _ = await history_state(conn, symbol, timeframe)
    if price is None or written or str(price.source) == "replay":
        return
    first = (await conn.execute(select(C.open_ms, C.open).where(  # the anchor
        C.symbol == symbol, C.timeframe == timeframe).order_by(C.open_ms).limit(1))).first()
    anchor = ((int(first.open_ms), first.open) if first is not None
              else (bucket(now_ms, TIMEFRAMES[timeframe]), price.last))  # fmt: skip
    candles = make(*anchor)
    if candles:
        await conn.execute(insert(paper_candles),
                           [_row(symbol, timeframe, c, True) for c in candles])


async def prune(
    conn: AsyncConnection, symbols: Sequence[str], now_ms: int, keep: int = KEEP
) -> None:
    """Forget the candles of `symbols` more than `keep` periods old, per timeframe."""
    for symbol in symbols:
        for timeframe, tf_ms in TIMEFRAMES.items():
            await conn.execute(delete(paper_candles).where(
                C.symbol == symbol, C.timeframe == timeframe,
                C.open_ms < now_ms - keep * tf_ms))
