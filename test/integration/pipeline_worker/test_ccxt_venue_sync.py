"""A `ccxt.binance` testnet account in the worker, over recorded binance spot responses through
CCXT's `fetch` override (no network): `send_order` reaches the venue as a signed create-order
request, later recorded trades book deals by polling order sync (deduped by trade id), and the
order takes its final state from `fetch_order`. Live accounts get no venue without
`security.allow_live_trading`."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

from sqlalchemy import select

from apps.oms.config import Settings, load_settings
from apps.oms.service.execution.sync import sync_orders
from apps.oms.store.accounts import insert_account, upsert_credentials
from apps.oms.store.store import Store
from apps.oms.store.tables import deals
from apps.worker.venues import VenueCache, load_account
from test.integration.pipeline_worker.conftest import Harness
from test.unit.exchange import binance_spot as rec


class Binance:
    """Recorded binance spot REST: answers by (method, path); the create-order response echoes
    the request's `newClientOrderId` as binance does."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.responses: dict[tuple[str, str], Any] = {
            ("GET", "/api/v3/exchangeInfo"): rec.EXCHANGE_INFO,
            ("GET", "/api/v3/myTrades"): [],
            ("GET", "/api/v3/openOrders"): [rec.order()],
        }

    def install(self, exchange: Any) -> None:
        exchange.options["fetchMarkets"] = {"types": ["spot"]}
        exchange.options["fetchCurrencies"] = False
        exchange.fetch = self.fetch

    async def fetch(self, url: str, method: str = "GET", headers: Any = None,
                    body: Any = None) -> Any:
        parsed = urlparse(url)
        query = parse_qs(parsed.query or (body or ""))
        self.requests.append((method, parsed.path, query))
        if (method, parsed.path) == ("POST", "/api/v3/order"):
            return rec.order(clientOrderId=query["newClientOrderId"][0])
        return self.responses[(method, parsed.path)]


def trade(trade_id: int, qty: str, at_ms: int) -> dict[str, Any]:
    return {**rec.MY_TRADES[0], "id": trade_id, "qty": qty, "time": at_ms,
            "quoteQty": str(Decimal(qty) * Decimal("30000.10"))}


async def binance_account(store: Store, *, testnet: bool = True) -> int:
    async with store.transaction() as conn:
        account_id = await insert_account(conn, exchange_id="ccxt.binance", label="bn",
                                          position_mode="netting", is_testnet=testnet,
                                          is_live=not testnet)
        await upsert_credentials(conn, account_id, api_key="k" * 64, secret="s" * 64,
                                 passphrase=None)
    return account_id


async def booked(store: Store, account_id: int) -> list[tuple[str, Decimal]]:
    async with store.read() as conn:
        rows = await conn.execute(select(deals.c.exchange_trade_id, deals.c.qty).where(
            deals.c.account_id == account_id).order_by(deals.c.id))
    return [(str(r[0]), Decimal(r[1]).normalize()) for r in rows]


async def test_send_order_reaches_binance_and_polled_trades_book_deals(
    store: Store, harness: Callable[..., Harness]
) -> None:
    h = harness()
    venue = Binance()
    h.venues = VenueCache(Settings(), store, prepare=venue.install)
    account_id = await binance_account(store)
    assert await h.venues.open(await load_account(store, account_id)) is not None
    try:
        sent = await h.send(account_id, "send_order", symbol="BTC/USDT", side="buy",
                            order_type="limit", qty="0.00123", price="30000.10")
        assert sent["ok"], sent
        await h.drain(account_id)
        placed = [q for m, p, q in venue.requests if (m, p) == ("POST", "/api/v3/order")]
        assert len(placed) == 1
        assert placed[0]["quantity"] == ["0.00123"]
        assert "signature" in placed[0]
        order = await h.order(sent["order_id"])
        assert placed[0]["newClientOrderId"] == [order["client_order_id"]]
        assert order["exchange_order_id"] == "28"
        assert order["is_open"]
        rt = await h.runtime(account_id)
        now = int(time.time() * 1000)  # CCXT drops trades older than `since`
        venue.responses[("GET", "/api/v3/myTrades")] = [trade(56, "0.0005", now)]
        assert await sync_orders(rt) == 1
        assert await sync_orders(rt) == 0  # the same trade again: deduped by trade id
        venue.responses[("GET", "/api/v3/myTrades")] = [
            trade(56, "0.0005", now), trade(57, "0.00073", now + 1000)]
        venue.responses[("GET", "/api/v3/openOrders")] = []
        venue.responses[("GET", "/api/v3/order")] = rec.order(
            "FILLED", "0.00123000", clientOrderId=order["client_order_id"])
        assert await sync_orders(rt) == 1  # the new deal; it fills the order
        fee = Decimal("0.00000123")  # commission in BTC: the position gets the net amount
        assert await booked(store, account_id) == [("56", Decimal("0.0005") - fee),
                                                   ("57", Decimal("0.00073") - fee)]
        final = await h.order(sent["order_id"])
        assert not final["is_open"]
        assert Decimal(final["filled_qty"]) == Decimal("0.00123")
        since = [q["startTime"] for m, p, q in venue.requests if p == "/api/v3/myTrades"]
        assert since[-1] == [str(now)]  # the cursor moved to the newest booked trade
    finally:
        await h.venues.close()


async def test_live_account_needs_allow_live_trading(store: Store) -> None:
    account_id = await binance_account(store, testnet=False)
    account = await load_account(store, account_id)
    refused = VenueCache(Settings(), store)
    assert await refused.open(account) is None
    allowed = VenueCache(load_settings(security={"allow_live_trading": True}), store)
    try:
        venue = await allowed.open(account)
        assert venue is not None
        assert "testnet" not in str(venue.exchange.urls["api"])  # type: ignore[attr-defined]
    finally:
        await allowed.close()
