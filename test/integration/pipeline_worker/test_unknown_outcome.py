"""Unknown outcomes: venue timeouts and worker deaths are resolved by a lookup by client order id;
nothing is ever sent twice. Uses the paper venue's fault injection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select, update

from apps.oms.clock import utcnow
from apps.oms.service.execution import dispatch, send, step
from apps.oms.store.tables import account_leases, commands, order_venue_orders
from apps.paper.store.tables import paper_orders

from .conftest import Harness


async def venue_orders(h: Harness, account_id: int) -> int:
    async with h.store.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(paper_orders).where(
            paper_orders.c.account_id == account_id))).scalar_one())


async def test_timeout_after_placing_is_adopted(harness: Callable[..., Harness]) -> None:
    h = harness()
    acct = await h.account("netting", faults={"timeout_rate": "1"})
    item = await h.send(acct, "send_order", symbol="BTC/USDT", side="buy",
                        order_type="market", qty="0.001")
    await h.drain(acct)
    order = await h.order(item["order_id"])
    assert order["status"] == "FILLED"
    assert not order["outcome_unknown"]
    assert (await h.command(item["command_id"]))["status"] == "completed"
    assert await venue_orders(h, acct) == 1


async def test_not_placed_becomes_rejected_after_window(harness: Callable[..., Harness]) -> None:
    """The window is passed by moving the venue order's start back, not by waiting: a window
    short enough to wait out would also cut the send deadline (half the window) under load."""
    h = harness(unknown_outcome_window_seconds=600)
    acct = await h.account("netting", faults={"unavailable_rate": "1"})
    item = await h.send(acct, "send_order", symbol="BTC/USDT", side="buy",
                        order_type="market", qty="0.001")
    # one step: written ahead, sent, the venue unavailable: the outcome is unknown
    assert await step.run_next(await h.runtime(acct), asyncio.Event())
    assert (await h.order(item["order_id"]))["outcome_unknown"]
    async with h.store.transaction() as conn:
        await conn.execute(update(order_venue_orders)
                           .where(order_venue_orders.c.order_id == item["order_id"])
                           .values(created_at=utcnow() - timedelta(seconds=1200)))
    await h.drain(acct)  # the lookup finds nothing, and the window has passed
    order = await h.order(item["order_id"])
    assert order["status"] == "REJECTED"
    assert order["reason"] == "outcome_unknown_not_found"
    command = await h.command(item["command_id"])
    assert command["status"] == "failed"
    assert command["error_code"] == "outcome_unknown_not_found"
    assert await venue_orders(h, acct) == 0


async def test_venue_reject_is_a_failed_command(harness: Callable[..., Harness]) -> None:
    h = harness()
    acct = await h.account("netting", faults={"reject_rate": "1"})
    item = await h.send(acct, "send_order", symbol="BTC/USDT", side="buy",
                        order_type="market", qty="0.001")
    await h.drain(acct)
    assert (await h.order(item["order_id"]))["status"] == "REJECTED"
    assert (await h.command(item["command_id"]))["error_code"] == "venue_rejected"


async def test_worker_death_mid_call_is_resolved_without_resend(
    harness: Callable[..., Harness],
) -> None:
    """A dies after the write-ahead and after the venue placed the order; B adopts it."""
    a, b = harness(), harness()
    acct = await a.account("hedge")
    item = await a.send(acct, "send_order", symbol="ETH/USDT", side="buy",
                        order_type="market", qty="0.01")
    rt_a = await a.runtime(acct, owner="A")
    cmd = await dispatch.claim(rt_a)
    assert cmd is not None
    step, row, _side = await send._prepare(rt_a, cmd, item["order_id"])
    assert step == "place"
    assert row["outcome_unknown"]
    await rt_a.venue.create_order("ETH/USDT", "market", "buy", row["qty"], None,
                                  send.venue_params(row))  # ... and A dies here
    async with a.store.transaction() as conn:
        await conn.execute(update(account_leases).where(account_leases.c.account_id == acct)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    await b.drain(acct)
    order = await b.order(item["order_id"])
    assert order["status"] == "FILLED"
    assert await venue_orders(b, acct) == 1
    async with b.store.read() as conn:
        linked = (await conn.execute(select(func.count()).select_from(order_venue_orders)
                                     .where(order_venue_orders.c.order_id == order["id"]))
                  ).scalar_one()
    assert linked == 1
    assert (await b.command(item["command_id"]))["attempts"] == 2


async def test_attempt_cap_never_abandons_an_order_that_may_be_placed(
    harness: Callable[..., Harness],
) -> None:
    """Workers died mid-call more often than the attempt cap: the placed order is still looked
    up and adopted (regression: the command failed `internal_error` and the order stayed
    PENDING_SUBMIT/outcome_unknown forever, its venue fills never booked)."""
    a, b = harness(), harness()
    acct = await a.account("hedge")
    item = await a.send(acct, "send_order", symbol="ETH/USDT", side="buy",
                        order_type="market", qty="0.01")
    rt_a = await a.runtime(acct, owner="A")
    cmd = await dispatch.claim(rt_a)
    assert cmd is not None
    _, row, _side = await send._prepare(rt_a, cmd, item["order_id"])
    await rt_a.venue.create_order("ETH/USDT", "market", "buy", row["qty"], None,
                                  send.venue_params(row))  # ... and A dies here, many times
    async with a.store.transaction() as conn:
        await conn.execute(update(commands).where(commands.c.id == item["command_id"])
                           .values(attempts=dispatch.MAX_ATTEMPTS + 3))
        await conn.execute(update(account_leases).where(account_leases.c.account_id == acct)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    await b.drain(acct)
    order = await b.order(item["order_id"])
    assert (order["status"], order["outcome_unknown"]) == ("FILLED", False)
    assert (await b.command(item["command_id"]))["status"] == "completed"


async def test_attempt_cap_rejects_an_order_that_never_reached_the_venue(
    harness: Callable[..., Harness],
) -> None:
    """A send that kept failing before any placement is given up by the attempt cap: the command
    fails and its order is REJECTED, not left open in PENDING_SUBMIT (regression)."""
    h = harness()
    acct = await h.account("hedge")
    item = await h.send(acct, "send_order", symbol="ETH/USDT", side="buy",
                        order_type="market", qty="0.01")
    async with h.store.transaction() as conn:
        await conn.execute(update(commands).where(commands.c.id == item["command_id"])
                           .values(attempts=dispatch.MAX_ATTEMPTS + 3))
    await h.drain(acct)
    order = await h.order(item["order_id"])
    assert (order["status"], order["is_open"]) == ("REJECTED", False)
    command = await h.command(item["command_id"])
    assert (command["status"], command["error_code"]) == ("failed", "internal_error")


async def test_stop_during_lookup_leaves_command_running(
    harness: Callable[..., Harness],
) -> None:
    h = harness(unknown_outcome_window_seconds=60)
    acct = await h.account("netting", faults={"unavailable_rate": "1"})
    item = await h.send(acct, "send_order", symbol="BTC/USDT", side="buy",
                        order_type="market", qty="0.001")
    rt = await h.runtime(acct)
    cmd = await dispatch.claim(rt)
    assert cmd is not None
    stop = asyncio.Event()
    task = asyncio.create_task(dispatch.execute(rt, cmd, stop))
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert (await h.command(item["command_id"]))["status"] == "running"
    order = await h.order(item["order_id"])
    assert order["outcome_unknown"]
    assert order["status"] == "PENDING_SUBMIT"
