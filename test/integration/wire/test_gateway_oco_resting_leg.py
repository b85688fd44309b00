"""An OCO of a take-profit limit resting on the exchange and a stop the gateway holds (Binance's
OCO), through gateway accounts on the local venue in each dialect with CCXT's own classes: the
limit rests on the exchange as a plain order, the stop never goes there; when the stop fires,
the gateway cancels the limit on the exchange first and only then sends the stop's market
child, which closes the exchange's position."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from apps.oms.service.execution import held as held_service
from apps.oms.store.store import Store
from apps.paper.domain.book import BookConfig
from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue
from test.integration.pipeline_worker.conftest import Harness
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


async def take_profit_and_stop(h: Harness, account_id: int, position: dict[str, Any]
                               ) -> dict[str, Any]:  # fmt: skip
    """The long's take-profit limit at 120 resting on the exchange and a held stop at 90, one
    cancelling the other, placed; the acceptance."""
    oco = await h.send(account_id, "send_order", symbol=SYMBOL, side="sell",
                       order_type="limit", qty="1", price="120", reduce_only=True,
                       position_id=position["id"], oco_orders=[{"stop_price": "90"}])
    assert oco["ok"], oco
    await h.drain(account_id)
    return oco


async def test_the_stop_cancels_the_resting_limit_on_the_exchange_then_closes(
    gateway: Store, venue: tuple[str, Running]  # noqa: F811
) -> None:
    _, running = venue
    async with trading(gateway, venue) as (h, account_id, exchange):
        position = await opened_long(h, gateway, account_id, exchange)
        oco = await take_profit_and_stop(h, account_id, position)
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


@pytest.fixture(scope="module")
async def thin_book(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[str, Running]]:
    """Binance USDⓈ-M whose resting limits fill at most 0.4 per price move."""
    store = tmp_path_factory.mktemp("wire-thin") / "venue.sqlite3"
    running = await start(await build_venue(f"sqlite+aiosqlite:///{store}", "binanceusdm",
                                            BookConfig(resting_volume=D("0.4"))))
    yield "binanceusdm", running
    await running.stop()


async def test_the_stop_sends_what_the_exchange_says_the_limit_did_not_fill(
    gateway: Store, thin_book: tuple[str, Running]
) -> None:
    """The limit filled 0.4 on the exchange, which the books have not seen (no sync since)
    when the stop fires; the cancel's answer carries no trades (Binance's order response has
    none), so the child is sized by what the exchange reports filled: 0.6, never 1 again."""
    _, running = thin_book
    async with trading(gateway, thin_book) as (h, account_id, exchange):
        position = await opened_long(h, gateway, account_id, exchange)
        await take_profit_and_stop(h, account_id, position)
        await running.venue.set_price(SYMBOL, D(120))
        await exchange.match()  # 0.4 of the limit fills on the exchange
        await running.venue.set_price(SYMBOL, D(89))
        rt = await h.runtime(account_id)
        assert await held_service.check_held(rt) == 1  # the stop fires: it waits
        assert await held_service.check_held(rt) == 1  # the limit cancelled, the child sent
        rows = await order_rows(gateway, account_id)
        [stop] = [r for r in rows if r["group_role"] == "leg1"]
        [child] = [r for r in rows if r["parent_order_id"] == stop["id"]]
        assert child["qty"] == D("0.6")
        await h.drain(account_id)
        await h.drain(account_id)
        assert await open_positions(gateway, account_id) == []
        assert await venue_contracts(exchange) == D(0)
