"""Binance spot's own OCO through a gateway account on the local Binance spot venue, with CCXT's
own `binance` class: `emulation: venue` on an OCO of a limit and a stop places both legs on the
exchange in one order list; the exchange expires the other leg the moment one executes and the
gateway's books and group follow what it reports; a cancel of a leg ends both; an answer lost
on the way back is settled by looking both legs up by client order id, never by placing them
again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from apps.oms.clock import utcnow
from apps.oms.ports import OcoLeg
from apps.oms.service.execution import dispatch, venue_oco
from apps.oms.store.store import Store
from apps.oms.store.tables import order_groups, order_venue_orders, orders
from apps.paper.wire.process import Running
from apps.worker.venues import load_account
from test.integration.pipeline_worker.conftest import Harness, eventually
from test.integration.wire.conftest import gateway_ccxt_account, spot_options
from test.integration.wire.test_faults_ccxt import admin, set_faults

D = Decimal
SYMBOL = "ETH/USDT"


@asynccontextmanager
async def spot_account(gateway: Store, served: Running
                       ) -> AsyncIterator[tuple[Harness, int, Any]]:  # fmt: skip
    """A gateway account on the venue's Binance spot at 3,000 holding 1 ETH it bought through
    the gateway; the venue account's own engine (what the exchange holds)."""
    await served.venue.set_price(SYMBOL, D(3000))
    account_id, creds = await gateway_ccxt_account(
        gateway, served, "ccxt.binance", {"urls": served.ccxt_urls(), **spot_options(None)})
    h = Harness(gateway)
    assert await h.venues.open(await load_account(gateway, account_id)) is not None
    try:
        bought = await h.send(account_id, "send_order", symbol=SYMBOL, side="buy",
                              order_type="market", qty="1")  # fmt: skip
        assert bought["ok"], bought
        await h.drain(account_id)
        yield h, account_id, served.venue.accounts.venue(creds.api_key)
    finally:
        await h.venues.close()


async def take_profit_and_stop(h: Harness, account_id: int, **extra: Any) -> dict[str, Any]:
    """A sell of the ETH: a limit at 3,100 and a stop at 2,900 in one order list."""
    placed = await h.send(account_id, "send_order", symbol=SYMBOL, side="sell",
                          order_type="limit", qty="1", price="3100", emulation="venue",
                          oco_orders=[{"stop_price": "2900"}], **extra)  # fmt: skip
    assert placed["ok"], placed
    return placed


async def legs_and_group(gateway: Store, group_id: int) -> tuple[list[dict[str, Any]], str]:
    async with gateway.read() as conn:
        legs = (await conn.execute(select(orders).where(orders.c.group_id == group_id)
                                   .order_by(orders.c.id))).mappings().all()  # fmt: skip
        state = (await conn.execute(select(order_groups.c.state).where(
            order_groups.c.id == group_id))).scalar_one()  # fmt: skip
    return [dict(r) for r in legs], str(state)


async def settled(h: Harness, gateway: Store, account_id: int, group_id: int,
                  statuses: list[str]) -> list[dict[str, Any]]:
    """The legs once the gateway's sync saw them end as `statuses` (its order sync runs at
    most once a second per account)."""
    seen: list[dict[str, Any]] = []

    async def ended() -> bool:
        await h.drain(account_id)
        seen[:] = (await legs_and_group(gateway, group_id))[0]
        return [r["status"] for r in seen] == statuses

    await eventually(ended)
    return seen


async def placed_legs(h: Harness, gateway: Store, account_id: int, order_id: int
                      ) -> tuple[int, list[dict[str, Any]]]:  # fmt: skip
    await h.drain(account_id)
    group_id = int((await h.order(order_id))["group_id"])
    legs, state = await legs_and_group(gateway, group_id)
    assert state == "active"
    return group_id, legs


@pytest.mark.parametrize(("price", "ended"), [
    (D(3101), ["FILLED", "EXPIRED"]),  # the limit fills; the exchange expires the stop
    (D(2899), ["EXPIRED", "FILLED"]),  # the stop fills; the exchange expires the limit
])  # fmt: skip
async def test_both_legs_rest_on_the_exchange_and_one_fill_expires_the_other(
    gateway: Store, served: Running, price: Decimal, ended: list[str]
) -> None:
    async with spot_account(gateway, served) as (h, account_id, exchange):
        placed = await take_profit_and_stop(h, account_id)
        group_id, legs = await placed_legs(h, gateway, account_id, placed["order_id"])
        assert [(r["group_role"], r["emulation"], r["status"], r["order_type"])
                for r in legs] == [("leg0", "venue", "SUBMITTED", "limit"),
                                   ("leg1", "venue", "SUBMITTED", "market")]  # fmt: skip
        on_venue = {o["clientOrderId"]: o for o in await exchange.fetch_open_orders(SYMBOL)}
        assert set(on_venue) == {r["client_order_id"] for r in legs}
        stop = on_venue[legs[1]["client_order_id"]]
        assert D(str(stop["triggerPrice"])) == D(2900)
        assert all(r["exchange_order_id"] for r in legs)
        await served.venue.set_price(SYMBOL, price)
        legs = await settled(h, gateway, account_id, group_id, ended)
        assert [r["filled_qty"] for r in legs] == [D(1) if s == "FILLED" else D(0)
                                                   for s in ended]  # fmt: skip
        await eventually(lambda: _state_is(h, gateway, account_id, group_id, "done"))
        assert await exchange.fetch_open_orders(SYMBOL) == []


async def test_the_stop_may_be_the_order_itself_and_the_limit_its_leg(
    gateway: Store, served: Running
) -> None:
    """As the console's ticket sends it: a stop (its `trigger_price`) with a limit leg."""
    async with spot_account(gateway, served) as (h, account_id, exchange):
        placed = await h.send(account_id, "send_order", symbol=SYMBOL, side="sell",
                              order_type="market", qty="1", trigger_price="2900",
                              emulation="venue",
                              oco_orders=[{"order_type": "limit", "price": "3100"}])  # fmt: skip
        assert placed["ok"], placed
        group_id, legs = await placed_legs(h, gateway, account_id, placed["order_id"])
        on_venue = {o["clientOrderId"]: o for o in await exchange.fetch_open_orders(SYMBOL)}
        assert D(str(on_venue[legs[0]["client_order_id"]]["triggerPrice"])) == D(2900)
        assert D(str(on_venue[legs[1]["client_order_id"]]["price"])) == D(3100)
        await served.venue.set_price(SYMBOL, D(2899))
        await settled(h, gateway, account_id, group_id, ["FILLED", "EXPIRED"])


async def test_a_cancel_of_one_leg_ends_both(gateway: Store, served: Running) -> None:
    async with spot_account(gateway, served) as (h, account_id, exchange):
        placed = await take_profit_and_stop(h, account_id)
        group_id, legs = await placed_legs(h, gateway, account_id, placed["order_id"])
        canceled = await h.send(account_id, "cancel_order", order_id=legs[1]["id"])
        assert canceled["ok"], canceled
        await settled(h, gateway, account_id, group_id, ["CANCELED", "CANCELED"])
        await eventually(lambda: _state_is(h, gateway, account_id, group_id, "canceled"))
        assert await exchange.fetch_open_orders(SYMBOL) == []


async def test_a_leg_is_not_changed(gateway: Store, served: Running) -> None:
    """Binance changes an order by cancelling it, which would end the whole list: a change of
    a leg is refused at acceptance, the list stays as it was."""
    async with spot_account(gateway, served) as (h, account_id, exchange):
        placed = await take_profit_and_stop(h, account_id)
        _, legs = await placed_legs(h, gateway, account_id, placed["order_id"])
        for leg in legs:
            changed = await h.send(account_id, "change_order", order_id=leg["id"],
                                   new_qty="0.5")  # fmt: skip
            assert changed == {"ok": False, "code": "not_supported"}, changed
        assert len(await exchange.fetch_open_orders(SYMBOL)) == 2


async def test_a_lost_answer_is_settled_by_looking_both_legs_up(
    gateway: Store, served: Running
) -> None:
    async with spot_account(gateway, served) as (h, account_id, exchange):
        await set_faults(served, {"kind": "lost_response", "endpoints": "orders", "count": 1,
                                  "mode": "drop"})  # fmt: skip
        try:
            placed = await take_profit_and_stop(h, account_id)
            _, legs = await placed_legs(h, gateway, account_id, placed["order_id"])
            _, shown = await admin(served, "GET", "/admin/faults")
            assert shown["faults"][0]["hits"] == 1  # the order list's answer was dropped
        finally:
            await set_faults(served)
        assert [(r["status"], r["outcome_unknown"]) for r in legs] == [
            ("SUBMITTED", False), ("SUBMITTED", False)]
        on_venue = await exchange.fetch_open_orders(SYMBOL)
        assert sorted(o["clientOrderId"] for o in on_venue) == sorted(
            r["client_order_id"] for r in legs)  # placed once: two orders, one list
        command = await h.command(placed["command_id"])
        assert command["status"] == "completed", command


async def test_the_exchange_refuses_a_list_the_price_has_passed(
    gateway: Store, served: Running
) -> None:
    """A sell list whose limit is below the last price: Binance refuses it (its prices'
    relationship), both legs end REJECTED and the command fails with the venue's reason."""
    async with spot_account(gateway, served) as (h, account_id, exchange):
        placed = await h.send(account_id, "send_order", symbol=SYMBOL, side="sell",
                              order_type="limit", qty="1", price="2950", emulation="venue",
                              oco_orders=[{"stop_price": "2900"}])  # fmt: skip
        assert placed["ok"], placed
        await h.drain(account_id)
        group_id = int((await h.order(placed["order_id"]))["group_id"])
        legs, state = await legs_and_group(gateway, group_id)
        assert [r["status"] for r in legs] == ["REJECTED", "REJECTED"]
        assert state == "canceled"
        command = await h.command(placed["command_id"])
        assert (command["status"], command["error_code"]) == ("failed", "venue_rejected")
        assert await exchange.fetch_open_orders(SYMBOL) == []


async def _state_is(h: Harness, gateway: Store, account_id: int, group_id: int,
                    state: str) -> bool:  # fmt: skip
    await h.drain(account_id)
    return (await legs_and_group(gateway, group_id))[1] == state


async def written_ahead(h: Harness, account_id: int) -> tuple[Any, list[dict[str, Any]]]:
    """The OCO's send claimed and both legs written ahead by a worker that dies next."""
    rt = await h.runtime(account_id)
    claimed = await dispatch.claim(rt)
    assert claimed is not None
    assert claimed.order_id is not None
    step, legs = await venue_oco._prepare(rt, claimed, claimed.order_id)
    assert step == "place"
    assert [r["outcome_unknown"] for r in legs] == [True, True]
    return rt, legs


async def lookup_window_passed(gateway: Store, legs: list[dict[str, Any]]) -> None:
    """The legs' lookup window passed meanwhile: their venue-order rows written an hour ago."""
    async with gateway.transaction() as conn:
        await conn.execute(update(order_venue_orders).where(
            order_venue_orders.c.client_order_id.in_([r["client_order_id"] for r in legs]))
            .values(created_at=utcnow() - timedelta(hours=1)))  # fmt: skip


def next_owner(h: Harness) -> None:
    """The dead worker's runtime forgotten: the next `runtime` takes the lease anew (a new
    epoch), as a worker does after a kill -9 of the owner."""
    h.runtimes.clear()


async def test_a_worker_killed_after_the_request_leaves_legs_the_next_owner_finds(
    gateway: Store, served: Running
) -> None:
    async with spot_account(gateway, served) as (h, account_id, exchange):
        placed = await take_profit_and_stop(h, account_id)
        rt, legs = await written_ahead(h, account_id)
        await rt.venue.create_oco(SYMBOL, "sell", D(1), tuple(  # type: ignore[attr-defined]
            OcoLeg(r["client_order_id"], r["order_type"], r["price"], r["stop_price"],
                   r["take_profit_price"]) for r in legs), legs[0]["client_order_id"])
        next_owner(h)
        await h.drain(account_id)
        group_id = int((await h.order(placed["order_id"]))["group_id"])
        legs, state = await legs_and_group(gateway, group_id)
        assert [(r["status"], r["outcome_unknown"]) for r in legs] == [
            ("SUBMITTED", False), ("SUBMITTED", False)]
        assert state == "active"
        assert len(await exchange.fetch_open_orders(SYMBOL)) == 2  # placed once
        assert (await h.command(placed["command_id"]))["status"] == "completed"


async def test_a_worker_killed_before_the_request_leaves_legs_rejected_after_the_window(
    gateway: Store, served: Running
) -> None:
    async with spot_account(gateway, served) as (h, account_id, exchange):
        placed = await take_profit_and_stop(h, account_id)
        _, legs = await written_ahead(h, account_id)
        await lookup_window_passed(gateway, legs)
        next_owner(h)
        await h.drain(account_id)
        group_id = int((await h.order(placed["order_id"]))["group_id"])
        await eventually(lambda: _state_is(h, gateway, account_id, group_id, "canceled"))
        legs, _ = await legs_and_group(gateway, group_id)
        assert [(r["status"], r["error_code"]) for r in legs] == [
            ("REJECTED", "outcome_unknown_not_found")] * 2
        command = await h.command(placed["command_id"])
        assert (command["status"], command["error_code"]) == ("failed",
                                                              "outcome_unknown_not_found")
        assert await exchange.fetch_open_orders(SYMBOL) == []


async def test_a_leg_the_venue_no_longer_shows_is_settled_and_the_other_followed(
    gateway: Store, served: Running
) -> None:
    """The list was placed (one leg is found) but the venue shows the other leg no more (an
    ended, purged order; here a leg placed under another client order id): after the lookup
    window the found leg is recorded and followed, the other settled as not found, and the
    account's queue goes on."""
    async with spot_account(gateway, served) as (h, account_id, _):
        placed = await take_profit_and_stop(h, account_id)
        rt, legs = await written_ahead(h, account_id)
        sent = [OcoLeg(r["client_order_id"], r["order_type"], r["price"], r["stop_price"],
                       r["take_profit_price"]) for r in legs]
        sent[1] = OcoLeg("elsewhere", sent[1].type, stop_price=sent[1].stop_price)
        await rt.venue.create_oco(SYMBOL, "sell", D(1), (sent[0], sent[1]),  # type: ignore[attr-defined]
                                  legs[0]["client_order_id"])  # fmt: skip
        await lookup_window_passed(gateway, legs)
        next_owner(h)
        await h.drain(account_id)
        group_id = int((await h.order(placed["order_id"]))["group_id"])
        legs, _ = await legs_and_group(gateway, group_id)
        assert [(r["status"], r["error_code"]) for r in legs] == [
            ("SUBMITTED", None), ("REJECTED", "outcome_unknown_not_found")]
        assert (await h.command(placed["command_id"]))["status"] == "completed"
        await served.venue.set_price(SYMBOL, D(3101))  # the found leg fills: it is followed
        await settled(h, gateway, account_id, group_id, ["FILLED", "REJECTED"])
        await eventually(lambda: _state_is(h, gateway, account_id, group_id, "done"))
