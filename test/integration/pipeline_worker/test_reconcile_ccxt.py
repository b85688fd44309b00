"""Reconciliation over a `ccxt.binance` account, on recorded binance spot responses through
CCXT's `fetch` override (no network): binance needs a symbol for its order and trade history
(`ArgumentsRequired`), so the run asks per symbol (`symbols_hint`); an order placed on the
exchange's web page becomes an external order, its trades are booked once (paginated by
`startTime`), and a re-run books nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.service.reconcile import command_payload, enqueue
from apps.oms.store.store import Store
from apps.oms.store.tables import orders
from apps.worker.venues import VenueCache, load_account
from test.integration.pipeline_worker.conftest import Harness
from test.integration.pipeline_worker.test_ccxt_venue_sync import (
    Binance,
    binance_account,
    booked,
    trade,
)
from test.unit.exchange import binance_spot as rec


async def run(h: Harness, account_id: int) -> dict[str, Any]:
    payload = command_payload(Settings().reconcile, "short", symbols_hint=["BTC/USDT"])
    async with h.store.transaction() as conn:
        command_id = await enqueue(conn, account_id, payload, utcnow())
    await h.drain(account_id, housekeeping=False)
    row = await h.command(command_id)
    assert row["status"] == "completed", (row["error_code"], row["error_message"])
    result: dict[str, Any] = row["result"]
    return result


async def test_binance_web_order_becomes_external_and_books_once(
    store: Store, harness: Callable[..., Harness]
) -> None:
    h = harness()
    venue = Binance()
    now = int(time.time() * 1000)
    web = rec.order("FILLED", "0.00123000", clientOrderId="web_7f3a", orderId=28,
                    transactTime=now, workingTime=now, updateTime=now)  # fmt: skip
    venue.responses[("GET", "/api/v3/openOrders")] = []
    venue.responses[("GET", "/api/v3/allOrders")] = [web]
    venue.responses[("GET", "/api/v3/myTrades")] = [trade(56, "0.0005", now),
                                                    trade(57, "0.00073", now + 1000)]
    h.venues = VenueCache(Settings(), store, prepare=venue.install)
    account_id = await binance_account(store)
    assert await h.venues.open(await load_account(store, account_id)) is not None
    try:
        first = await run(h, account_id)
        assert first["external_orders_created"] == 1
        assert first["trades_booked"] == 2
        assert first["positions_checked"] is False  # a spot venue reports no positions
        async with store.read() as conn:
            (ext,) = [dict(r) for r in (await conn.execute(select(orders).where(
                orders.c.account_id == account_id))).mappings()]
        assert ext["reason"] == "external"
        assert ext["exchange_order_id"] == "28"
        assert ext["client_order_id"] == "web_7f3a"
        assert ext["status"] == "FILLED"
        fee = Decimal("0.00000123")  # commission in BTC: the position gets the net amount
        assert await booked(store, account_id) == [("56", Decimal("0.0005") - fee),
                                                   ("57", Decimal("0.00073") - fee)]
        second = await run(h, account_id)
        assert second["trades_booked"] == 0
        assert second["trades_already_booked"] == 2
        assert len(await booked(store, account_id)) == 2
        paths = {p for _m, p, _q in venue.requests}
        assert {"/api/v3/allOrders", "/api/v3/myTrades", "/api/v3/openOrders"} <= paths
    finally:
        await h.venues.close()
