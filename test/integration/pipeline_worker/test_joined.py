"""Joined batches on paper (`apps/oms/service/execution/joined.py`): a batch stops at the first
command that is not a send (per-account order), an error inside a batch records the commands
before it and leaves the rest queued with nothing placed (no write-ahead, no unknown outcome,
so nothing waits for the lookup window), and the paper venue's rows commit with the books."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from apps.oms.clock import utcnow
from apps.oms.domain.risk import RiskLimits
from apps.oms.service.execution import step
from apps.oms.store import ccxt_records, order_records
from apps.oms.store import risk as risk_store
from apps.oms.store.paper_tables import paper_orders
from apps.oms.store.store import Store
from apps.oms.store.tables import order_venue_orders, venue_payloads

from .conftest import Harness
from .test_commands import assert_fold

SYMBOL = "BTC/USDT:USDT"


async def market(h: Harness, account: int, side: str = "buy") -> dict[str, Any]:
    item = await h.send(account, "send_order", symbol=SYMBOL, side=side, order_type="market",
                        qty="0.001")
    assert item["ok"], item
    return item


async def venue_orders(h: Harness, client_order_id: str) -> int:
    async with h.store.read() as conn:
        rows = await conn.execute(select(paper_orders.c.order_id).where(
            paper_orders.c.client_order_id == client_order_id))
        return len(rows.all())


async def test_batch_stops_at_a_command_that_is_not_a_send(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct, resting = await h.resting_buy(SYMBOL)  # linked: on the venue, resting
    first, second = await market(h, acct), await market(h, acct, "sell")
    cancel = await h.send(acct, "cancel_order", order_ids=[resting["order_id"]])
    last = await market(h, acct, "sell")
    rt = await h.runtime(acct)
    assert await step.run_next(rt, asyncio.Event())  # one joined batch: the two sends
    assert [(await h.command(i["command_id"]))["status"] for i in (first, second, cancel, last)
            ] == ["completed", "completed", "queued", "queued"]
    assert (await h.command(first["command_id"]))["finished_at"] == (
        await h.command(second["command_id"]))["finished_at"]  # one transaction
    await h.drain(acct, housekeeping=False)
    assert (await h.order(resting["order_id"]))["status"] == "CANCELED"
    assert (await h.order(last["order_id"]))["status"] == "FILLED"
    finished = [(await h.command(i["command_id"]))["finished_at"] for i in
                (resting, first, second, cancel, last)]
    assert finished == sorted(finished)  # acceptance order
    await assert_fold(h, acct)


async def test_database_gone_inside_a_batch_leaves_nothing_unknown(
    harness: Callable[..., Harness],
) -> None:
    h = harness(unknown_outcome_window_seconds=3600)  # a lookup would stall for an hour
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    items = [await market(h, acct, "buy" if n % 2 else "sell") for n in range(3)]
    rt = await h.runtime(acct)
    venue: Any = rt.venue
    real, calls = venue.create_order, [0]

    async def flaky(*args: Any, **kw: Any) -> Any:
        calls[0] += 1
        if calls[0] == 2:  # the connection dies under the second placement
            raise OperationalError("create_order", {}, Exception("server has gone away"))
        return await real(*args, **kw)

    venue.create_order = flaky
    try:
        assert await step.run_next(rt, asyncio.Event())
    finally:
        venue.create_order = real
    # the first send is recorded alone; the others rolled back: queued, not placed, not unknown
    statuses = [(await h.command(i["command_id"]))["status"] for i in items]
    assert statuses == ["completed", "queued", "queued"]
    for item in items[1:]:
        order = await h.order(item["order_id"])
        assert (order["status"], order["outcome_unknown"]) == ("PENDING_SUBMIT", False)
        assert await venue_orders(h, order["client_order_id"]) == 0
        async with h.store.read() as conn:
            written = await conn.execute(select(order_venue_orders.c.id).where(
                order_venue_orders.c.order_id == item["order_id"]))
            assert written.all() == []  # no write-ahead
    await h.drain(acct, housekeeping=False)  # runs at once: nothing to look up
    for item in items:
        order = await h.order(item["order_id"])
        assert (order["status"], order["outcome_unknown"]) == ("FILLED", False)
        assert await venue_orders(h, order["client_order_id"]) == 1
        assert (await h.command(item["command_id"]))["attempts"] == 1  # rollbacks count none
    await assert_fold(h, acct)


async def test_a_defect_at_the_commit_is_retried_then_given_up(
    harness: Callable[..., Harness],
) -> None:
    """An error after the last command (the batch's final writes) halves the batch until one
    command is alone; that one counts an attempt per failure and, past the cap, fails with its
    order REJECTED (never placed). Nothing loops without counting."""
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    items = [await market(h, acct) for _ in range(2)]
    rt = await h.runtime(acct)
    venue: Any = rt.venue
    real_join = venue.join

    class Broken:
        def __init__(self, conn: Any) -> None:
            self.inner = real_join(conn)

        def __enter__(self) -> Any:
            joined = self.inner.__enter__()

            class AtCommit:  # the venue's final writes fail
                async def flush(self) -> None:
                    raise RuntimeError("a defect in the final writes")

                def publish(self) -> None:
                    joined.publish()

                async def expect_client_ids(self, account_id: int, ids: list[str]) -> None:
                    await joined.expect_client_ids(account_id, ids)

            return AtCommit()

        def __exit__(self, *exc: Any) -> Any:
            return self.inner.__exit__(*exc)

    venue.join = Broken
    try:
        for _ in range(8):
            await step.run_next(rt, asyncio.Event())
    finally:
        venue.join = real_join
    first = await h.command(items[0]["command_id"])
    assert (first["status"], first["error_code"]) == ("failed", "internal_error"), first
    order = await h.order(items[0]["order_id"])
    assert (order["status"], order["outcome_unknown"]) == ("REJECTED", False)
    assert await venue_orders(h, order["client_order_id"]) == 0
    await h.drain(acct, housekeeping=False)
    assert (await h.order(items[1]["order_id"]))["status"] == "FILLED"


async def test_client_id_already_on_the_venue_is_refused_in_a_batch(
    harness: Callable[..., Harness],
) -> None:
    """The batch answers every send's duplicate clientOrderId check with one read
    (`expect_client_ids`): an id that is already on the venue (placed there directly, outside
    the gateway) still rejects that send, and only that one."""
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    before = await market(h, acct)
    venue: Any = (await h.runtime(acct)).venue
    await venue.create_order(SYMBOL, "limit", "buy", Decimal("0.001"), Decimal("40000"),
                             {"clientOrderId": "takenonvenue1"})  # fmt: skip
    clash = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                         qty="0.001", client_order_id="takenonvenue1")  # fmt: skip
    assert clash["ok"], clash
    after = await market(h, acct, "sell")
    await h.drain(acct, housekeeping=False)
    assert (await h.order(clash["order_id"]))["status"] == "REJECTED"
    failed = await h.command(clash["command_id"])
    assert failed["status"] == "failed", failed
    assert "duplicate" in failed["error_message"], failed
    assert [(await h.order(i["order_id"]))["status"] for i in (before, after)] == ["FILLED"] * 2
    assert await venue_orders(h, "takenonvenue1") == 1  # the venue's own order only


async def test_open_order_limit_sees_the_batch_orders_already_ended(
    harness: Callable[..., Harness],
) -> None:
    """The batch holds its order updates back until its end, but the risk counters read order
    rows: with limits set, the orders the batch ended before a send are written first, so its
    re-check counts them as they are. Two sends accepted without limits, then a limit of one
    open order per symbol: the first is refused (the second, still pending, counts as open),
    and the second, re-checked after the first ended, goes through in the same batch (before
    this was fixed it saw the first as still open and was refused too)."""
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    first, second = await market(h, acct), await market(h, acct, "sell")
    async with h.store.transaction() as conn:
        limits = RiskLimits(max_open_orders_per_symbol=1)
        await risk_store.put_limits(conn, acct, 0, limits, utcnow())
    rt = await h.runtime(acct)
    assert await step.run_next(rt, asyncio.Event())  # one joined batch: both sends
    refused, placed = await h.command(first["command_id"]), await h.command(second["command_id"])
    assert refused["finished_at"] == placed["finished_at"]  # one transaction
    assert (refused["status"], refused["error_code"]) == ("failed", "risk_blocked"), refused
    assert (await h.order(first["order_id"]))["status"] == "REJECTED"
    assert placed["status"] == "completed", placed
    assert (await h.order(second["order_id"]))["status"] == "FILLED"


@pytest.mark.parametrize("fresh_url", ["mysql"], indirect=True)
async def test_a_send_cancelled_at_acceptance_after_the_queue_read_is_not_run(
    fresh_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acceptance cancels a send that is still queued (`cancel_queued`: the command and its
    order in one transaction). When that commits between the batch's read of the queue and its
    lock of the orders, the batch sees the order cancelled and stops before it: the command
    stays `canceled` (it was completed over it before), the sends before it are recorded, and
    the next step runs the ones after it. (MariaDB: SQLite's single writer cannot interleave.)"""
    h = Harness(fresh_store)
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    first, victim, last = [await market(h, acct) for _ in range(3)]
    rt = await h.runtime(acct)
    real_lock = order_records.lock_orders
    cancelled: list[dict[str, Any]] = []

    async def lock_after_a_cancel(conn: Any, order_ids: list[int]) -> Any:
        if not cancelled:  # the API, in its own transaction, between the read and the lock
            cancelled.append(await h.send(acct, "cancel_order", order_ids=[victim["order_id"]]))
        return await real_lock(conn, order_ids)

    monkeypatch.setattr(order_records, "lock_orders", lock_after_a_cancel)
    assert await step.run_next(rt, asyncio.Event())
    monkeypatch.setattr(order_records, "lock_orders", real_lock)
    assert cancelled[0]["ok"], cancelled
    await h.drain(acct, housekeeping=False)
    command = await h.command(victim["command_id"])
    assert (command["status"], command["started_at"]) == ("canceled", None), command
    assert (await h.order(victim["order_id"]))["status"] == "CANCELED"
    for item in (first, last):
        assert (await h.command(item["command_id"]))["status"] == "completed"
        assert (await h.order(item["order_id"]))["status"] == "FILLED"
    await assert_fold(h, acct)


async def test_a_fill_stores_its_trade_once(harness: Callable[..., Harness]) -> None:
    """A market send's raw payloads: the trade in its own `trade` row, and the order structure
    holding it by reference (its bytes once); reading the order payload gives the whole
    structure back, its trade equal to the stored trade."""
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    item = await market(h, acct)
    await h.drain(acct, housekeeping=False)
    async with h.store.read() as conn:
        rows = {r.kind: r for r in await conn.execute(
            select(venue_payloads.c.kind, venue_payloads.c.content_hash, venue_payloads.c.payload)
            .where(venue_payloads.c.account_id == acct))}  # fmt: skip
        structure = await ccxt_records.order_payload(conn, item["order_id"])
    assert set(rows) == {"order", "trade"}
    assert rows["order"].payload["trades"] == [
        {order_records.TRADE_REF: rows["trade"].content_hash}]
    assert structure is not None
    assert structure["trades"] == [rows["trade"].payload]
    assert {k: v for k, v in structure.items() if k != "trades"} == {
        k: v for k, v in rows["order"].payload.items() if k != "trades"}
