"""`change_order` of a Binance spot order through a gateway account on the local venue, with
CCXT's own `binance` class. CCXT edits a spot order by Binance's `order/cancelReplace`: the
order is cancelled and a new one placed under a new id, for the whole new amount and of the type
it is told (a stop's trigger is not carried). The gateway changes such orders by its own
cancel/replace instead: the books follow the new order, only what is left is placed, and a stop
stays a stop."""

from __future__ import annotations

from decimal import Decimal

from apps.oms.store.store import Store
from apps.paper.wire.process import Running
from test.integration.pipeline_worker.conftest import eventually
from test.integration.wire.test_gateway_venue_oco import SYMBOL, spot_account

D = Decimal


async def test_a_changed_limit_is_the_order_the_books_follow(gateway: Store,
                                                            served: Running) -> None:  # fmt: skip
    async with spot_account(gateway, served) as (h, account_id, exchange):
        placed = await h.send(account_id, "send_order", symbol=SYMBOL, side="buy",
                              order_type="limit", qty="1", price="2900")  # fmt: skip
        await h.drain(account_id)
        changed = await h.send(account_id, "change_order", order_id=placed["order_id"],
                               new_qty="0.5", new_price="2950")  # fmt: skip
        assert changed["ok"], changed
        await h.drain(account_id)
        order = await h.order(placed["order_id"])
        assert (order["status"], order["qty"], order["price"], order["edit_replace_state"]) == (
            "SUBMITTED", D("0.5"), D(2950), "replaced")
        [working] = await exchange.fetch_open_orders(SYMBOL)
        assert (working["clientOrderId"], D(str(working["amount"])),
                D(str(working["price"]))) == (order["client_order_id"] + "r1", D("0.5"),
                                              D(2950))  # fmt: skip
        await served.venue.set_price(SYMBOL, D(2949))  # the books follow the new order's fill

        async def filled() -> bool:
            await h.drain(account_id)
            now = await h.order(placed["order_id"])
            return (now["status"], now["filled_qty"]) == ("FILLED", D("0.5"))

        await eventually(filled)


async def test_a_changed_stop_stays_a_stop(gateway: Store, served: Running) -> None:
    async with spot_account(gateway, served) as (h, account_id, exchange):
        stop = await h.send(account_id, "send_order", symbol=SYMBOL, side="sell",
                            order_type="market", qty="1", stop_price="2800")  # fmt: skip
        await h.drain(account_id)
        changed = await h.send(account_id, "change_order", order_id=stop["order_id"],
                               new_qty="0.5")  # fmt: skip
        assert changed["ok"], changed
        await h.drain(account_id)
        order = await h.order(stop["order_id"])
        assert (order["status"], order["qty"], order["filled_qty"]) == ("SUBMITTED", D("0.5"),
                                                                         D(0))
        [working] = await exchange.fetch_open_orders(SYMBOL)
        assert (D(str(working["amount"])), D(str(working["triggerPrice"]))) == (D("0.5"),
                                                                              D(2800))
        assert working["filled"] == 0
