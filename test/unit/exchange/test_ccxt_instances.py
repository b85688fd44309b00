"""Exchange instances per engine: `ccxt.<id>` is `ccxt.async_support`, `ccxtpro.<id>` is
`ccxt.pro` (same class family, plus `watch_*`), testnet accounts run in sandbox mode; the
market-data feed is `watch` where the instance streams the channel, else `poll`."""

from __future__ import annotations

from typing import ClassVar

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from apps.api.ws.market_sources import feed_mode
from apps.oms.config import Settings
from apps.oms.errors import OmsError
from apps.oms.exchange.ccxt.instances import build_ccxt_exchange
from apps.paper.exchange.market_data import PaperMarketData


async def test_engines_build_their_class_family_in_sandbox() -> None:
    plain = build_ccxt_exchange({"exchange_id": "ccxt.binance", "is_testnet": True}, Settings())
    pro = build_ccxt_exchange({"exchange_id": "ccxtpro.binance", "is_testnet": True}, Settings())
    try:
        assert type(plain) is ccxt_async.binance
        assert isinstance(pro, ccxt_pro.binance)
        assert isinstance(pro, ccxt_async.binance)
        assert "testnet" in str(plain.urls["api"])
        assert "testnet" in str(pro.urls["api"])
        assert feed_mode(plain, "ticker") == "poll"
        assert feed_mode(pro, "ticker") == "watch"
        assert feed_mode(pro, "ohlcv") == "watch"
    finally:
        await plain.close()
        await pro.close()


def test_unknown_engines_are_refused() -> None:
    for exchange_id in ("ccxt.nope", "ccxtpro.", "kraken"):
        with pytest.raises(OmsError) as info:
            build_ccxt_exchange({"exchange_id": exchange_id}, Settings())
        assert info.value.code == "unsupported_engine"


def test_a_venue_without_the_channel_is_not_supported() -> None:
    class Bare:
        id = "bare"
        has: ClassVar[dict[str, bool]] = {"fetchTicker": True}
        fetch_ticker = PaperMarketData.fetch_ticker

    assert feed_mode(Bare(), "ticker") == "poll"
    with pytest.raises(OmsError) as info:
        feed_mode(Bare(), "orderbook")
    assert info.value.code == "not_supported"
