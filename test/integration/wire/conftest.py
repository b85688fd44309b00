"""A served paper venue on a free port (its own SQLite store), and CCXT's real classes pointed at
it by their `urls` only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from apps.oms.exchange.ccxt.instances import close_for_good
from apps.oms.store.accounts import insert_account, upsert_credentials
from apps.oms.store.migrate import upgrade_async
from apps.oms.store.store import Store
from apps.paper.wire.accounts import Credentials
from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue
from test.integration.pipeline_worker.conftest import with_sequencer_state


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Store]:
    """A gateway store of its own, on SQLite (the session's shared stores count their
    accounts), for tests that point a gateway account at a served venue."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.sqlite3'}"
    await upgrade_async(url)
    store = Store.from_url(url, pool_size=4)
    await with_sequencer_state(store)
    yield store
    await store.close()


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    """Binance spot served on a free port, over a store of its own (spread 0, unlimited depth:
    fills at the posted price)."""
    store = tmp_path_factory.mktemp("wire") / "venue.sqlite3"
    venue = await build_venue(f"sqlite+aiosqlite:///{store}", "binance")
    running = await start(venue)
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def futures(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    store = tmp_path_factory.mktemp("wire-usdm") / "venue.sqlite3"
    running = await start(await build_venue(f"sqlite+aiosqlite:///{store}", "binanceusdm"))
    yield running
    await running.stop()


#: CCXT's own request timeout for the tests' clients: a loaded machine may take seconds to
#: answer, and a test waits for the answer rather than bound its time (the fault tests that
#: need a client timeout set their own)
CLIENT_TIMEOUT_MS = 120_000


def spot_options(creds: Credentials | None) -> dict[str, Any]:
    """What a CCXT script sets for the local venue: keys, and spot markets only (the venue
    serves no futures or SAPI endpoints)."""
    config: dict[str, Any] = {"options": {"fetchMarkets": {"types": ["spot"]},
                                          "fetchCurrencies": False, "fetchMargins": False},
                              "timeout": CLIENT_TIMEOUT_MS}  # fmt: skip
    if creds is not None:
        config.update(apiKey=creds.api_key, secret=creds.secret)
    return config


def point(exchange: Any, running: Running) -> Any:
    """Override the REST and websocket URLs of a CCXT binance instance (nothing else)."""
    urls = running.urls()
    api = dict(exchange.urls["api"])
    api.update(public=urls["public"], private=urls["private"], v1=f"{running.rest_url}/api/v1")
    if "ws" in api:
        api["ws"] = {**api["ws"], "spot": urls["ws_stream"],
                     "ws-api": {**api["ws"]["ws-api"], "spot": urls["ws_api"]}}  # fmt: skip
    exchange.urls["api"] = api
    return exchange


@pytest.fixture
async def account(served: Running) -> Credentials:
    return await served.venue.new_account()


@pytest.fixture
async def binance(served: Running, account: Credentials) -> AsyncIterator[Any]:
    exchange = point(ccxt_async.binance(spot_options(account)), served)
    yield exchange
    await exchange.close()


@pytest.fixture
async def binance_pro(served: Running, account: Credentials) -> AsyncIterator[Any]:
    exchange = point(ccxt_pro.binance(spot_options(account)), served)
    yield exchange
    # CCXT Pro keeps a private stream's listen key alive by a timer (20 min later), which
    # opens a new HTTP session on an instance closed by a plain `close()`: nothing closes that
    await close_for_good(exchange)


async def set_price(running: Running, symbol: str, price: str) -> None:
    await running.venue.set_price(symbol, Decimal(price))


async def gateway_ccxt_account(gateway: Store, running: Running, exchange_id: str,
                               config: dict[str, Any]) -> tuple[int, Credentials]:  # fmt: skip
    """A netting testnet gateway account of `exchange_id` (`ccxt.binance`, …) whose CCXT
    `config` points at a new funded account of the served venue, its keys stored; and the
    venue account's keys."""
    creds = await running.venue.new_account()
    async with gateway.transaction() as conn:
        account_id = await insert_account(conn, exchange_id=exchange_id,
                                          label=exchange_id.rpartition(".")[2],
                                          position_mode="netting", is_testnet=True,
                                          is_live=False, config={"ccxt": config})  # fmt: skip
        await upsert_credentials(conn, account_id, api_key=creds.api_key, secret=creds.secret,
                                 passphrase=None)  # fmt: skip
    return account_id, creds
