"""An OCO with a plain limit leg resting on the venue (Binance's OCO: a limit maker and a
stop) through the real acceptance, worker and paper venue: the limit fills on the venue and
disarms the stop; or the stop fires, the limit is cancelled on the venue first and only then
does the stop's child go out, sized to what the limit did not fill; a takeover between the
firing and the send sends the child once."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from apps.oms.service.execution import held as held_service
from apps.oms.store.tables import held_orders

from .conftest import Harness
from .test_commands import assert_fold, positions_of
from .test_held_orders import _long, _take_over
from .test_order_groups import SYMBOL, children, group_of


async def _held_state(h: Harness, order_id: int) -> str:
    async with h.store.read() as conn:
        return str((await conn.execute(select(held_orders.c.state).where(
            held_orders.c.order_id == order_id))).scalar_one())


async def _long_with_oco(h: Harness, *, resting_first: bool, **account: Any
                        ) -> tuple[int, dict[str, Any], dict[str, Any]]:  # fmt: skip
    """A hedge account long 0.01 at 50,000, its take-profit limit at 52,000 resting on the
    venue and a held stop at 49,000, one cancelling the other; the resting limit is the order
    itself or its other leg. Returns (account id, the limit's row, the stop's row)."""
    acct = await h.account("hedge", **account)
    pid = await _long(h, acct)
    close = {"symbol": SYMBOL, "side": "sell", "qty": "0.01", "reduce_only": True,
             "position_id": pid}
    if resting_first:
        item = await h.send(acct, "send_order", **close, order_type="limit", price="52000",
                            oco_orders=[{"stop_price": "49000"}])
    else:
        item = await h.send(acct, "send_order", **close, order_type="market",
                            stop_price="49000",
                            oco_orders=[{"order_type": "limit", "price": "52000"}])
    assert item["ok"], item
    await h.drain(acct)
    group = await group_of(h, item["order_id"])
    assert group["state"] == "active"
    limit, stop = (("leg0", "leg1") if resting_first else ("leg1", "leg0"))
    return acct, group["members"][limit], group["members"][stop]


async def _stop_crossed(h: Harness, acct: int, stop: dict[str, Any]) -> None:
    """The price crosses the stop: it fires, and waits for the resting limit's end."""
    await h.price(SYMBOL, "48900")
    assert await held_service.check_held(await h.runtime(acct)) == 1
    assert await _held_state(h, stop["id"]) == "firing"


@pytest.mark.parametrize("resting_first", [True, False], ids=["limit_first", "stop_first"])
async def test_the_resting_limit_fills_on_the_venue_and_disarms_the_stop(
    harness: Callable[..., Harness], resting_first: bool,
) -> None:
    h = harness()
    acct, limit, stop = await _long_with_oco(h, resting_first=resting_first)
    assert (limit["emulation"], limit["status"], limit["order_type"], limit["reduce_only"]) == (
        "venue", "SUBMITTED", "limit", True)
    assert limit["exchange_order_id"] is not None  # it rests on the venue
    assert (stop["emulation"], await _held_state(h, stop["id"])) == ("gateway", "armed")
    await h.price(SYMBOL, "52100")
    await h.drain(acct)
    group = await group_of(h, limit["id"])
    assert group["state"] == "done"
    roles = {m["id"]: m["status"] for m in group["members"].values()}
    assert (roles[limit["id"]], roles[stop["id"]]) == ("FILLED", "CANCELED")
    await h.price(SYMBOL, "48000")  # the stop's price: it was disarmed
    await h.drain(acct)
    assert await children(h, stop["id"]) == []
    (pos,) = await positions_of(h, acct)
    assert pos["state"] == "closed"
    await assert_fold(h, acct)


@pytest.mark.parametrize("resting_first", [True, False], ids=["limit_first", "stop_first"])
async def test_the_stop_cancels_the_resting_limit_before_its_child_goes_out(
    harness: Callable[..., Harness], resting_first: bool,
) -> None:
    h = harness()
    acct, limit, stop = await _long_with_oco(h, resting_first=resting_first)
    await _stop_crossed(h, acct, stop)
    rt = await h.runtime(acct)
    assert await children(h, stop["id"]) == []  # nothing goes out while the limit rests
    assert (await h.order(limit["id"]))["status"] == "SUBMITTED"
    assert await held_service.check_held(rt) == 1  # the limit cancelled, then the child sent
    assert (await h.order(limit["id"]))["status"] == "CANCELED"
    (child,) = await children(h, stop["id"])
    assert (child["qty"], child["order_type"], child["reduce_only"]) == (
        Decimal("0.01"), "market", True)
    await h.drain(acct)
    group = await group_of(h, limit["id"])
    roles = {m["id"]: m["status"] for m in group["members"].values()}
    assert (group["state"], roles[limit["id"]], roles[stop["id"]]) == (
        "done", "CANCELED", "FILLED")
    assert await _held_state(h, stop["id"]) == "done"
    async with h.store.read() as conn:
        fired_price = (await conn.execute(select(held_orders.c.fired_price).where(
            held_orders.c.order_id == stop["id"]))).scalar_one()
    assert fired_price == Decimal(48900)  # the price that crossed it, not a later one
    await h.price(SYMBOL, "52100")  # the limit's price: it is gone from the venue
    await h.drain(acct)
    (pos,) = await positions_of(h, acct)
    assert pos["state"] == "closed"
    assert len(await children(h, stop["id"])) == 1
    await assert_fold(h, acct)


async def test_the_stop_sends_only_what_the_limit_did_not_fill_before_its_cancel(
    harness: Callable[..., Harness],
) -> None:
    """The limit filled a part on the venue that the books have not seen when the stop fires:
    the stop's child closes the rest, never the whole qty again."""
    h = harness()
    acct, limit, stop = await _long_with_oco(h, resting_first=True,
                                             book={"resting_volume": "0.004"})
    await h.price(SYMBOL, "52000")
    rt = await h.runtime(acct)
    await rt.venue.match()  # the venue matches: 0.004 of the limit fills, not booked yet
    await _stop_crossed(h, acct, stop)  # the books saw no fill: the stop fires
    assert await held_service.check_held(rt) == 1  # the limit cancelled, then the child sent
    (child,) = await children(h, stop["id"])
    assert child["qty"] == Decimal("0.006")
    await h.drain(acct)
    group = await group_of(h, limit["id"])
    roles = {m["id"]: (m["status"], m["filled_qty"]) for m in group["members"].values()}
    assert group["state"] == "done"
    assert roles[limit["id"]] == ("CANCELED", Decimal("0.004"))
    assert roles[stop["id"]] == ("FILLED", Decimal("0.006"))
    (pos,) = await positions_of(h, acct)
    assert pos["state"] == "closed"
    await assert_fold(h, acct)


async def test_a_takeover_between_the_firing_and_the_send_sends_the_child_once(
    harness: Callable[..., Harness],
) -> None:
    a, b = harness(), harness()
    acct, limit, stop = await _long_with_oco(a, resting_first=True)
    await _stop_crossed(a, acct, stop)  # A dies before it sends the child
    await _take_over(a, b, acct)
    await b.price(SYMBOL, "50000")  # back above the stop: it fired already, it still goes
    await b.drain(acct)
    (child,) = await children(b, stop["id"])
    assert child["status"] == "FILLED"
    assert (await b.order(limit["id"]))["status"] == "CANCELED"
    (pos,) = await positions_of(b, acct)
    assert pos["state"] == "closed"
    await assert_fold(b, acct)


@pytest.mark.parametrize("cancelled", ["stop", "limit"])
async def test_cancelling_either_leg_while_the_stop_is_firing_sends_nothing(
    harness: Callable[..., Harness], cancelled: str,
) -> None:
    """A cancel of any member ends the group whole: the firing stop never sends its child,
    even once the limit's cancel has left it free to."""
    h = harness()
    acct, limit, stop = await _long_with_oco(h, resting_first=False)
    await _stop_crossed(h, acct, stop)
    named = stop if cancelled == "stop" else limit
    assert (await h.send(acct, "cancel_order", order_id=named["id"]))["ok"]
    await h.drain(acct, housekeeping=False)  # the cancel first, then the rounds
    await held_service.check_held(await h.runtime(acct))  # the limit is gone: still nothing
    assert await children(h, stop["id"]) == []
    await h.drain(acct)
    group = await group_of(h, stop["id"])
    roles = {m["id"]: m["status"] for m in group["members"].values()}
    assert (group["state"], roles[limit["id"]], roles[stop["id"]]) == (
        "canceled", "CANCELED", "CANCELED")
    assert await children(h, stop["id"]) == []
    (pos,) = await positions_of(h, acct)
    assert (pos["state"], pos["pending_close_qty"]) == ("open", Decimal(0))
    await assert_fold(h, acct)


@pytest.mark.parametrize(("fields", "why"), [
    ({"order_type": "limit", "price": "52000", "oco_orders": [
        {"order_type": "limit", "price": "53000"}]}, "at most one"),
    ({"order_type": "market", "oco_orders": [{"stop_price": "49000"}]}, "without a trigger"),
    ({"order_type": "limit", "price": "52000", "time_in_force": "IOC",
      "oco_orders": [{"stop_price": "49000"}]}, "IOC"),
])
async def test_an_oco_that_cannot_rest_is_refused(
    harness: Callable[..., Harness], fields: dict[str, Any], why: str,
) -> None:
    h = harness()
    acct = await h.account("hedge")
    pid = await _long(h, acct)
    item = await h.send(acct, "send_order", symbol=SYMBOL, side="sell", qty="0.01",
                        reduce_only=True, position_id=pid, **fields)
    assert (item["ok"], item.get("code")) == (False, "validation_error"), (why, item)
