"""Conditional orders through gateway accounts on exchanges that keep them apart from their
orders (Binance USDⓈ-M's Algo Order API, OKX's algo orders, Bybit's conditional orders: CCXT
reaches them only with `trigger`), on the local venue in each dialect: the gateway holds such
an order itself (`emulation: gateway`), never sends one it could not follow, and a stop-loss
fires at the first price that crosses it (last or mark) as a market order that closes the
venue's position.
Asking for the venue's own is refused at acceptance with the reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from apps.oms.config import Settings
from apps.oms.store.store import Store
from apps.oms.store.tables import orders
from apps.paper.wire.accounts import Credentials
from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue
from apps.worker import account_task
from apps.worker.account_task import AccountTask
from apps.worker.venues import VenueCache, load_account
from test.integration.pipeline_worker.conftest import Harness, eventually
from test.integration.wire.test_gateway_okx_position_modes import okx_account
from test.integration.wire.test_gateway_position_modes import gateway_account, open_positions

D = Decimal
SYMBOL = "BTC/USDT:USDT"
DIALECTS = ("binanceusdm", "okx", "bybit")


@pytest.fixture(scope="module", params=DIALECTS)
async def venue(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[tuple[str, Running]]:  # fmt: skip
    store = tmp_path_factory.mktemp(f"wire-{request.param}") / "venue.sqlite3"
    running = await start(await build_venue(f"sqlite+aiosqlite:///{store}", request.param))
    yield request.param, running
    await running.stop()


async def new_account(gateway: Store, dialect: str, running: Running
                      ) -> tuple[int, Credentials]:  # fmt: skip
    creds = await running.venue.new_account()
    if dialect == "okx":
        return await okx_account(gateway, running, "netting", creds), creds
    return await gateway_account(gateway, running, f"ccxt.{dialect}", "netting", creds), creds


@asynccontextmanager
async def trading(gateway: Store, served: tuple[str, Running]
                  ) -> AsyncIterator[tuple[Harness, int, Any]]:  # fmt: skip
    """A gateway account on the venue at price 100, its worker steps driven by hand, and the
    venue account's own engine (what the exchange holds)."""
    dialect, running = served
    await running.venue.set_price(SYMBOL, D(100))
    account_id, creds = await new_account(gateway, dialect, running)
    h = Harness(gateway)
    h.venues = VenueCache(Settings(), gateway)
    try:
        assert await h.venues.open(await load_account(gateway, account_id)) is not None
        yield h, account_id, running.venue.accounts.venue(creds.api_key)
    finally:
        await h.venues.close()


async def opened_long(h: Harness, gateway: Store, account_id: int, engine: Any
                      ) -> dict[str, Any]:  # fmt: skip
    """A market buy of 1 through the gateway, filled on the venue: the gateway's position."""
    opened = await h.send(account_id, "send_order", symbol=SYMBOL, side="buy",
                          order_type="market", qty="1")  # fmt: skip
    assert opened["ok"], opened
    await h.drain(account_id)
    [position] = await open_positions(gateway, account_id)
    assert await venue_contracts(engine) == D(1)
    return dict(position)


async def venue_contracts(engine: Any) -> Decimal:
    """The venue account's open contracts in the symbol, as its own engine holds them."""
    return sum((D(str(p["contracts"])) for p in await engine.fetch_positions()
                if p["symbol"] == SYMBOL), D(0))  # fmt: skip


async def order_rows(store: Store, account_id: int) -> list[dict[str, Any]]:
    async with store.read() as conn:
        rows = await conn.execute(select(orders).where(orders.c.account_id == account_id)
                                  .order_by(orders.c.id))  # fmt: skip
        return [dict(r) for r in rows.mappings()]


@pytest.mark.parametrize("price_type", ["last", "mark"])
async def test_a_stop_loss_is_held_by_the_gateway_and_closes_the_venue_position(
    gateway: Store, venue: tuple[str, Running], price_type: str
) -> None:
    """On the last price (the exchange's ticker) and on the mark price (CCXT's
    `fetch_mark_price` on Binance and OKX, whose tickers carry none; Bybit's ticker)."""
    _, running = venue
    async with trading(gateway, venue) as (h, account_id, engine):
        position = await opened_long(h, gateway, account_id, engine)
        # the venue's own is refused, with the reason, before anything is written
        asked = await h.send(account_id, "send_order", symbol=SYMBOL, side="sell",
                             order_type="market", qty="1", stop_price="90", reduce_only=True,
                             position_id=position["id"], emulation="venue")  # fmt: skip
        assert asked == {"ok": False, "code": "not_supported"}, asked
        stop = await h.send(account_id, "send_order", symbol=SYMBOL, side="sell",
                            order_type="market", qty="1", stop_price="90", reduce_only=True,
                            position_id=position["id"], trigger_price_type=price_type)  # fmt: skip
        assert stop["ok"], stop
        await h.drain(account_id)
        held = await h.order(stop["order_id"])
        assert (held["emulation"], held["status"], held["exchange_order_id"]) == (
            "gateway", "SUBMITTED", None)
        # a held take-profit beside it, cancelled: neither was ever placed on the venue
        take = await h.send(account_id, "send_order", symbol=SYMBOL, side="sell",
                            order_type="limit", qty="1", price="120", take_profit_price="120",
                            reduce_only=True, position_id=position["id"])  # fmt: skip
        assert take["ok"], take
        await h.drain(account_id)
        assert (await h.order(take["order_id"]))["emulation"] == "gateway"
        canceled = await h.send(account_id, "cancel_order", order_id=take["order_id"])
        assert canceled["ok"], canceled
        await h.drain(account_id)
        assert (await h.order(take["order_id"]))["status"] == "CANCELED"
        assert await engine.fetch_open_orders() == []
        await running.venue.set_price(SYMBOL, D(95))  # not crossed: nothing fires
        await h.drain(account_id)
        assert (await h.order(stop["order_id"]))["status"] == "SUBMITTED"
        await running.venue.set_price(SYMBOL, D(89))
        await h.drain(account_id)
        await h.drain(account_id)
        rows = await order_rows(gateway, account_id)
        [child] = [r for r in rows if r["parent_order_id"] == stop["order_id"]]
        assert (child["order_type"], child["side"], child["status"], child["qty"]) == (
            "market", "sell", "FILLED", D(1))
        assert child["exchange_order_id"] is not None
        assert await open_positions(gateway, account_id) == []
        assert await venue_contracts(engine) == D(0)


async def test_a_held_stop_reads_the_price_between_the_accounts_full_rounds(
    gateway: Store, venue: tuple[str, Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account's task reads the price for its armed held orders every `HELD_EVERY`, apart
    from its full round (the order sync, once a second): with full rounds made rare, the stop
    fires all the same, by its own looks."""
    monkeypatch.setattr(account_task, "SYNC_EVERY", 3600.0)  # one full round, at the start
    monkeypatch.setattr(account_task, "IDLE_RELEASE", 3600.0)  # the task keeps its lease
    _, running = venue
    stop_task = asyncio.Event()
    async with trading(gateway, venue) as (h, account_id, engine):
        try:
            opened = await h.send(account_id, "send_order", symbol=SYMBOL, side="buy",
                                  order_type="market", qty="1")  # fmt: skip
            await h.drain(account_id)
            [position] = await open_positions(gateway, account_id)
            stop = await h.send(account_id, "send_order", symbol=SYMBOL, side="sell",
                                order_type="market", qty="1", stop_price="90", reduce_only=True,
                                position_id=position["id"])  # fmt: skip
            assert opened["ok"], opened
            assert stop["ok"], stop
            await h.drain(account_id, housekeeping=False)  # armed; no round has looked yet
            rt = await h.runtime(account_id)
            task = asyncio.create_task(AccountTask(rt, stop_task).run())

            async def armed_seen() -> bool:  # the task's one full round found it armed
                return rt.held_armed

            await eventually(armed_seen)
            await running.venue.set_price(SYMBOL, D(89))

            async def child_recorded() -> bool:
                rows = await order_rows(gateway, account_id)
                return any(r["parent_order_id"] == stop["order_id"] and r["exchange_order_id"]
                           for r in rows)  # fmt: skip

            await eventually(child_recorded)  # fired by a held look: no full round ran since
            assert await venue_contracts(engine) == D(0)
            stop_task.set()
            await task
        finally:
            stop_task.set()
