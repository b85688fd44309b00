"""An OCO of a take-profit limit resting on the exchange and a stop the gateway holds (Binance's
OCO), through gateway accounts on the local venue in each dialect with CCXT's own classes: the
limit rests on the exchange as a plain order, the stop never goes there; when the stop fires,
the gateway cancels the limit on the exchange first and only then sends the stop's market
child, which closes the exchange's position."""

from __future__ import annotations

from decimal import Decimal

from apps.oms.store.store import Store
from apps.paper.wire.process import Running
from test.integration.wire.test_gateway_conditional_orders import (
    SYMBOL,
    opened_long,
    order_rows,
    trading,
    venue_contracts,
)
from test.integration.wire.test_gateway_position_modes import open_positions

from .test_gateway_conditional_orders import venue  # noqa: F401 - the venue per dialect

D = Decimal


async def test_the_stop_cancels_the_resting_limit_on_the_exchange_then_closes(
    gateway: Store, venue: tuple[str, Running]  # noqa: F811
) -> None:
    _, running = venue
    async with trading(gateway, venue) as (h, account_id, exchange):
        position = await opened_long(h, gateway, account_id, exchange)
        oco = await h.send(account_id, "send_order", symbol=SYMBOL, side="sell",
                           order_type="limit", qty="1", price="120", reduce_only=True,
                           position_id=position["id"], oco_orders=[{"stop_price": "90"}])
        assert oco["ok"], oco
        await h.drain(account_id)
        limit = await h.order(oco["order_id"])
        assert (limit["emulation"], limit["status"]) == ("venue", "SUBMITTED")
        [resting] = await exchange.fetch_open_orders(SYMBOL)
        assert (resting["type"], D(str(resting["price"])), resting["side"]) == (
            "limit", D(120), "sell")  # the stop is not there: the gateway holds it
        await running.venue.set_price(SYMBOL, D(89))
        await h.drain(account_id)
        await h.drain(account_id)
        rows = await order_rows(gateway, account_id)
        [stop] = [r for r in rows if r["group_role"] == "leg1"]
        [child] = [r for r in rows if r["parent_order_id"] == stop["id"]]
        assert (await h.order(oco["order_id"]))["status"] == "CANCELED"
        assert (child["order_type"], child["status"], child["qty"]) == ("market", "FILLED", D(1))
        assert await exchange.fetch_open_orders(SYMBOL) == []
        assert await open_positions(gateway, account_id) == []
        assert await venue_contracts(exchange) == D(0)
