"""The quotes the gateway reads from a CCXT venue for its clients are the venue's last quotes
in the store (`service/venue_quotes.py`): acceptance values a market order at them (a
strategy's allocation, notional limits), where before nothing wrote them and a market order of
a strategy with an allocation on a CCXT account was always refused (`no_reference_price`)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from apps.oms.clock import utcnow
from apps.oms.service import venue_quotes
from apps.oms.service.risk_snapshot import reference_price
from apps.oms.store import quotes
from apps.oms.store.migrate import upgrade_async
from apps.oms.store.store import Store

D = Decimal
TICKER = {"symbol": "BTC/USDT", "bid": "49999.9", "ask": "50000.1", "last": "50000",
          "timestamp": 1}  # fmt: skip
BOOK = {"symbol": "BTC/USDT:USDT", "bids": [["50010", "1.5"], ["50000", "2"]],
        "asks": [["50020", "1"]], "nonce": None}  # fmt: skip


def test_seen_quotes_of_each_market_data_answer() -> None:
    assert venue_quotes.seen_quotes("fetch_ticker", TICKER) == [
        ("BTC/USDT", D("49999.9"), D("50000.1"), D(50000))]
    tickers = {"ETH/USDT": {**TICKER, "symbol": "ETH/USDT", "last": "3000"},
               "BTC/USDT": TICKER, "XRP/USDT": {"symbol": "XRP/USDT", "last": None}}
    assert [s[0] for s in venue_quotes.seen_quotes("fetch_tickers", tickers)] == [
        "BTC/USDT", "ETH/USDT"]  # sorted; a ticker with no price is left out
    assert venue_quotes.seen_quotes("fetch_l2_order_book", BOOK) == [
        ("BTC/USDT:USDT", D(50010), D(50020), None)]
    assert venue_quotes.seen_quotes("fetch_order_book", {**BOOK, "bids": [], "asks": []}) == []
    assert venue_quotes.seen_quotes("fetch_ohlcv", [[1, "1", "2", "0.5", "1", "3"]]) == []
    assert venue_quotes.seen_quotes("fetch_ticker", {"symbol": "X", "last": "NaN"}) == []


async def test_a_ccxt_venues_quotes_are_the_reference_price(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'quotes.sqlite3'}"
    await upgrade_async(url)
    store = Store.from_url(url)
    now = utcnow()
    try:
        async with store.read() as conn:
            assert await reference_price(conn, "ccxtpro.binance", "BTC/USDT", now) is None
        await venue_quotes.record(store, "ccxtpro.binance", "fetch_ticker", TICKER, now)
        await venue_quotes.record(store, "ccxtpro.binanceusdm", "fetch_l2_order_book", BOOK,
                                  now)  # fmt: skip
        async with store.read() as conn:
            assert await reference_price(conn, "ccxtpro.binance", "BTC/USDT", now) == D(50000)
            # an order book has no last price: the middle of its best bid and ask
            assert await reference_price(conn, "ccxtpro.binanceusdm", "BTC/USDT:USDT",
                                         now) == D(50015)  # fmt: skip
            # another venue's quote is not this one's; an old quote is no reference
            assert await reference_price(conn, "ccxt.okx", "BTC/USDT", now) is None
            later = now + timedelta(seconds=11)
            assert await reference_price(conn, "ccxtpro.binance", "BTC/USDT", later) is None
        # a newer quote replaces the last one
        await venue_quotes.record(store, "ccxtpro.binance", "fetch_ticker",
                                  {**TICKER, "last": "50100"}, now + timedelta(seconds=5))
        async with store.read() as conn:
            assert await reference_price(conn, "ccxtpro.binance", "BTC/USDT",
                                         now + timedelta(seconds=5)) == D(50100)  # fmt: skip
        # the paper venue keeps its own prices: nothing recorded for it, and no other read is
        await venue_quotes.record(store, "paper", "fetch_ticker", TICKER, now)
        await venue_quotes.record(store, "ccxtpro.binance", "fetch_ohlcv", [], now)
        await venue_quotes.record(store, None, "fetch_ticker", TICKER, now)
        async with store.read() as conn:
            assert await quotes.venue_quote(conn, "paper", "BTC/USDT") is None
    finally:
        await store.close()


def test_a_symbols_quote_is_written_at_most_once_a_second() -> None:
    now = utcnow()
    seen = venue_quotes.seen_quotes("fetch_tickers", {
        "BTC/USDT": TICKER, "ETH/USDT": {**TICKER, "symbol": "ETH/USDT"}})
    written = {("v", "BTC/USDT"): now - timedelta(milliseconds=999),
               ("v", "ETH/USDT"): now - timedelta(seconds=1), ("w", "BTC/USDT"): now}
    # BTC on venue v was written 0.999 s ago: not yet; ETH 1 s ago: again; another venue's
    # write does not count; a clock that went back writes
    assert [q[0] for q in venue_quotes.due(seen, written, "v", now)] == ["ETH/USDT"]
    assert [q[0] for q in venue_quotes.due(seen, {}, "v", now)] == ["BTC/USDT", "ETH/USDT"]
    assert [q[0] for q in venue_quotes.due(seen, written, "w", now - timedelta(seconds=2))] == [
        "BTC/USDT", "ETH/USDT"]


async def test_repeated_reads_write_once_a_second(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'quotes.sqlite3'}"
    await upgrade_async(url)
    store = Store.from_url(url)
    now = utcnow()
    try:
        await venue_quotes.record(store, "ccxt.binance", "fetch_ticker", TICKER, now)
        await venue_quotes.record(store, "ccxt.binance", "fetch_ticker", {**TICKER, "last": "1"},
                                  now + timedelta(milliseconds=500))  # fmt: skip
        async with store.read() as conn:
            assert await reference_price(conn, "ccxt.binance", "BTC/USDT", now) == D(50000)
        await venue_quotes.record(store, "ccxt.binance", "fetch_ticker", {**TICKER, "last": "2"},
                                  now + timedelta(seconds=1))  # fmt: skip
        async with store.read() as conn:
            assert await reference_price(conn, "ccxt.binance", "BTC/USDT",
                                         now + timedelta(seconds=1)) == D(2)  # fmt: skip
    finally:
        await store.close()
