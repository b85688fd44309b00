"""A command that cancels many orders has several venue cancels in flight at once
(`cancel.CONCURRENCY`), and the outcome is what cancelling them one after another gives: every
order cancelled once on the venue and in the books, the items in the orders' order, a venue
refusal an item of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.service.execution import cancel
from apps.oms.store.tables import orders

from .conftest import Harness
from .test_change_replace import Tweaked

SYMBOL = "BTC/USDT:USDT"


async def resting(h: Harness, acct: int, n: int) -> list[int]:
    await h.price(SYMBOL, "50000")
    ids = []
    for i in range(n):
        item = await h.send(
            acct,
            "send_order",
            symbol=SYMBOL,
            side="buy",
            order_type="limit",
            qty="0.001",
            price=str(40000 + i),
        )
        assert item["ok"], item
        ids.append(int(item["order_id"]))
    await h.drain(acct, housekeeping=False)
    return ids


class InFlight:
    """Counts the venue cancels running at once; each waits until a second one has started (or
    none is left to start), so that overlap is what the test sees, not a scheduling accident."""

    def __init__(self, venue: Any, refused: set[str]) -> None:
        self.venue, self.refused = venue, refused
        self.running = self.most = self.calls = 0
        self.started = asyncio.Event()

    async def cancel_order(self, order_id: str, symbol: str, *a: Any) -> Any:
        self.calls += 1
        self.running += 1
        self.most = max(self.most, self.running)
        if self.running > 1:
            self.started.set()
        try:
            await asyncio.wait_for(self.started.wait(), 5)  # a deadline, not a bound: it goes on
        except TimeoutError:
            pass
        finally:
            self.running -= 1
        if order_id in self.refused:
            raise ccxt.ExchangeError("refused by the venue")
        return await self.venue.cancel_order(order_id, symbol, *a)


async def test_cancel_all_cancels_several_at_once_and_each_once(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    ids = await resting(h, acct, 3 * cancel.CONCURRENCY)
    rt = await h.runtime(acct)
    async with h.store.read() as conn:
        linked = dict(tuple(r) for r in (await conn.execute(select(orders.c.id, orders.c.exchange_order_id).where(
            orders.c.id.in_(ids)))).all())  # fmt: skip
    refused = {str(linked[ids[5]])}
    flight = InFlight(rt.venue, refused)
    rt.venue = Tweaked(rt.venue, cancel_order=flight.cancel_order)  # type: ignore[assignment]
    done = await h.send(acct, "cancel_all_orders", symbol=SYMBOL)
    await h.drain(acct, housekeeping=False)
    command = await h.command(done["command_id"])
    assert command["status"] == "completed", command
    items = command["result"]["items"]
    assert [int(i["order_id"]) for i in items] == ids  # the orders' order
    assert [i["ok"] for i in items] == [i != ids[5] for i in ids], [i for i in items if not i["ok"]]
    assert items[5]["code"] == "venue_error"
    assert flight.calls == len(ids)  # each once
    assert 1 < flight.most <= cancel.CONCURRENCY
    async with h.store.read() as conn:
        statuses = dict(tuple(r) for r in (await conn.execute(select(orders.c.id, orders.c.status).where(
            orders.c.id.in_(ids)))).all())  # fmt: skip
    assert statuses == {i: "SUBMITTED" if i == ids[5] else "CANCELED" for i in ids}
    left = await rt.venue.fetch_open_orders(SYMBOL)
    assert [o["id"] for o in left] == [str(linked[ids[5]])]


async def test_cancel_by_ids_keeps_the_ids_order(harness: Callable[..., Harness]) -> None:
    h = harness()
    acct = await h.account("hedge")
    ids = await resting(h, acct, cancel.CONCURRENCY + 2)
    wanted = [ids[3], ids[0], ids[-1], ids[0]]  # a repeated id is cancelled once
    done = await h.send(acct, "cancel_order", order_ids=wanted)
    assert done.get("ok"), done
    await h.drain(acct, housekeeping=False)
    command = await h.command(done["command_id"])
    items = command["result"]["items"]
    assert [(int(i["order_id"]), i["ok"], i["status"]) for i in items] == [
        (ids[3], True, "CANCELED"),
        (ids[0], True, "CANCELED"),
        (ids[-1], True, "CANCELED"),
    ]
    async with h.store.read() as conn:
        still = (await conn.execute(select(orders.c.id).where(
            orders.c.account_id == acct, orders.c.is_open.is_(True)))).scalars().all()  # fmt: skip
    assert sorted(still) == sorted(set(ids) - {ids[3], ids[0], ids[-1]})
