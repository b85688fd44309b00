"""A Binance USDⓈ-M market order of a gateway account, on the local venue: the answer carries no
fills (`FILLED` with `executedQty`, no trades), so the order stays open until the order sync
books its trades; those trades fill it, and the sync then asks the venue nothing more about it
(no `fetch_order`: a request of the exchange's rate budget per filled order)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from apps.oms.service.execution.sync import sync_orders
from apps.oms.store.store import Store
from apps.oms.store.tables import deals
from apps.paper.wire.process import Running
from apps.worker.venues import load_account
from test.integration.pipeline_worker.conftest import Harness
from test.integration.pipeline_worker.test_change_replace import Tweaked
from test.integration.wire.conftest import CLIENT_TIMEOUT_MS, gateway_ccxt_account


class Counted(Tweaked):
    """The real CCXT adapter, its calls counted: a class of its own, as the ports a venue
    implements are looked up once per class (`ports.implements`), and `Tweaked` wraps paper
    venues elsewhere."""


async def test_fills_the_sync_booked_need_no_order_read(gateway: Store, futures: Running) -> None:
    account_id, _ = await gateway_ccxt_account(gateway, futures, "ccxt.binanceusdm", {
        "urls": futures.ccxt_urls(), "timeout": CLIENT_TIMEOUT_MS,
        "options": {"fetchCurrencies": False}})  # fmt: skip
    h = Harness(gateway)
    assert await h.venues.open(await load_account(gateway, account_id)) is not None
    try:
        item = await h.send(account_id, "send_order", symbol="ETH/USDT:USDT", side="buy",
                            order_type="market", qty="2")  # fmt: skip
        assert item["ok"], item
        await h.drain(account_id, housekeeping=False)
        order = await h.order(item["order_id"])
        assert order["status"] == "SUBMITTED"  # filled on the venue, no trades in the answer
        rt = await h.runtime(account_id)
        counted = Counted(rt.venue)
        rt.venue = counted  # type: ignore[assignment]
        assert await sync_orders(rt) >= 1
    finally:
        await h.venues.close()
    order = await h.order(item["order_id"])
    assert (order["status"], order["filled_qty"]) == ("FILLED", Decimal("2"))
    async with gateway.read() as conn:
        booked = (await conn.execute(select(deals.c.qty).where(
            deals.c.order_id == item["order_id"]))).scalars().all()  # fmt: skip
    assert sum(Decimal(q) for q in booked) == Decimal("2")
    assert counted.count.get("fetch_my_trades") == 1
    assert counted.count.get("fetch_order", 0) == 0
