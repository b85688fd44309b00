"""A Binance spot market order of a gateway account, on the local venue: CCXT parses the fills
of Binance's FULL answer without a side, an order id or a time (Binance's `fills` carry none),
and the gateway books them from its own order row, in the record of the send itself, with no
lookup after it (a fill that could not be read used to fail the batch's record, so each order
was looked up again)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from apps.oms.store.store import Store
from apps.oms.store.tables import deals
from apps.paper.wire.process import Running
from apps.worker.venues import load_account
from test.integration.pipeline_worker.conftest import Harness
from test.integration.wire.conftest import gateway_ccxt_account, spot_options


async def test_a_market_orders_fills_are_booked_from_the_answer_itself(
    gateway: Store, served: Running, caplog: pytest.LogCaptureFixture
) -> None:
    account_id, _ = await gateway_ccxt_account(
        gateway, served, "ccxt.binance", {"urls": served.ccxt_urls(), **spot_options(None)})
    h = Harness(gateway)
    assert await h.venues.open(await load_account(gateway, account_id)) is not None
    item = await h.send(account_id, "send_order", symbol="ETH/USDT", side="buy",
                        order_type="market", qty="0.5")  # fmt: skip
    assert item["ok"], item
    try:
        with caplog.at_level(logging.WARNING):
            await h.drain(account_id, housekeeping=False)  # the send and its record only
    finally:
        await h.venues.close()
    assert not [r for r in caplog.records if "failed" in r.getMessage()], caplog.text
    order = await h.order(item["order_id"])
    assert (order["status"], order["filled_qty"]) == ("FILLED", 0.5)
    async with gateway.read() as conn:
        booked = (await conn.execute(select(deals.c.side, deals.c.qty).where(
            deals.c.account_id == account_id))).all()  # fmt: skip
    assert [(side, float(qty)) for side, qty in booked] == [("buy", 0.5)]
