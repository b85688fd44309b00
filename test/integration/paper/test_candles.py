"""`fetch_ohlcv` of the paper venue over a real store (SQLite and MariaDB): candles built from the
stored price path in the price's own transaction, a seeded history written once before the
first candle, CCXT's since/limit, quiet periods filled, bad arguments refused. Each test has a
market of its own (a fresh symbol), so the session's shared store does not mix in."""

from __future__ import annotations

import asyncio
import secrets
from decimal import Decimal

import ccxt
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from apps.oms.domain.markets import Market
from apps.paper.domain.book import make_quote
from apps.paper.domain.candles import (
    MINUTE_MS,
    PathPoint,
    Window,
    backfill,
    continuous,
    fold,
    tick_volume,
)
from apps.paper.domain.markets import MarketList
from apps.paper.domain.matching import Venue
from apps.paper.exchange.market_data import PaperMarketData
from apps.paper.store.venue_store import PaperStore

D = Decimal
T0 = 1_760_000_000_000 - 1_760_000_000_000 % 86_400_000 + 600_000  # 00:10 UTC


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def market_data(engine: AsyncEngine, clock: Clock, seed: int = 42) -> PaperMarketData:
    symbol = f"C{secrets.token_hex(3).upper()}/USDT"
    market = Market(symbol, symbol.split("/")[0], "USDT", None, "spot", D("0.001"), D("0.1"),
                    D("0.001"), D(5))
    return PaperMarketData(PaperStore(engine), Venue(markets=MarketList.of([market])), clock,
                           history_seed=seed)


async def store_path(md: PaperMarketData, path: list[tuple[int, str]]) -> list[PathPoint]:
    """Stores the prices in one write per call, as the scheduler does; the path's points."""
    market = next(iter(md.venue.by_symbol.values()))
    quotes = [make_quote(market, D(p), md.venue.book, timestamp_ms=ts) for ts, p in path]
    stored = await md.store.put_quotes(quotes, "random_walk")
    return [PathPoint(q.timestamp_ms, q.last, tick_volume(q.symbol, q.seq)) for q in stored]


def symbol_of(md: PaperMarketData) -> str:
    return next(iter(md.venue.by_symbol))


async def test_candles_follow_the_path_with_history_before_it(engine: AsyncEngine) -> None:
    clock = Clock(T0 + 4 * MINUTE_MS + 1_000)
    md = market_data(engine, clock)
    symbol = symbol_of(md)
    points = await store_path(md, [(T0 + 1_000, "100"), (T0 + 20_000, "103.5"),
                                   (T0 + 40_000, "99")])
    points += await store_path(md, [(T0 + 61_000, "101"), (T0 + 2 * MINUTE_MS + 5, "102.2")])
    rows = await md.fetch_ohlcv(symbol, "1m")
    assert len(rows) == 1000  # the default (and maximum) limit
    assert rows[-1][0] == T0 + 4 * MINUTE_MS  # up to the candle open now
    live = fold(points, MINUTE_MS)
    want = continuous(live, None, Window(T0, T0 + 4 * MINUTE_MS), MINUTE_MS)
    assert rows[-5:] == [c.row() for c in want]
    assert rows[-5] == [T0, D(100), D("103.5"), D(99), D(99), live[0].volume]
    assert rows[-1] == [T0 + 4 * MINUTE_MS, D("102.2"), D("102.2"), D("102.2"), D("102.2"), D(0)]
    # the seeded history ends where the path starts, at the price it started with
    history = backfill(42, symbol, MINUTE_MS, T0, D(100), D("0.1"))
    assert rows[:-5] == [c.row() for c in history[-995:]]
    # a longer timeframe holds the same path in one candle
    (five,) = await md.fetch_ohlcv(symbol, "5m", since=T0)
    assert five == [T0, D(100), D("103.5"), D(99), D("102.2"), sum(p.volume for p in points)]


async def test_since_and_limit_as_ccxt_documents_them(engine: AsyncEngine) -> None:
    clock = Clock(T0 + 10 * MINUTE_MS)
    md = market_data(engine, clock)
    symbol = symbol_of(md)
    await store_path(md, [(T0 + 1_000, "100"), (T0 + 3 * MINUTE_MS, "105")])
    two = await md.fetch_ohlcv(symbol, "1m", since=T0 + MINUTE_MS, limit=2)
    assert [r[0] for r in two] == [T0 + MINUTE_MS, T0 + 2 * MINUTE_MS]
    assert [r[4] for r in two] == [D(100), D(100)]  # quiet minutes: flat at the last close
    inside = await md.fetch_ohlcv(symbol, "1m", since=T0 + MINUTE_MS + 1, limit=1)
    assert [r[0] for r in inside] == [T0 + 2 * MINUTE_MS]  # opening at or after since
    newest = await md.fetch_ohlcv(symbol, "1m", limit=3)
    assert [r[0] for r in newest] == [T0 + 8 * MINUTE_MS, T0 + 9 * MINUTE_MS, T0 + 10 * MINUTE_MS]
    assert await md.fetch_ohlcv(symbol, "1m", since=T0 + 11 * MINUTE_MS) == []
    early = await md.fetch_ohlcv(symbol, "1h", since=0, limit=5)
    assert len(early) == 5  # from the first candle of the history on
    assert early[0][0] == T0 - T0 % 3_600_000 - 1000 * 3_600_000


async def test_history_is_written_once_and_survives_a_new_instance(engine: AsyncEngine) -> None:
    clock = Clock(T0 + 30_000)
    md = market_data(engine, clock, seed=7)
    symbol = symbol_of(md)
    await store_path(md, [(T0 + 1_000, "250")])
    first, again = await asyncio.gather(md.fetch_ohlcv(symbol, "15m"),
                                        md.fetch_ohlcv(symbol, "15m"))  # racing first reads
    assert first == again
    other = PaperMarketData(PaperStore(engine), md.venue, clock, history_seed=8)
    assert await other.fetch_ohlcv(symbol, "15m") == first  # stored: the seed no longer matters
    history = backfill(7, symbol, 15 * MINUTE_MS, T0 - T0 % (15 * MINUTE_MS), D(250), D("0.1"))
    assert first[:-1] == [c.row() for c in history[1:]]


async def test_a_market_that_never_moved_starts_its_history_at_the_price_now(
    engine: AsyncEngine,
) -> None:
    clock = Clock(T0 + 90_000)
    md = market_data(engine, clock)
    symbol = symbol_of(md)
    rows = await md.fetch_ohlcv(symbol, "1m", limit=2)
    price = md.venue.markets.default_price(symbol)
    assert rows[-1] == [T0 + MINUTE_MS, price, price, price, price, D(0)]
    assert rows[-2][4] == price  # the history closes at the price it is anchored on


async def test_a_replay_gives_its_own_history(engine: AsyncEngine) -> None:
    clock = Clock(T0 + 5_000)
    md = market_data(engine, clock)
    symbol = symbol_of(md)
    market = md.venue.by_symbol[symbol]
    await md.store.put_quotes([make_quote(market, D(10), md.venue.book, timestamp_ms=T0 + 1)],
                              "replay")
    rows = await md.fetch_ohlcv(symbol, "1m")
    assert rows == [[T0, D(10), D(10), D(10), D(10), rows[0][5]]]


@pytest.mark.parametrize(("timeframe", "since", "limit", "message"), [
    ("7m", None, None, "not served"), ("1m", None, 0, "limit"), ("1m", -1, None, "since")])
async def test_bad_arguments_are_ccxt_bad_requests(
    engine: AsyncEngine, timeframe: str, since: int | None, limit: int | None, message: str
) -> None:
    md = market_data(engine, Clock(T0))
    with pytest.raises(ccxt.BadRequest, match=message):
        await md.fetch_ohlcv(symbol_of(md), timeframe, since, limit)
    with pytest.raises(ccxt.BadSymbol):
        await md.fetch_ohlcv("NOPE/USDT", "1m")
