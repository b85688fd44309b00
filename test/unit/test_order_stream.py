"""`OrderStream`'s bookkeeping without a venue on the wire: what it gathers and gives back, the
trades waiting for their order's link, when a repair is due, and the watches' up/down state
over a venue whose watches answer, fail and answer again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from apps.oms.exchange.ccxt.venue import CcxtVenue
from apps.oms.service.execution import order_stream
from apps.oms.service.execution.order_stream import OrderStream, streaming

D = Decimal


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Venue:
    """Watches fed by the test: each call takes the next item of its script (a list of
    structures, or an exception to raise), then waits for more."""

    def __init__(self) -> None:
        self.scripts: dict[str, asyncio.Queue[Any]] = {"trades": asyncio.Queue(),
                                                         "orders": asyncio.Queue()}  # fmt: skip
        self.has = {"watchOrders": True, "watchMyTrades": True}

    def streams(self) -> bool:
        return True

    async def _next(self, name: str) -> list[dict[str, Any]]:
        item = await self.scripts[name].get()
        if isinstance(item, BaseException):
            raise item
        return list(item)

    async def watch_my_trades(self, *_: Any) -> list[dict[str, Any]]:
        return await self._next("trades")

    async def watch_orders(self, *_: Any) -> list[dict[str, Any]]:
        return await self._next("orders")


async def settled(check: Callable[[], bool]) -> None:
    """Until `check()` holds (the watches run as tasks of their own)."""
    for _ in range(10_000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never settled")


def stream(clock: Clock | None = None) -> OrderStream:
    return OrderStream(Venue(), 1, clock=clock or Clock())  # type: ignore[arg-type]


def test_take_gives_the_waiting_trades_first_then_the_newest_update_of_each_order() -> None:
    s = stream()
    s.wait_for_link([{"id": "t0"}])
    s._trade({"id": "t1"})
    s._order({"id": "o1", "status": "open"})
    s._order({"id": "o1", "status": "closed"})
    s._order({"id": None})
    assert s.has_news()
    taken = s.take()
    assert [t["id"] for t in taken.trades] == ["t0", "t1"]
    assert taken.orders == [{"id": "o1", "status": "closed"}]
    assert not s.has_news()
    assert s.take().trades == []


def test_a_trade_waits_for_its_orders_link_only_so_long() -> None:
    clock = Clock()
    s = stream(clock)
    s.wait_for_link([{"id": "t1"}])
    clock.now += order_stream.LINK_WAIT_SECONDS - 1
    assert [t["id"] for t in s.take().trades] == ["t1"]
    s.wait_for_link([{"id": "t1"}])  # put back again: its wait starts again
    clock.now += order_stream.LINK_WAIT_SECONDS
    assert s.take().trades == []


def test_the_waiting_trades_are_bounded() -> None:
    s = stream()
    s.wait_for_link([{"id": str(i)} for i in range(order_stream.WAITING_MAX + 5)])
    trades = s.take().trades
    assert len(trades) == order_stream.WAITING_MAX
    assert trades[0]["id"] == "5"  # the oldest went first


def test_a_repair_is_due_after_a_connect_and_then_by_the_period_while_orders_are_open() -> None:
    clock = Clock()
    s = stream(clock)
    assert not s.repair_due(orders_open=True)
    s.repair_now()
    assert s.repair_due(orders_open=False)
    s.repaired(whole=True)
    assert not s.repair_due(orders_open=True)
    clock.now += order_stream.REPAIR_EVERY_SECONDS
    assert s.repair_due(orders_open=True)
    assert not s.repair_due(orders_open=False)  # nothing open: nothing to repair


def test_a_gap_is_due_after_its_grace_and_keeps_its_first_deadline() -> None:
    clock = Clock()
    s = stream(clock)
    s.watch_gap("o1", "BTC/USDT", D("1"))
    assert s.gaps_due() == set()
    clock.now += order_stream.GAP_GRACE_SECONDS / 2
    s.watch_gap("o1", "BTC/USDT", D("2"))  # a later update: same deadline, the newer amount
    assert s.gaps()["o1"].venue_filled == D("2")
    clock.now += order_stream.GAP_GRACE_SECONDS / 2
    assert s.gaps_due() == {"BTC/USDT"}
    s.repaired(whole=False)
    assert s.gaps() == {}
    s.watch_gap("o2", "ETH/USDT", D("1"))
    s.close_gap("o2")
    assert s.gaps() == {}


def test_a_gap_repair_leaves_the_period_alone() -> None:
    clock = Clock()
    s = stream(clock)
    s.repaired(whole=True)
    clock.now += order_stream.REPAIR_EVERY_SECONDS - 1
    s.repaired(whole=False)
    clock.now += 1
    assert s.repair_due(orders_open=True)


async def test_the_watches_go_up_down_and_up_again_and_a_drop_counts_once() -> None:
    clock = Clock()
    venue = Venue()
    news = asyncio.Event()
    s = OrderStream(venue, 1, news.set, clock)  # type: ignore[arg-type]
    s.start()
    try:
        await venue.scripts["trades"].put([{"id": "t1", "order": "o1"}])
        await venue.scripts["orders"].put([{"id": "o1", "status": "closed"}])
        await news.wait()
        await settled(lambda: s.up)
        assert s.repair_due(orders_open=False)  # the connect's repair
        s.repaired(whole=True)
        dropped = ConnectionError("closed by the venue")
        await venue.scripts["trades"].put(dropped)
        await venue.scripts["orders"].put(dropped)
        await settled(lambda: not s.up)
        await settled(lambda: s.up)  # opened again after the backoff, with a repair due
        assert s.reconnects == 1
        assert s.repair_due(orders_open=False)
        taken = s.take()
        assert [t["id"] for t in taken.trades] == ["t1"]
    finally:
        await s.stop()
    assert not s.up


async def test_only_a_ccxt_pro_instance_is_streamed() -> None:
    import ccxt.async_support as ccxt_async
    import ccxt.pro as ccxt_pro

    pro, plain = CcxtVenue(ccxt_pro.binance()), CcxtVenue(ccxt_async.binance())
    try:
        assert streaming(pro) is pro
        assert streaming(plain) is None
        assert streaming(Venue()) is None  # type: ignore[arg-type]  # no VenuePort at all
    finally:
        await pro.close()
        await plain.close()
