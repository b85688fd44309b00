"""Reconciliation of a gateway account on the local venue, every dialect: an order placed on the
venue directly, with the venue account's own key through CCXT's own class (someone trading on
the exchange's site), becomes one `external` order of the books with its client order id and
its fill booked once; a second run finds nothing new."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from sqlalchemy import select

from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.exchange.ccxt.instances import merged
from apps.oms.service.reconcile import command_payload, enqueue
from apps.oms.store.accounts import insert_account, upsert_credentials
from apps.oms.store.store import Store
from apps.oms.store.tables import deals, orders
from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue
from apps.worker.venues import VenueCache, load_account
from test.integration.pipeline_worker.conftest import Harness

#: the gateway's options per dialect (what the local venue serves) and the market traded
DIALECTS: dict[str, tuple[dict[str, Any], str]] = {
    "binance": ({"fetchMarkets": {"types": ["spot"]}}, "BTC/USDT"),
    "binanceusdm": ({"fetchCurrencies": False}, "BTC/USDT:USDT"),
    "bybit": ({"fetchMarkets": {"types": ["linear"]}}, "BTC/USDT:USDT"),
    "okx": ({"fetchMarkets": {"types": ["spot", "swap"]}}, "BTC/USDT:USDT"),
}


@pytest.fixture(params=list(DIALECTS))
async def venue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Running]:
    running = await start(await build_venue(
        f"sqlite+aiosqlite:///{tmp_path / 'venue.sqlite3'}", str(request.param)))
    yield running
    await running.stop()


async def reconcile(h: Harness, account_id: int, symbol: str) -> dict[str, Any]:
    payload = command_payload(Settings().reconcile, "short", symbols_hint=[symbol])
    async with h.store.transaction() as conn:
        command_id = await enqueue(conn, account_id, payload, utcnow())
    await h.drain(account_id, housekeeping=False)
    row = await h.command(command_id)
    assert row["status"] == "completed", (row["error_code"], row["error_message"])
    result: dict[str, Any] = row["result"]
    return result


async def test_an_order_placed_on_the_venue_directly_is_booked_once(
        venue: Running, gateway: Store) -> None:  # fmt: skip
    dialect = venue.venue.dialect
    options, symbol = DIALECTS[dialect]
    creds = await venue.venue.new_account()
    config = {"ccxt": {"urls": venue.ccxt_urls(), "options": options}}
    async with gateway.transaction() as conn:
        account_id = await insert_account(conn, exchange_id=f"ccxtpro.{dialect}", label="wire",
                                          position_mode="netting", is_testnet=True,
                                          is_live=False, config=config)  # fmt: skip
        await upsert_credentials(conn, account_id, api_key=creds.api_key, secret=creds.secret,
                                 passphrase=creds.passphrase or None)  # fmt: skip
    exchange = getattr(ccxt_async, dialect)({
        "apiKey": creds.api_key, "secret": creds.secret, "password": creds.passphrase,
        "options": {**options, "fetchCurrencies": False, "fetchMargins": False}})
    exchange.urls["api"] = merged(exchange.urls["api"], venue.ccxt_urls())
    try:
        placed = await exchange.create_order(symbol, "market", "buy", 0.001, None,
                                             {"clientOrderId": "ext1"})
    finally:
        await exchange.close()
    h = Harness(gateway)
    h.venues = VenueCache(Settings(), gateway)
    assert await h.venues.open(await load_account(gateway, account_id)) is not None
    try:
        first = await reconcile(h, account_id, symbol)
        again = await reconcile(h, account_id, symbol)
    finally:
        await h.venues.close()
    async with gateway.read() as conn:
        rows = [dict(r) for r in (await conn.execute(select(
            orders.c.client_order_id, orders.c.exchange_order_id, orders.c.reason,
            orders.c.filled_qty).where(orders.c.account_id == account_id))).mappings()]
        booked = list(await conn.execute(select(deals.c.exchange_trade_id, deals.c.qty).where(
            deals.c.account_id == account_id)))
    assert [(r["client_order_id"], r["exchange_order_id"], r["reason"]) for r in rows] == [
        ("ext1", str(placed["id"]), "external")], (first, rows)
    assert len(booked) == 1, (first, booked)
    assert (first["external_orders_created"], first["trades_booked"]) == (1, 1), first
    assert (again["external_orders_created"], again["trades_booked"]) == (0, 0), again
