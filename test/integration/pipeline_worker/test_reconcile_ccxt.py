"""Reconciliation over `ccxt.binance` (spot) and `ccxt.binanceusdm` (linear perpetual) accounts,
on recorded responses through CCXT's `fetch` override (no network): binance needs a symbol for
its order and trade history (`ArgumentsRequired`), so the run asks per symbol (`symbols_hint`);
an order placed on the exchange's web page becomes an external order, its trades are booked
once (paginated by `startTime`), and a re-run books nothing; on the perpetual venue the
positions it reports are compared with the books (fail-closed `out_of_sync`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select

from apps.oms.clock import utcnow
from apps.oms.config import Settings, load_settings
from apps.oms.service.reconcile import command_payload, enqueue
from apps.oms.store.accounts import insert_account, upsert_credentials
from apps.oms.store.store import Store
from apps.oms.store.tables import account_risk_state, orders, positions
from apps.worker.venues import VenueCache, load_account
from test.integration.pipeline_worker.conftest import Harness
from test.integration.pipeline_worker.test_ccxt_venue_sync import (
    Binance,
    binance_account,
    booked,
    trade,
)
from test.unit.exchange import binance_spot as rec
from test.unit.exchange import binance_usdm as usdm

PERP = "BTC/USDT:USDT"


async def run(h: Harness, account_id: int, symbol: str = "BTC/USDT") -> dict[str, Any]:
    payload = command_payload(Settings().reconcile, "short", symbols_hint=[symbol])
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


class BinanceUsdm:
    """Recorded binance USDⓈ-M futures REST (linear perpetuals), answered by (method, path)."""

    def __init__(self, now: int) -> None:
        self.requests: list[tuple[str, str]] = []
        self.responses: dict[tuple[str, str], Any] = {
            ("GET", "/fapi/v1/exchangeInfo"): usdm.EXCHANGE_INFO,
            ("GET", "/fapi/v1/leverageBracket"): usdm.LEVERAGE_BRACKET,
            ("GET", "/fapi/v1/openOrders"): [],
            ("GET", "/fapi/v1/allOrders"): [usdm.order(time=now, updateTime=now)],
            ("GET", "/fapi/v1/userTrades"): [usdm.trade(901, "0.004", now)],
            ("GET", "/fapi/v3/positionRisk"): [usdm.position("0.004")],
            # one-way, as the netting account needs (read when the worker opens the venue)
            ("GET", "/fapi/v1/positionSide/dual"): {"dualSidePosition": False},
        }

    def install(self, exchange: Any) -> None:
        exchange.options["fetchCurrencies"] = False
        exchange.fetch = self.fetch

    async def fetch(self, url: str, method: str = "GET", headers: Any = None,
                    body: Any = None) -> Any:
        path = urlparse(url).path
        self.requests.append((method, path))
        return self.responses[(method, path)]


async def test_binance_usdm_perpetual_external_fill_and_position_check(
    store: Store, harness: Callable[..., Harness]
) -> None:
    """A linear perpetual venue reports positions: a fill made on the exchange's web page is
    booked once as an external order, deal and position, the venue's net position then matches
    the books; a position changed without a trade (a liquidation, an adjustment) puts the
    account out of sync, and a later run that matches clears it."""
    h = harness()
    venue = BinanceUsdm(int(time.time() * 1000))
    # binance has no futures testnet any more (CCXT refuses sandbox mode for binanceusdm): a
    # live account, which needs `security.allow_live_trading`; every response is recorded
    live = load_settings(security={"allow_live_trading": True})
    h.venues = VenueCache(live, store, prepare=venue.install)
    async with store.transaction() as conn:
        account_id = await insert_account(conn, exchange_id="ccxt.binanceusdm", label="usdm",
                                          position_mode="netting", is_testnet=False,
                                          is_live=True)  # fmt: skip
        await upsert_credentials(conn, account_id, api_key="k" * 64, secret="s" * 64,
                                 passphrase=None)  # fmt: skip
    assert await h.venues.open(await load_account(store, account_id)) is not None
    try:
        first = await run(h, account_id, PERP)
        assert (first["external_orders_created"], first["trades_booked"]) == (1, 1)
        assert (first["positions_checked"], first["out_of_sync"]) == (True, False)
        assert await booked(store, account_id) == [("901", Decimal("0.004"))]
        async with store.read() as conn:
            (pos,) = [dict(r) for r in (await conn.execute(select(positions).where(
                positions.c.account_id == account_id))).mappings()]  # fmt: skip
        assert (pos["symbol"], pos["side"], Decimal(pos["qty"])) == (PERP, "buy", Decimal("0.004"))
        venue.responses[("GET", "/fapi/v3/positionRisk")] = [usdm.position("0.001")]
        second = await run(h, account_id, PERP)
        assert second["trades_booked"] == 0
        assert second["out_of_sync"] is True
        assert await out_of_sync(store, account_id) is True
        venue.responses[("GET", "/fapi/v3/positionRisk")] = [usdm.position("0.004")]
        third = await run(h, account_id, PERP)
        assert third["out_of_sync"] is False
        assert await out_of_sync(store, account_id) is False
        assert await booked(store, account_id) == [("901", Decimal("0.004"))]  # never twice
        paths = {p for _m, p in venue.requests}
        assert {"/fapi/v1/allOrders", "/fapi/v1/userTrades", "/fapi/v3/positionRisk"} <= paths
    finally:
        await h.venues.close()


async def out_of_sync(store: Store, account_id: int) -> bool:
    async with store.read() as conn:
        value = await conn.scalar(select(account_risk_state.c.out_of_sync).where(
            account_risk_state.c.account_id == account_id))  # fmt: skip
    return bool(value)
