"""Binance public data as pure mappings: ticker, depth, klines, intervals and limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.paper.domain.markets import DEFAULT_MARKETS
from apps.paper.wire import binance_public as public
from apps.paper.wire import binance_spot as spot
from apps.paper.wire.server import Weights
from apps.paper.wire.signing import WireError

D = Decimal
BTC = spot.spot_markets(DEFAULT_MARKETS)["BTCUSDT"]


def test_ticker_24hr_from_hourly_candles() -> None:
    ticker = {"last": D(51000), "bid": D("50999.9"), "ask": D("51000.1")}
    candles = [[0, D(50000), D(50500), D(49500), D(50200), D(2)],
               [3_600_000, D(50200), D(51200), D(50100), D(51000), D(3)]]  # fmt: skip
    body = public.ticker_24hr_json(BTC, ticker, candles, 90_000_000)
    assert (body["openPrice"], body["highPrice"], body["lowPrice"], body["lastPrice"]) == (
        "50000.00000000", "51200.00000000", "49500.00000000", "51000.00000000")
    assert (body["priceChange"], body["priceChangePercent"], body["volume"]) == (
        "1000.00000000", "2.000", "5.00000000")
    assert (body["bidPrice"], body["askPrice"]) == ("50999.90000000", "51000.10000000")


def test_depth_and_its_limits() -> None:
    book = {"bids": [[D(49999), D("0.5")]], "asks": [[D(50001), D(1)]]}
    assert public.depth_json(book, 42) == {"lastUpdateId": 42,
                                          "bids": [["49999.00000000", "0.50000000"]],
                                          "asks": [["50001.00000000", "1.00000000"]]}  # fmt: skip
    assert public.depth_limit({}) == 100
    assert public.depth_limit({"limit": "5"}) == 5
    with pytest.raises(WireError):
        public.depth_limit({"limit": "7"})


def test_klines() -> None:
    assert public.interval_ms("1m") == 60_000
    assert public.interval_ms("4h") == 14_400_000
    with pytest.raises(WireError) as excinfo:
        public.interval_ms("7m")
    assert excinfo.value.code == -1120
    row = public.kline_json([120_000, D(1), D(3), D("0.5"), D(2), D(10)], 60_000)
    assert row[:7] == [120_000, "1.00000000", "3.00000000", "0.50000000", "2.00000000",
                       "10.00000000", 179_999]  # fmt: skip
    assert row[7] == "20.00000000"  # quote volume at the close


def test_wanted_symbols() -> None:
    assert public.wanted_symbols({}) is None
    assert public.wanted_symbols({"symbol": "btcusdt"}) == ["BTCUSDT"]
    assert public.wanted_symbols({"symbols": '["BTCUSDT","ETHUSDT"]'}) == ["BTCUSDT", "ETHUSDT"]


def test_weights_per_client_and_minute() -> None:
    weights = Weights()
    assert weights.add(20, 60_000, "a") == 20
    assert weights.add(1, 60_001, "a") == 21
    assert weights.add(5, 60_002, "b") == 5
    assert weights.add(1, 120_000, "a") == 1  # a new minute


def test_book_ticker_and_premium_index() -> None:
    ticker = {"last": D(50000), "bid": D("49999.9"), "ask": D("50000.1")}
    assert public.book_ticker_json(BTC, ticker, 5)["askPrice"] == "50000.10000000"
    index = public.premium_index_json(BTC, ticker, 3_600_000)
    assert (index["markPrice"], index["lastFundingRate"], index["nextFundingTime"]) == (
        "50000.00000000", "0.00000000", 28_800_000)
