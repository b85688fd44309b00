"""Good-till-date orders the venue works, through the real acceptance, worker and paper venue:
the venue works them as good-till-cancelled, the owner cancels each once its date has passed
and the order ends EXPIRED; a queued send past its date is never sent; a takeover's new owner
expires what the old one left; an expired close gives its reservation back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from apps.oms.clock import utcnow
from apps.oms.store.tables import account_leases, commands, orders

from .conftest import Harness, eventually
from .test_commands import assert_fold, positions_of
from .test_held_orders import _events

SYMBOL = "BTC/USDT:USDT"


async def _gtd_buy(h: Harness, acct: int, expires_in: timedelta, price: str = "40000"
                   ) -> dict[str, Any]:  # fmt: skip
    """A good-till-date limit buy of 0.001 below the market (50,000), accepted."""
    item = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                        qty="0.001", price=price, time_in_force="GTD",
                        expire_at=(utcnow() + expires_in).isoformat())
    assert item["ok"], item
    return item


async def _date_passes(h: Harness, order_id: int) -> None:
    """The order's date is now in the past (as if the time had come)."""
    async with h.store.transaction() as conn:
        await conn.execute(update(orders).where(orders.c.id == order_id)
                           .values(expire_at=utcnow() - timedelta(seconds=1)))


async def _venue_order(h: Harness, acct: int, order: dict[str, Any]) -> dict[str, Any]:
    rt = await h.runtime(acct)
    found: dict[str, Any] = await rt.venue.fetch_order(order["exchange_order_id"], SYMBOL)
    return found


async def test_a_resting_limit_is_cancelled_on_the_venue_at_its_date_and_ends_expired(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    date = utcnow() + timedelta(seconds=3)
    item = await _gtd_buy(h, acct, date - utcnow())
    await h.drain(acct)
    order = await h.order(item["order_id"])
    assert order["exchange_order_id"] is not None
    assert order["time_in_force"] == "GTD"
    resting = await _venue_order(h, acct, order)
    assert resting["timeInForce"] in (None, "GTC")  # the venue was told no date
    # nothing runs the account between drains: a drain that ended before the date left it
    # working (a loaded machine may take the whole 3 s to send it, and then expire it)
    if utcnow() < date:
        assert (order["status"], resting["status"]) == ("SUBMITTED", "open")

    async def expired() -> bool:
        await h.drain(acct)
        return str((await h.order(item["order_id"]))["status"]) == "EXPIRED"

    await eventually(expired)  # the date comes (a safety deadline, not a speed bound)
    order = await h.order(item["order_id"])
    assert (await _venue_order(h, acct, order))["status"] == "canceled"
    (event,) = await _events(h, acct, "order_expired")
    assert (event["id"], event["status"]) == (item["order_id"], "EXPIRED")
    async with h.store.read() as conn:
        status = (await conn.execute(select(commands.c.status).where(
            commands.c.id == item["command_id"]))).scalar()
    assert status == "completed"
    # nothing more happens to it: a later round finds nothing due
    await h.drain(acct)
    assert (await h.order(item["order_id"]))["status"] == "EXPIRED"


async def test_a_fill_before_the_date_stands(harness: Callable[..., Harness]) -> None:
    h = harness()
    acct = await h.account("netting")
    await h.price(SYMBOL, "50000")
    item = await _gtd_buy(h, acct, timedelta(hours=1))
    await h.drain(acct)
    await h.price(SYMBOL, "39000")  # the limit fills
    await h.drain(acct)
    assert (await h.order(item["order_id"]))["status"] == "FILLED"
    await _date_passes(h, item["order_id"])
    await h.drain(acct)
    assert (await h.order(item["order_id"]))["status"] == "FILLED"
    (pos,) = await positions_of(h, acct)
    assert str(pos["qty"]).rstrip("0").rstrip(".") == "0.001"
    await assert_fold(h, acct)


async def test_a_send_queued_past_its_date_is_never_sent(harness: Callable[..., Harness]
                                                         ) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    items = [await _gtd_buy(h, acct, timedelta(hours=1), price) for price in ("40000", "41000")]
    for item in items:  # no worker ran before their date
        await _date_passes(h, item["order_id"])
    await h.drain(acct)
    for item in items:
        order = await h.order(item["order_id"])
        assert (order["status"], order["exchange_order_id"]) == ("EXPIRED", None)
        async with h.store.read() as conn:
            status = (await conn.execute(select(commands.c.status).where(
                commands.c.id == item["command_id"]))).scalar()
        assert status == "completed"
    rt = await h.runtime(acct)
    assert await rt.venue.fetch_open_orders() == []


async def test_the_next_owner_expires_what_a_killed_owner_left(harness: Callable[..., Harness]
                                                               ) -> None:
    a, b = harness(), harness()
    acct = await a.account("hedge")
    await a.price(SYMBOL, "50000")
    item = await _gtd_buy(a, acct, timedelta(hours=1))
    await a.drain(acct)  # on the venue; A knows its date is an hour away, then dies
    assert (await a.order(item["order_id"]))["status"] == "SUBMITTED"
    await _date_passes(a, item["order_id"])
    async with a.store.transaction() as conn:  # A's lease expires
        await conn.execute(update(account_leases).where(account_leases.c.account_id == acct)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    await b.runtime(acct, owner="B")
    await b.drain(acct)  # B's first round reads the dates afresh
    order = await b.order(item["order_id"])
    assert order["status"] == "EXPIRED"
    assert (await _venue_order(b, acct, order))["status"] == "canceled"


async def test_an_expired_close_gives_its_reservation_back(harness: Callable[..., Harness]
                                                           ) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    bought = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                          qty="0.01")
    await h.drain(acct)
    (pos,) = await positions_of(h, acct)
    date = utcnow() + timedelta(seconds=3)
    item = await h.send(acct, "send_order", symbol=SYMBOL, side="sell", order_type="limit",
                        qty="0.01", price="60000", reduce_only=True, position_id=pos["id"],
                        time_in_force="GTD", expire_at=date.isoformat())
    assert bought["ok"], bought
    assert item["ok"], item
    await h.drain(acct)
    if utcnow() < date:  # the drain ended before the date (nothing runs the account between)
        (pos,) = await positions_of(h, acct)
        assert pos["pending_close_qty"] > 0
    await asyncio.sleep(max(0.0, (date - utcnow()).total_seconds()) + 0.1)  # its date passes
    await h.drain(acct)
    assert (await h.order(item["order_id"]))["status"] == "EXPIRED"
    (pos,) = await positions_of(h, acct)
    assert (pos["state"], pos["pending_close_qty"]) == ("open", 0)
    await assert_fold(h, acct)
