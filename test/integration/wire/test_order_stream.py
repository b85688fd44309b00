"""A gateway account's fills booked from the exchange's private stream, against the local venue
of each dialect through CCXT Pro's own classes: booked as they arrive with no REST request; a
fill during a dropped stream booked once by the repair after the reconnect; a fill whose
events the venue skipped booked by the period's repair (Binance) or by the repair of the gap
its order's update opened (Bybit, whose orders and executions are separate messages)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from apps.oms import metrics
from apps.oms.service.execution import order_stream
from apps.oms.service.execution.order_stream import OrderStream, streaming
from apps.oms.service.execution.sync import sync_orders
from apps.oms.store.accounts import insert_account, upsert_credentials
from apps.oms.store.store import Store
from apps.oms.store.tables import deals
from apps.paper.wire.fault_plan import SEND, SKIP, Tally, on_event, parse_plan
from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue
from apps.worker.account_task import AccountTask
from apps.worker.venues import load_account
from test.integration.pipeline_worker.conftest import Harness
from test.integration.wire.conftest import CLIENT_TIMEOUT_MS, spot_options
from test.integration.wire.test_faults_ccxt import set_faults

D = Decimal
#: how long a test waits for something the venue and the stream do on their own (never a
#: bound on how fast: a loaded machine may take seconds)
SETTLE_SECONDS = 600.0


@pytest.fixture(scope="module")
async def bybit(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    store = tmp_path_factory.mktemp("wire-bybit-stream") / "venue.sqlite3"
    running = await start(await build_venue(f"sqlite+aiosqlite:///{store}", "bybit"))
    yield running
    await running.stop()


class Clock:
    """The stream's clock, moved by the test (repair periods and gap graces pass at once)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def until(check: Callable[[], Any], what: str) -> None:
    for _ in range(int(SETTLE_SECONDS / 0.02)):
        if await check() if asyncio.iscoroutinefunction(check) else check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never: {what}")


def booked_through(path: str) -> float:
    """How many fills `oms_fill_booked_seconds` counted on `path`."""
    samples = metrics.FILL_BOOKED.collect()[0].samples
    return sum(x.value for x in samples
               if x.name.endswith("_count") and x.labels.get("path") == path)  # fmt: skip


def rest_calls() -> float:
    return sum(metrics.SYNC_REST_CALLS.labels(p)._value.get() for p in ("poll", "repair"))


async def _account(gateway: Store, running: Running, engine: str) -> int:
    creds = await running.venue.new_account()
    own: dict[str, Any] = (spot_options(None) if running.venue.dialect == "binance"
                           else {"timeout": CLIENT_TIMEOUT_MS,
                                 "options": {"fetchMarkets": {"types": ["linear"]}}})  # fmt: skip
    config = {"ccxt": {"urls": running.ccxt_urls(), **own}}
    async with gateway.transaction() as conn:
        account_id = await insert_account(conn, exchange_id=engine, label="streamed",
                                          position_mode="netting", is_testnet=True,
                                          is_live=False, config=config)  # fmt: skip
        await upsert_credentials(conn, account_id, api_key=creds.api_key, secret=creds.secret,
                                 passphrase=creds.passphrase)  # fmt: skip
    return account_id


class Streamed:
    """A gateway account on a served venue with a resting buy, its stream open and repaired
    once (the repair that follows every connect)."""

    def __init__(self, gateway: Store, running: Running, symbol: str) -> None:
        self.gateway, self.running, self.symbol = gateway, running, symbol
        self.h = Harness(gateway)
        self.news = asyncio.Event()
        self.clock = Clock()

    async def open(self, engine: str, price: str, limit: str, qty: str) -> int:
        self.account_id = await _account(self.gateway, self.running, engine)
        assert await self.h.venues.open(await load_account(self.gateway, self.account_id))
        await self.running.venue.set_price(self.symbol, D(price))
        item = await self.h.send(self.account_id, "send_order", symbol=self.symbol, side="buy",
                                 order_type="limit", qty=qty, price=limit)  # fmt: skip
        assert item["ok"], item
        await self.h.drain(self.account_id, housekeeping=False)
        self.order_id = int(item["order_id"])
        assert (await self.h.order(self.order_id))["status"] == "SUBMITTED"
        self.rt = await self.h.runtime(self.account_id)
        venue = streaming(self.rt.venue)
        assert venue is not None
        self.stream = OrderStream(venue, self.account_id, self.news.set, self.clock)
        self.stream.start()
        await until(lambda: self.stream.up, "the stream is up")
        await sync_orders(self.rt, self.stream)  # the repair after the connect
        return self.order_id

    async def sync_until_filled(self) -> None:
        async def filled() -> bool:
            await sync_orders(self.rt, self.stream)
            return (await self.h.order(self.order_id))["status"] == "FILLED"

        await until(filled, "the order is booked filled")

    async def booked(self) -> list[Decimal]:
        async with self.gateway.read() as conn:
            rows = (await conn.execute(select(deals.c.qty).where(
                deals.c.order_id == self.order_id))).scalars().all()  # fmt: skip
        return [D(q) for q in rows]

    async def close(self) -> None:
        if hasattr(self, "stream"):
            await self.stream.stop()
        self.running.venue.gate.clear()
        await self.h.venues.close()


@pytest.fixture
async def spot(gateway: Store, served: Running) -> AsyncIterator[Streamed]:
    streamed = Streamed(gateway, served, "ETH/USDT")
    yield streamed
    await streamed.close()


async def test_a_fill_is_booked_from_the_stream_with_no_request(spot: Streamed) -> None:
    await spot.open("ccxtpro.binance", price="2000", limit="1990", qty="0.5")
    before = rest_calls()
    spot.news.clear()
    await spot.running.venue.set_price("ETH/USDT", D("1985"))
    await spot.sync_until_filled()
    assert await spot.booked() == [D("0.5")]
    assert rest_calls() == before  # the stream alone: no poll, no repair
    assert spot.stream.up
    assert spot.stream.reconnects == 0


async def test_a_running_account_task_books_a_fill_from_its_stream(
    spot: Streamed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's own loop: its task opens the stream, repairs once, and books a fill the
    moment the stream delivers it (woken by it, no poll, no repair)."""
    monkeypatch.setattr(order_stream, "REPAIR_EVERY_SECONDS", 3600.0)  # no period in the test
    account_id = await spot.open("ccxtpro.binance", price="2000", limit="1990", qty="0.5")
    await spot.stream.stop()  # the task opens its own
    stop = asyncio.Event()
    task = AccountTask(spot.rt, stop, woken=True)
    running = asyncio.create_task(task.run())
    try:
        await until(lambda: task.stream is not None and task.stream.up, "the task's stream is up")
        assert task.stream is not None
        stream = task.stream
        await until(lambda: not stream.repair_due(orders_open=False), "the connect's repair ran")
        before, streamed = rest_calls(), booked_through("stream")
        await spot.running.venue.set_price("ETH/USDT", D("1985"))

        async def filled() -> bool:
            return (await spot.h.order(spot.order_id))["status"] == "FILLED"

        await until(filled, "the task booked the fill")
        assert await spot.booked() == [D("0.5")]
        assert rest_calls() == before
        assert booked_through("stream") == streamed + 1
        assert account_id == spot.account_id
    finally:
        stop.set()
        await running
    assert task.stream is None  # closed with the task


async def test_a_fill_in_the_sends_own_answer_and_on_the_stream_is_booked_once(
    spot: Streamed,
) -> None:
    """Binance spot answers a market order with its fills (FULL), and the stream delivers the
    same trades: one deal each, whichever comes first."""
    await spot.open("ccxtpro.binance", price="2000", limit="1990", qty="0.5")
    item = await spot.h.send(spot.account_id, "send_order", symbol="ETH/USDT", side="buy",
                             order_type="market", qty="0.25")  # fmt: skip
    assert item["ok"], item
    await spot.h.drain(spot.account_id, housekeeping=False)
    market = int(item["order_id"])
    assert (await spot.h.order(market))["status"] == "FILLED"
    await until(lambda: spot.stream.has_news(), "the stream delivered the market order's fill")
    await sync_orders(spot.rt, spot.stream)
    async with spot.gateway.read() as conn:
        rows = (await conn.execute(select(deals.c.exchange_trade_id, deals.c.qty).where(
            deals.c.order_id == market))).all()  # fmt: skip
    assert [D(q) for _, q in rows] == [D("0.25")], rows


async def test_a_fill_while_the_stream_is_dropped_is_booked_once_by_the_repair(
    spot: Streamed,
) -> None:
    await spot.open("ccxtpro.binance", price="2000", limit="1990", qty="0.5")
    await set_faults(spot.running, {"kind": "stream_drop", "count": 1})
    before = metrics.SYNC_REST_CALLS.labels("repair")._value.get()
    await spot.running.venue.set_price("ETH/USDT", D("1985"))  # its event closes the stream
    await until(lambda: spot.stream.reconnects == 1 and spot.stream.up, "reconnected")
    await spot.sync_until_filled()
    assert await spot.booked() == [D("0.5")]
    assert metrics.SYNC_REST_CALLS.labels("repair")._value.get() > before


async def test_a_fill_whose_events_were_skipped_is_booked_by_the_periods_repair(
    spot: Streamed,
) -> None:
    await spot.open("ccxtpro.binance", price="2000", limit="1990", qty="0.5")
    await set_faults(spot.running, {"kind": "stream_skip", "count": 10})
    await spot.running.venue.set_price("ETH/USDT", D("1985"))
    await sync_orders(spot.rt, spot.stream)
    assert (await spot.h.order(spot.order_id))["status"] == "SUBMITTED"  # nothing streamed
    spot.clock.now += order_stream.REPAIR_EVERY_SECONDS
    await spot.sync_until_filled()
    assert await spot.booked() == [D("0.5")]
    assert spot.stream.reconnects == 0


async def test_a_gap_between_an_orders_update_and_its_trades_is_repaired(
    gateway: Store, bybit: Running
) -> None:
    """Bybit sends the order's update and its execution apart: with the execution skipped,
    the update says filled beyond the books, and after the grace the symbol is repaired."""
    streamed = Streamed(gateway, bybit, "BTC/USDT:USDT")
    try:
        await streamed.open("ccxtpro.bybit", price="50000", limit="49900", qty="0.01")
        skip_second = {"kind": "stream_skip", "count": 1, "rate": "0.5"}
        await set_faults(bybit, skip_second, seed=_seed_skipping_the_second(skip_second))
        streamed.news.clear()
        await bybit.venue.set_price("BTC/USDT:USDT", D("49800"))
        await until(lambda: bool(streamed.stream.gaps()) or streamed.news.is_set(), "news")
        await until(_drained_gap(streamed), "the order's update opened a gap")
        assert await streamed.booked() == []
        streamed.clock.now += order_stream.GAP_GRACE_SECONDS
        await streamed.sync_until_filled()
        assert await streamed.booked() == [D("0.01")]
        assert not streamed.stream.gaps()
    finally:
        await streamed.close()


def _drained_gap(streamed: Streamed) -> Callable[[], Any]:
    async def check() -> bool:
        await sync_orders(streamed.rt, streamed.stream)
        return bool(streamed.stream.gaps())

    return check


def _seed_skipping_the_second(fault: dict[str, Any]) -> int:
    """A seed whose draws send the first event (the order's update) and skip the second (its
    execution): the venue's own seeded plan, read with its own rules."""
    for seed in range(1000):
        plan, tally = parse_plan({"seed": seed, "faults": [fault]}), Tally()
        first, tally = on_event(plan, tally)
        second, tally = on_event(plan, tally)
        if (first, second) == (SEND, SKIP):
            return seed
    raise AssertionError("no such seed")
