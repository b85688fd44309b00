"""`describe()` / `has` merged with the venue's capabilities (`GET /ccxt/{account_id}/has`): the
OMS features stay True, venue-only functions the venue has become True and are forwarded."""

from __future__ import annotations

import asyncio

import ccxt
import ccxt.async_support
import pytest

from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store
from ccxt_driver import OmsCcxtExchange, OmsCcxtProExchange
from ccxt_driver.base import OMS_HAS, merged_has
from test.driver.conftest import Stack, make_sync

pytestmark = pytest.mark.mysql
OMS_FEATURES = [k for k, v in OMS_HAS.items() if v is True and k not in (
    "spot", "swap", "fetchMarkets", "fetchTicker", "fetchTickers", "fetchOrderBook",
    "fetchTrades", "fetchOHLCV", "fetchBalance")]  # fmt: skip


def binance_account(stack: Stack) -> int:
    """A `ccxt.binance` testnet account of the trader (no network: `has` is static)."""

    async def run() -> int:
        store = Store.from_url(stack.url)
        try:
            async with store.transaction() as conn:
                return await admin.add_account(
                    conn, CLI_ACTOR, user_id=stack.user_id, exchange_id="ccxt.binance",
                    label="drv-bn", position_mode="netting", testnet=True, live=False)
        finally:
            await store.close()

    return asyncio.run(run())


def test_merge_rule() -> None:
    own = {**OMS_HAS, "fetchFundingRate": None}
    venue = {"createOrder": False, "fetchMyTrades": False, "closeAllPositions": True,
             "fetchFundingRate": True, "future": True, "fetchTicker": "emulated",
             "privateGetX": True}
    has = merged_has(own, venue)
    assert all(has[k] is True for k in OMS_FEATURES)
    assert has["closeAllPositions"] is False  # the driver does not implement it
    assert (has["fetchFundingRate"], has["future"], has["fetchTicker"]) == (True, True, "emulated")
    assert "privateGetX" not in has


def test_load_markets_merges_the_paper_venue(ex: OmsCcxtExchange, stack: Stack) -> None:
    venue = stack.get(f"/ccxt/{ex.account_id}/has")
    assert venue["venue"] == "paper"
    assert ex.options["venueHas"] == venue["has"]
    assert all(ex.has[k] is True for k in OMS_FEATURES)
    assert ex.describe()["has"] == ex.has
    # CCXT's `timeframes`: the candle periods the venue's fetch_ohlcv serves
    assert venue["timeframes"] == {tf: tf for tf in ("1m", "5m", "15m", "30m", "1h", "4h", "1d")}
    assert ex.timeframes == ex.describe()["timeframes"] == venue["timeframes"]


def test_ccxt_venue_capabilities_are_merged_and_forwarded(stack: Stack) -> None:
    account = binance_account(stack)
    bn = make_sync(stack, account)
    assert bn.has.get("fetchFundingRate") is not True  # before: only the OMS capabilities
    has = bn.load_venue_has()
    raw = stack.get(f"/ccxt/{account}/has")["has"]
    assert raw["fetchFundingRate"] is True
    assert has["fetchFundingRate"] is True
    assert has["future"] == raw["future"]
    assert all(has[k] is True for k in OMS_FEATURES)
    assert bn.describe()["has"]["fetchFundingRate"] is True
    assert bn.timeframes == ccxt.binance().timeframes  # the venue's, as the gateway reports them
    assert "1s" in bn.timeframes
    assert OmsCcxtExchange.fetch_funding_rate is not ccxt.Exchange.fetch_funding_rate
    assert OmsCcxtProExchange.fetch_funding_rate is not ccxt.async_support.Exchange.fetch_funding_rate


async def test_pro_has_watch_methods(pro: OmsCcxtProExchange) -> None:
    assert all(pro.has[k] is True for k in ("watchOrders", "watchMyTrades", "watchPositions",
                                               "watchTicker", "watchOHLCV"))
    assert all(pro.has[k] is True for k in OMS_FEATURES)
    assert pro.options["venueHas"]["fetchMyTrades"] is True
