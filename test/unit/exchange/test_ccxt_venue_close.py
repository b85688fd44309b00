"""A closed CCXT instance stays closed: a request that goes on after the close (one queued behind
a failed call, a stream reconnecting) fails instead of opening an HTTP session nothing would
close. The worker's venues (`CcxtVenue.close`) and the API's instances (`ExchangeRegistry.close`)
both close that way."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.oms.config import Settings
from apps.oms.exchange.ccxt.instances import ExchangeRegistry
from apps.oms.exchange.ccxt.venue import CcxtVenue
from apps.oms.store.accounts import insert_account
from apps.oms.store.migrate import upgrade_async
from apps.oms.store.store import Store

NOWHERE = "http://127.0.0.1:9/api/v3"


async def test_a_request_after_close_opens_no_session() -> None:
    import ccxt.async_support as ccxt_async

    exchange = ccxt_async.binance({"urls": {"api": {"public": NOWHERE}}})
    venue = CcxtVenue(exchange)
    await venue.close()
    with pytest.raises(RuntimeError, match="Session is closed"):
        await exchange.fetch(f"{NOWHERE}/time")
    assert exchange.session is not None
    assert exchange.session.closed
    await venue.close()  # closing again is harmless
    assert exchange.session.closed


async def test_the_apis_instances_close_for_good(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.sqlite3'}"
    await upgrade_async(url)
    store = Store.from_url(url)
    try:
        async with store.transaction() as conn:
            account_id = await insert_account(
                conn, exchange_id="ccxt.binanceusdm", label="usdm", position_mode="netting",
                is_testnet=False, is_live=False, config={"ccxt": {"urls": {"api": {
                    "fapiPublic": "http://127.0.0.1:9/fapi/v1"}}}})  # fmt: skip
        registry = ExchangeRegistry(store, Settings())
        exchange = await registry.get(account_id)
        await registry.close()
        with pytest.raises(RuntimeError, match="Session is closed"):
            await exchange.fetch("http://127.0.0.1:9/fapi/v1/time")
        assert exchange.session.closed
    finally:
        await store.close()
