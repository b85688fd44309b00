"""Batches of sends (`apps/oms/service/execution/sends.py`), the one path of every venue: a batch
stops at the first command that is not a send (per-account order); what fails after the
write-ahead leaves orders that are looked up by client order id, never sent twice; a defect
in the batch falls back to one command at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError

from apps.oms.clock import utcnow
from apps.oms.domain.risk import RiskLimits
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.ports import NewOrder, SendWindowPassed
from apps.oms.service.execution import dispatch, send, sends, step
from apps.oms.service.execution.runtime import epoch_ms
from apps.oms.store import ccxt_records, order_records
from apps.oms.store import risk as risk_store
from apps.oms.store.store import Store
from apps.oms.store.tables import loss_breakers, venue_payloads
from apps.paper.store.tables import paper_orders

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
    assert await step.run_next(rt, asyncio.Event())  # one batch: the two sends
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


async def test_a_failed_record_leaves_the_orders_to_the_lookup(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database goes away after the venue answered: nothing of the answers is recorded, so
    the orders keep `outcome_unknown` (written ahead) and their commands stay `running`; the
    next steps find each order on the venue by its client order id and book it. Each order is
    on the venue once."""
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    items = [await market(h, acct, "buy" if n % 2 else "sell") for n in range(3)]
    rt = await h.runtime(acct)

    async def gone(*_args: Any) -> None:
        raise OperationalError("record", {}, Exception("server has gone away"))

    monkeypatch.setattr(sends, "record_in", gone)
    assert await step.run_next(rt, asyncio.Event())
    monkeypatch.undo()
    for item in items:
        order = await h.order(item["order_id"])
        assert (order["status"], order["outcome_unknown"]) == ("PENDING_SUBMIT", True)
        assert (await h.command(item["command_id"]))["status"] == "running"
        assert await venue_orders(h, order["client_order_id"]) == 1
    await h.drain(acct, housekeeping=False)
    for item in items:
        order = await h.order(item["order_id"])
        assert (order["status"], order["outcome_unknown"]) == ("FILLED", False)
        assert await venue_orders(h, order["client_order_id"]) == 1
        assert (await h.command(item["command_id"]))["status"] == "completed"
    await assert_fold(h, acct)


async def test_a_crash_after_the_write_ahead_never_sends(
    harness: Callable[..., Harness],
) -> None:
    """A worker that dies after writing ahead and before the venue call: the next holder looks
    each order up by client order id, finds nothing once the window passed, and rejects it
    (`outcome_unknown_not_found`) without ever sending it."""
    h = harness(unknown_outcome_window_seconds=0.2)
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    items = [await market(h, acct) for _ in range(2)]
    rt = await h.runtime(acct)
    taken = await sends.write_ahead(rt, 50)  # and then the process dies
    assert isinstance(taken, tuple)
    assert taken[0] == 2
    await h.drain(acct, housekeeping=False)
    for item in items:
        order = await h.order(item["order_id"])
        assert (order["status"], order["outcome_unknown"]) == ("REJECTED", False)
        command = await h.command(item["command_id"])
        assert (command["status"], command["error_code"]) == (
            "failed", "outcome_unknown_not_found"), command
        assert await venue_orders(h, order["client_order_id"]) == 0


async def test_a_sender_that_stalled_past_its_deadline_never_places(
    harness: Callable[..., Harness],
) -> None:
    """A worker that writes ahead, stalls (paused, swapped out) and resumes after another
    holder looked its orders up and rejected them as never placed must not place them then:
    past the send deadline (half the lookup window after the write-ahead) `place` sends
    nothing, and the paper venue itself refuses a request decided after it, as Binance
    refuses one outside its `recvWindow`. The books and the venue stay equal: rejected, and
    absent from the venue."""
    h = harness(unknown_outcome_window_seconds=0.2)
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    items = [await market(h, acct) for _ in range(2)]
    rt = await h.runtime(acct)
    taken = await sends.write_ahead(rt, 50)
    assert isinstance(taken, tuple)
    prepared = taken[1]
    assert [p.not_after_ms - epoch_ms(p.row["updated_at"]) for p in prepared] == [100, 100]
    await h.drain(acct, housekeeping=False)  # another holder's lookup: rejected, never placed
    await asyncio.sleep(0.15)  # the stalled worker resumes past its deadline
    answers = await sends.place(rt, prepared)  # what it does next
    assert all(isinstance(a, SendWindowPassed) for a in answers), answers
    # and the venue refuses a request that arrives late, whoever sends it
    late = [NewOrder(SYMBOL, "market", "buy", Decimal("0.001"), None,
                     {"clientOrderId": "late-1"}, prepared[0].not_after_ms)]  # fmt: skip
    (refused,) = await rt.venue.place_orders(late)  # type: ignore[attr-defined]
    assert isinstance(refused, ccxt.InvalidNonce), refused
    assert await venue_orders(h, "late-1") == 0
    for item in items:
        order = await h.order(item["order_id"])
        assert (order["status"], order["error_code"]) == ("REJECTED", "outcome_unknown_not_found")
        assert await venue_orders(h, order["client_order_id"]) == 0
    await assert_fold(h, acct)


async def test_sends_not_sent_past_their_deadline_are_rejected_at_once(
    harness: Callable[..., Harness],
) -> None:
    """Sends that their own worker did not send because the deadline passed (a slow venue
    before them, a stall) were certainly never placed: the record rejects them at once, under
    the lease (`venue_unavailable`), without waiting out the lookup window."""
    h = harness(unknown_outcome_window_seconds=0.2)
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    items = [await market(h, acct) for _ in range(2)]
    rt = await h.runtime(acct)
    taken = await sends.write_ahead(rt, 50)
    assert isinstance(taken, tuple)
    await asyncio.sleep(0.15)  # past the deadline, within the lookup window
    answers = await sends.place(rt, taken[1])
    await sends.record(rt, taken[1], answers)
    for item in items:
        order = await h.order(item["order_id"])
        assert (order["status"], order["error_code"], order["outcome_unknown"]) == (
            "REJECTED", "venue_unavailable", False)
        command = await h.command(item["command_id"])
        assert (command["status"], command["error_code"]) == ("failed", "venue_unavailable")
        assert await venue_orders(h, order["client_order_id"]) == 0


async def test_a_classic_send_past_its_deadline_is_rejected_and_never_placed(
    harness: Callable[..., Harness],
) -> None:
    """The one-at-a-time path (`send.execute_send`) places through the same deadline, on a
    venue with injected faults too (each order then a request of its own)."""
    h = harness(unknown_outcome_window_seconds=0.2)
    acct = await h.account("hedge", faults={"ack_latency_ms": "1"})
    await h.price(SYMBOL, "50000")
    item = await market(h, acct)
    rt = await h.runtime(acct)
    cmd = await dispatch.claim(rt)
    assert cmd is not None
    step_, row, _side = await send._prepare(rt, cmd, int(item["order_id"]))
    assert step_ == "place"
    await asyncio.sleep(0.15)  # the worker stalled after its write-ahead
    await send._place(rt, cmd, row, asyncio.Event())
    order = await h.order(item["order_id"])
    assert (order["status"], order["error_code"]) == ("REJECTED", "venue_unavailable")
    assert await venue_orders(h, order["client_order_id"]) == 0
    # and the faulty venue itself refuses a request decided after its deadline
    late = [NewOrder(SYMBOL, "market", "buy", Decimal("0.001"), None,
                     {"clientOrderId": "late-2"}, epoch_ms(utcnow()) - 1)]  # fmt: skip
    (refused,) = await rt.venue.place_orders(late)  # type: ignore[attr-defined]
    assert isinstance(refused, ccxt.InvalidNonce), refused
    assert await venue_orders(h, "late-2") == 0


async def test_a_defect_in_the_write_ahead_runs_the_sends_alone(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error inside the write-ahead rolls it back (nothing claimed, nothing counted); the
    head then runs the classic way, which counts its attempts, so the queue still drains."""
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    items = [await market(h, acct) for _ in range(2)]

    async def defect(*_args: Any) -> None:
        raise RuntimeError("a defect in the batch")

    monkeypatch.setattr(sends, "_prepare", defect)
    await h.drain(acct, housekeeping=False)
    for item in items:
        assert (await h.order(item["order_id"]))["status"] == "FILLED"
        assert (await h.command(item["command_id"]))["attempts"] == 1


async def test_client_id_already_on_the_venue_is_refused_in_a_batch(
    harness: Callable[..., Harness],
) -> None:
    """The paper venue answers a batch's duplicate clientOrderId checks with one read
    (`taken_client_ids`): an id that is already on the venue (placed there directly, outside
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
    """With limits that count open orders, a send is re-checked after the sends before it
    ended, as it would be alone: the batch takes one such send at a time. Two sends accepted
    without limits, then a limit of one open order per symbol: the first is refused (the
    second, still pending, counts as open), and the second, re-checked after the first ended,
    goes through."""
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    first, second = await market(h, acct), await market(h, acct, "sell")
    async with h.store.transaction() as conn:
        limits = RiskLimits(max_open_orders_per_symbol=1)
        await risk_store.put_limits(conn, acct, 0, limits, utcnow())
    rt = await h.runtime(acct)
    assert await step.run_next(rt, asyncio.Event())  # the first alone
    assert await step.run_next(rt, asyncio.Event())  # then the second
    refused, placed = await h.command(first["command_id"]), await h.command(second["command_id"])
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
    real_load = sends.load_fronts
    cancelled: list[dict[str, Any]] = []

    async def lock_after_a_cancel(conn: Any, peeked: Any, memo: Any = None) -> Any:
        if not cancelled:  # the API, in its own transaction, between the read and the lock
            cancelled.append(await h.send(acct, "cancel_order", order_ids=[victim["order_id"]]))
        return await real_load(conn, peeked, memo)

    monkeypatch.setattr(sends, "load_fronts", lock_after_a_cancel)
    assert await step.run_next(rt, asyncio.Event())
    monkeypatch.setattr(sends, "load_fronts", real_load)
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


async def test_a_send_queued_before_a_loss_breaker_tripped_is_rechecked_against_it(
    harness: Callable[..., Harness],
) -> None:
    """A loss breaker that trips while sends wait in the queue: the worker's re-check refuses
    the ones that would open or increase exposure (`risk_blocked`, rule `loss_breaker`), as
    acceptance would now, and still sends the one that closes."""
    h = harness()
    acct = await h.account("netting")
    await h.price(SYMBOL, "50000")
    opened = await market(h, acct, "buy")
    await h.drain(acct, housekeeping=False)
    assert (await h.order(opened["order_id"]))["status"] == "FILLED"
    more = await market(h, acct, "buy")  # would increase the long
    close = await market(h, acct, "sell")  # closes it
    async with h.store.transaction() as conn:  # tripped after both were accepted
        await conn.execute(insert(loss_breakers).values(
            account_id=acct, strategy_id=0, day=utcnow().date().isoformat(), state="reduce_only",
            rule="loss_breaker", limit_value=Decimal(100), value=Decimal(150),
            tripped_at=utcnow(), version=1, updated_at=utcnow()))  # fmt: skip
    await h.drain(acct, housekeeping=False)
    refused = await h.command(more["command_id"])
    assert (refused["status"], refused["error_code"]) == ("failed", "risk_blocked")
    assert (await h.order(more["order_id"]))["status"] == "REJECTED"
    assert await venue_orders(h, (await h.order(more["order_id"]))["client_order_id"]) == 0
    assert (await h.order(close["order_id"]))["status"] == "FILLED"
    await assert_fold(h, acct)
