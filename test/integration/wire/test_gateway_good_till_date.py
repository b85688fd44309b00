"""A good-till-date limit order through gateway accounts on the local venue, in each dialect,
with CCXT's own classes: the exchange is told no date (CCXT has no unified one, and Binance
USDⓈ-M rejects GTD without its own `goodTillDate`), the order rests there as
good-till-cancelled, and the gateway cancels it once its date has passed: EXPIRED in the books,
gone from the exchange. The date is made to pass in the store and the account's task starts
afresh (as after a takeover), so that no wall-clock wait depends on how fast the venue
answers; the date coming while the task runs is `test/integration/pipeline_worker/
test_good_till_date.py`."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import update

from apps.oms.clock import utcnow
from apps.oms.store.store import Store
from apps.oms.store.tables import orders
from apps.paper.wire.process import Running
from test.integration.wire.test_gateway_conditional_orders import SYMBOL, trading

from .test_gateway_conditional_orders import venue  # noqa: F401 - the venue per dialect

D = Decimal


async def test_a_good_till_date_limit_rests_on_the_exchange_until_the_gateway_expires_it(
    gateway: Store, venue: tuple[str, Running]  # noqa: F811
) -> None:
    async with trading(gateway, venue) as (h, account_id, exchange):
        item = await h.send(account_id, "send_order", symbol=SYMBOL, side="buy",
                            order_type="limit", qty="1", price="80", time_in_force="GTD",
                            expire_at=(utcnow() + timedelta(hours=1)).isoformat())
        assert item["ok"], item
        await h.drain(account_id)
        order = await h.order(item["order_id"])
        assert (order["status"], order["emulation"]) == ("SUBMITTED", "venue")
        [resting] = await exchange.fetch_open_orders(SYMBOL)
        assert resting.get("timeInForce") != "GTD"
        await h.drain(account_id)  # an hour early: nothing happens
        assert (await h.order(item["order_id"]))["status"] == "SUBMITTED"
        async with gateway.transaction() as conn:  # the date passes
            await conn.execute(update(orders).where(orders.c.id == item["order_id"])
                               .values(expire_at=utcnow() - timedelta(seconds=1)))
        h.runtimes.clear()  # the account's task starts afresh and reads the dates
        await h.drain(account_id)
        assert (await h.order(item["order_id"]))["status"] == "EXPIRED"
        assert await exchange.fetch_open_orders(SYMBOL) == []


async def test_a_cancel_through_the_gateway_completes_with_the_exchange_final_state(
    gateway: Store, venue: tuple[str, Running]  # noqa: F811
) -> None:
    """The cancel's own lookup of the final state by id (Bybit's needs `acknowledged`, else
    every cancel there failed as `venue_error` after the exchange had cancelled)."""
    async with trading(gateway, venue) as (h, account_id, exchange):
        item = await h.send(account_id, "send_order", symbol=SYMBOL, side="buy",
                            order_type="limit", qty="1", price="80")
        assert item["ok"], item
        await h.drain(account_id)
        canceled = await h.send(account_id, "cancel_order", order_id=item["order_id"])
        assert canceled["ok"], canceled
        await h.drain(account_id, housekeeping=False)  # the cancel alone, no sync after it
        command = await h.command(canceled["command_id"])
        assert command["status"] == "completed", command
        assert (await h.order(item["order_id"]))["status"] == "CANCELED"
        assert await exchange.fetch_open_orders(SYMBOL) == []
