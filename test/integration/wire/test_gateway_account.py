"""A gateway account pointed at the local venue by configuration (`config.ccxt.urls`, `options`):
the instance the worker builds for it (`build_ccxt_exchange`, testnet sandbox mode included)
talks to the served venue, and the gateway's CCXT adapter reads what the venue booked, exact."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from apps.oms.config import Settings
from apps.oms.errors import ValidationFailed
from apps.oms.exchange.ccxt.instances import build_ccxt_exchange
from apps.oms.exchange.ccxt.venue import CcxtVenue
from apps.oms.service.admin import add_account, validate_ccxt_config
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.ccxt_records import venue_account
from apps.oms.store.migrate import upgrade_async
from apps.oms.store.store import Store
from apps.paper.wire.accounts import Credentials
from apps.paper.wire.process import Running

D = Decimal


def account_row(served: Running, engine: str = "ccxtpro.binance") -> dict[str, object]:
    urls = served.urls()
    return {"exchange_id": engine, "is_testnet": True, "config": {"ccxt": {
        "urls": {"public": urls["public"], "private": urls["private"],
                 "ws": {"spot": urls["ws_stream"], "ws-api": {"spot": urls["ws_api"]}}},
        "options": {"fetchMarkets": {"types": ["spot"]}},
    }}}  # fmt: skip


async def test_the_workers_instance_trades_the_local_venue(served: Running,
                                                           account: Credentials) -> None:
    exchange = build_ccxt_exchange(account_row(served), Settings())
    exchange.apiKey, exchange.secret = account.api_key, account.secret  # stored encrypted in use
    venue = CcxtVenue(exchange)
    try:
        assert exchange.urls["api"]["public"] == served.urls()["public"]
        assert exchange.urls["api"]["ws"]["ws-api"]["spot"] == served.urls()["ws_api"]
        assert exchange.urls["api"]["ws"]["future"].startswith("wss://")  # the rest untouched
        order = await venue.create_order("ETH/USDT", "market", "buy", D("0.5"), None,
                                         {"clientOrderId": "oms-1"})  # fmt: skip
        assert (order["status"], order["filled"], order["cost"]) == ("closed", D("0.5"), D(1500))
        found = await venue.fetch_order("", "ETH/USDT", {"clientOrderId": "oms-1"})
        assert found["id"] == order["id"]
        trades = await venue.fetch_my_trades("ETH/USDT")
        assert [(t["price"], t["amount"], t["fee"]["cost"]) for t in trades] == [
            (D(3000), D("0.5"), D("1.5"))]
        balance = await venue.fetch_balance()
        assert balance["total"]["ETH"] == D("10.5")
        assert balance["total"]["USDT"] == D("98498.5")
    finally:
        await venue.close()


@pytest.mark.parametrize(("config", "paper"), [
    ({"urls": {"public": "http://x"}}, True),
    ({"urls": {"public": 1}}, False),
    ({"hosts": {}}, False),
    ({"options": []}, False),
])  # fmt: skip
def test_ccxt_config_is_checked(config: object, paper: bool) -> None:
    with pytest.raises(ValidationFailed):
        validate_ccxt_config(config, paper)


async def test_a_futures_account_on_the_local_venue(futures: Running) -> None:
    """`ccxtpro.binanceusdm` on testnet, pointed at the USDⓈ-M dialect: positions and leverage
    through the gateway's CCXT adapter, as the worker and reconciliation read them."""
    creds = await futures.venue.new_account()
    row = {"exchange_id": "ccxtpro.binanceusdm", "is_testnet": True, "config": {"ccxt": {
        "urls": futures.ccxt_urls(), "options": {"fetchCurrencies": False}}}}  # fmt: skip
    exchange = build_ccxt_exchange(row, Settings())
    exchange.apiKey, exchange.secret = creds.api_key, creds.secret
    venue = CcxtVenue(exchange)
    symbol = "ETH/USDT:USDT"
    try:
        await venue.set_leverage(4, symbol)
        sold = await venue.create_order(symbol, "market", "sell", D("2"), None)
        assert (sold["status"], sold["average"]) == ("closed", D(3000))
        [position] = await venue.fetch_positions([symbol])
        assert (position["side"], position["contracts"], position["entryPrice"]) == (
            "short", D(2), D(3000))
        assert position["leverage"] == D(4)
        assert position["initialMargin"] == D(1500)
        balance = await venue.fetch_balance()
        assert balance["used"]["USDT"] == D(1500)
        assert balance["total"]["USDT"] == D(100000) - D("3")  # 0.05 % taker on 6,000
    finally:
        await venue.close()


async def test_add_account_stores_the_ccxt_config_the_worker_reads(tmp_path: Path,
                                                                   served: Running) -> None:
    """`add-account --ccxt-config` → `accounts.config.ccxt` → the row the worker loads
    (`venue_account`) → the instance it builds points at the venue (a gateway store of its
    own: the session's shared stores count their accounts)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.sqlite3'}"
    await upgrade_async(url)
    store = Store.from_url(url)
    config = {"urls": served.ccxt_urls(), "options": {"fetchMarkets": {"types": ["spot"]}}}
    try:
        async with store.transaction() as conn:
            account_id = await add_account(conn, CLI_ACTOR, user_id=None,
                                           exchange_id="ccxt.binance", label="local",
                                           position_mode="netting", testnet=True, live=False,
                                           ccxt_config=config)  # fmt: skip
        async with store.read() as conn:
            row = await venue_account(conn, account_id)
        assert row is not None
        assert row["config"] == {"ccxt": config}
        exchange = build_ccxt_exchange(row, Settings())
        try:
            assert exchange.urls["api"]["private"] == served.urls()["private"]
            assert exchange.options["fetchMarkets"] == {"types": ["spot"]}
            assert "BTC/USDT" in await exchange.load_markets()
        finally:
            await exchange.close()
        async with store.transaction() as conn:
            with pytest.raises(ValidationFailed):
                await add_account(conn, CLI_ACTOR, user_id=None, exchange_id="paper",
                                  label="p", position_mode="netting", testnet=False,
                                  live=False, ccxt_config=config)  # fmt: skip
    finally:
        await store.close()
