"""Price feeds into the store: manual prices, random walk, replay, and `live:<id>` through CCXT
with a recorded-shape response injected at CCXT's `fetch` (no network here)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from apps.paper.domain.matching import Venue
from apps.paper.exchange.feeds import (
    SAMPLE_REPLAY,
    LiveFeed,
    RandomWalkFeed,
    ReplayFeed,
    build_feed,
)
from apps.paper.exchange.market_data import get_paper_prices, set_paper_price
from apps.paper.store.venue_store import PaperStore

D = Decimal

# Shape of Binance's GET /api/v3/ticker/24hr?symbol=... response (values made up).
BINANCE_TICKER = {
    "symbol": "BTCUSDT", "priceChange": "623.45", "priceChangePercent": "0.98",
    "weightedAvgPrice": "64000.1", "prevClosePrice": "63500.00", "lastPrice": "64123.45",
    "lastQty": "0.010", "bidPrice": "64123.40", "bidQty": "1.2", "askPrice": "64123.50",
    "askQty": "0.8", "openPrice": "63500.00", "highPrice": "65000.00", "lowPrice": "63000.00",
    "volume": "100.5", "quoteVolume": "6400000.1", "openTime": 1700000000000,
    "closeTime": 1700086400000, "firstId": 1, "lastId": 2, "count": 2,
}


async def test_manual_prices_set_and_read(engine) -> None:  # type: ignore[no-untyped-def]
    store, venue = PaperStore(engine), Venue()
    first = await set_paper_price(store, venue, "SOL/USDT", D("151.234"))
    second = await set_paper_price(store, venue, "SOL/USDT", D("152"), D("151.9"), D("152.1"))
    assert second.seq == first.seq + 1
    prices = await get_paper_prices(store, venue, ["SOL/USDT", "SOL/USDT:USDT"])
    assert (prices["SOL/USDT"].last, prices["SOL/USDT"].bid) == (D(152), D("151.9"))
    with pytest.raises(ccxt.BadSymbol):
        await set_paper_price(store, venue, "NOPE/USDT", D(1))
    with pytest.raises(ccxt.InvalidOrder):
        await set_paper_price(store, venue, "SOL/USDT", D(-1))


async def test_random_walk_feed_is_deterministic(engine) -> None:  # type: ignore[no-untyped-def]
    store = PaperStore(engine)
    feed = RandomWalkFeed(store, Venue(), seed=11, clock=lambda: 1_760_000_000_000)
    moved = await feed.advance()
    assert {q.symbol for q in moved} == set(Venue().by_symbol)
    assert all(q.last > 0 for q in moved)


async def test_replay_feed_prices_spot_and_perp(engine) -> None:  # type: ignore[no-untyped-def]
    feed = ReplayFeed.from_path(PaperStore(engine), Venue(), SAMPLE_REPLAY)
    first = await feed.advance()
    assert {q.symbol for q in first} == {"BTC/USDT", "BTC/USDT:USDT"}
    assert first[0].last == D(50000)
    assert (await feed.advance())[0].last == feed.ticks[1].price


async def test_live_feed_through_ccxt_fetch_override(engine) -> None:  # type: ignore[no-untyped-def]
    exchange = ccxt_async.binance()
    exchange.set_markets([{
        "id": f"{base}USDT", "symbol": f"{base}/USDT", "base": base, "quote": "USDT",
        "baseId": base, "quoteId": "USDT", "type": "spot", "spot": True, "swap": False,
        "future": False, "option": False, "contract": False, "active": True,
        "precision": {}, "limits": {}, "info": {},
    } for base in ("BTC", "ETH", "SOL")])
    calls: list[str] = []

    async def recorded(url: str, method: str = "GET", headers: Any = None,
                       body: Any = None) -> dict[str, Any]:
        calls.append(url)
        symbol = url.rsplit("symbol=", 1)[1]
        return dict(BINANCE_TICKER, symbol=symbol)

    exchange.fetch = recorded
    feed = LiveFeed(PaperStore(engine), Venue(), exchange, clock=lambda: 1_760_000_000_000)
    try:
        moved = await feed.advance()
    finally:
        await feed.close()
    assert len(calls) == 3
    assert calls[0].endswith("/api/v3/ticker/24hr?symbol=BTCUSDT")
    btc = {q.symbol: q for q in moved}
    # stored on the paper market's 0.1 tick: last to the nearest, bid down, ask up
    assert (btc["BTC/USDT"].last, btc["BTC/USDT"].bid, btc["BTC/USDT"].ask) == (
        D("64123.5"), D("64123.4"), D("64123.5"))
    assert btc["BTC/USDT:USDT"].last == D("64123.5")


def test_build_feed_names(engine) -> None:  # type: ignore[no-untyped-def]
    store, venue = PaperStore(engine), Venue()
    assert build_feed("manual", store, venue) is None
    assert isinstance(build_feed("random_walk", store, venue), RandomWalkFeed)
    assert isinstance(build_feed(f"replay:{SAMPLE_REPLAY}", store, venue), ReplayFeed)
    with pytest.raises(ValueError, match="unknown paper price source"):
        build_feed("sideways", store, venue)
