"""A record transaction that wrote events numbers them itself, just before its commit
(`runtime.number_events`): the events of a batch of sends and of a classic step reach
the stream with their commit, without waiting for a sequencer round, and the worker is told how
many rows were numbered (it tells the API tailers). When another round holds the sequencer's
state row (MariaDB), the step does not wait for it: it commits its events unnumbered, says so
(`SKIPPED`: the worker then kicks its sequencer), and the next round numbers them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from apps.oms.clock import utcnow
from apps.oms.service.execution import step
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.store import sequencer
from apps.oms.store.store import Store
from apps.oms.store.tables import outbox, sequencer_state

from .conftest import Harness
from .test_send_batches import SYMBOL, market


async def seqs_of(h: Harness, order_id: int) -> list[int | None]:
    """The `seq` of every event that names this order (`order_id` or, for orders, `id`)."""
    async with h.store.read() as conn:
        rows = (await conn.execute(select(outbox.c.seq, outbox.c.payload))).all()
    found = []
    for seq, payload in rows:
        data: Any = payload
        if isinstance(data, dict) and order_id in (data.get("order_id"), data.get("id")):
            found.append(seq)
    return found


async def last_seq(h: Harness) -> int:
    async with h.store.read() as conn:
        return int((await conn.execute(select(sequencer_state.c.last_seq).where(
            sequencer_state.c.name == sequencer.NAME))).scalar_one())


async def nothing_unnumbered(h: Harness) -> bool:
    async with h.store.read() as conn:
        return not await sequencer.pending(conn)


def listen(rt: AccountRuntime) -> list[int]:
    told: list[int] = []
    rt.on_numbered = lambda numbered, _read_at: told.append(numbered)
    return told


async def test_a_batch_numbers_its_events_with_its_commit(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    await h.price(SYMBOL, "50000")
    acct = await h.account("hedge")
    items = [await market(h, acct), await market(h, acct, "sell")]
    rt = await h.runtime(acct)
    told = listen(rt)
    before = await last_seq(h)
    assert await step.run_next(rt, asyncio.Event())  # one batch, no sequencer running
    assert await nothing_unnumbered(h)
    for item in items:
        seqs = await seqs_of(h, item["order_id"])
        assert len(seqs) >= 3, seqs  # accepted, filled, deal...
        assert None not in seqs, seqs
    # the write-ahead wrote no events (0); the record numbered the accepts' events (committed
    # before) and its own, all in one numbering
    assert told == [0, await last_seq(h) - before]


async def test_a_classic_step_numbers_its_events(harness: Callable[..., Harness]) -> None:
    """A cancel runs the classic way (claim, venue call, record): its record numbers too."""
    h = harness()
    acct, resting = await h.resting_buy(SYMBOL)
    await h.drain(acct, housekeeping=False)
    cancel = await h.send(acct, "cancel_order", order_ids=[resting["order_id"]])
    assert cancel["ok"], cancel
    rt = await h.runtime(acct)
    told = listen(rt)
    await h.drain(acct, housekeeping=False)
    assert (await h.order(resting["order_id"]))["status"] == "CANCELED"
    # claim, venue call, record: the transactions that wrote events numbered them (0: none)
    assert any(n > 0 for n in told), told
    assert sequencer.SKIPPED not in told
    assert await nothing_unnumbered(h)


# SQLite has one writer: nobody can hold the row while a step writes
@pytest.mark.parametrize("fresh_url", ["mysql"], indirect=True)
async def test_a_held_state_row_is_skipped_not_awaited(fresh_store: Store) -> None:
    """MariaDB: another round holds the state row; the batch commits without waiting, its
    events unnumbered, tells `SKIPPED`, and the next round numbers them."""
    h = Harness(fresh_store)
    await h.price(SYMBOL, "50000")
    acct = await h.account("hedge")
    item = await market(h, acct)
    rt = await h.runtime(acct)
    told = listen(rt)
    async with h.store.transaction() as holder:
        await holder.execute(select(sequencer_state.c.last_seq).where(
            sequencer_state.c.name == sequencer.NAME).with_for_update())
        assert await asyncio.wait_for(step.run_next(rt, asyncio.Event()), 60)
        assert told == [0, sequencer.SKIPPED]  # the write-ahead wrote no events
        assert None in await seqs_of(h, item["order_id"])
    async with h.store.transaction() as conn:
        assert await sequencer.assign(conn, utcnow()) > 0
    assert None not in await seqs_of(h, item["order_id"])
