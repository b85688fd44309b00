"""Account leases (SKIP LOCKED, expiry, epochs) and fencing of the record step."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from apps.oms.clock import utcnow
from apps.oms.service.execution import dispatch
from apps.oms.service.execution.results import finish
from apps.oms.store import leases, queue
from apps.oms.store.store import Store
from apps.oms.store.tables import account_leases, commands

from .conftest import Harness, worker_settings
from .test_group_commit import OWNER, lease_all


async def expire(h: Harness, account_id: int) -> None:
    async with h.store.transaction() as conn:
        await conn.execute(update(account_leases).where(
            account_leases.c.account_id == account_id
        ).values(expires_at=utcnow() - timedelta(seconds=1)))


async def test_acquire_is_exclusive_and_epochs_grow(harness: Callable[..., Harness]) -> None:
    h = harness()
    accts = [await h.account() for _ in range(4)]
    for a in accts:
        await h.send(a, "send_order", symbol="BTC/USDT", side="buy", order_type="market",
                     qty="0.001")
    now = utcnow()

    async def take(owner: str) -> list[leases.Lease]:
        async with h.store.transaction() as conn:
            taken, _left = await leases.acquire(conn, owner=owner, now=now, lease_seconds=30,
                                                limit=100, dialect=h.store.dialect)
            return taken

    first, second = await asyncio.gather(take("w1"), take("w2"))
    mine = [lease for lease in first + second if lease.account_id in accts]
    assert sorted(lease.account_id for lease in mine) == accts  # each exactly once
    await expire(h, accts[0])
    async with h.store.transaction() as conn:
        again, _left = await leases.acquire(conn, owner="w3", now=utcnow(), lease_seconds=30,
                                            limit=100, dialect=h.store.dialect)
    old = next(lease for lease in mine if lease.account_id == accts[0])
    new = next(lease for lease in again if lease.account_id == accts[0])
    assert new.epoch == old.epoch + 1
    async with h.store.transaction() as conn:
        with pytest.raises(leases.LeaseLost):
            await leases.hold(conn, old, owner="w1" if old in first else "w2", now=utcnow())


async def test_stale_worker_cannot_record(harness: Callable[..., Harness]) -> None:
    """Worker A claims, stalls past its lease; B takes over and re-runs; A's record fails."""
    a, b = harness(), harness()
    acct = await a.account("hedge")
    item = await a.send(acct, "send_order", symbol="BTC/USDT", side="buy", order_type="market",
                        qty="0.001")
    rt_a = await a.runtime(acct, owner="A")
    claimed_a = await dispatch.claim(rt_a)
    assert claimed_a is not None
    await expire(a, acct)
    rt_b = await b.runtime(acct, owner="B")
    assert rt_b.lease.epoch == rt_a.lease.epoch + 1
    claimed_b = await dispatch.claim(rt_b)
    assert claimed_b is not None
    assert claimed_b.retry
    assert claimed_b.command_id == claimed_a.command_id
    await dispatch.execute(rt_b, claimed_b, asyncio.Event())
    with pytest.raises(leases.LeaseLost):
        async with rt_a.record(claimed_a) as rec:
            await finish(rec, claimed_a, result={"late": True})
    # even with a lease row that says otherwise, the command's epoch fences the write
    async with a.store.transaction() as conn:
        with pytest.raises(queue.Fenced):
            await queue.finish(conn, claimed_a.command_id, claimed_a.epoch, utcnow(),
                               status="failed", error_code="late")
    row = await a.command(item["command_id"])
    assert row["status"] == "completed"
    assert row["attempts"] == 2
    assert (await a.order(item["order_id"]))["status"] == "FILLED"


async def test_per_account_order_is_strict(harness: Callable[..., Harness]) -> None:
    h = harness()
    acct = await h.account("netting")
    ids = [(await h.send(acct, "send_order", symbol="SOL/USDT", side="buy",
                         order_type="market", qty="0.1"))["command_id"] for _ in range(5)]
    rt = await h.runtime(acct)
    seen = []
    while (cmd := await dispatch.claim(rt)) is not None:
        seen.append(cmd.command_id)
        await dispatch.execute(rt, cmd, asyncio.Event())
    assert seen == ids
    async with h.store.read() as conn:
        statuses = {r[0] for r in await conn.execute(
            select(commands.c.status).where(commands.c.id.in_(ids)))}
    assert statuses == {"completed"}


async def test_a_held_back_lease_hold_fails_the_transaction_at_its_next_statement(
    harness: Callable[..., Harness],
) -> None:
    """`hold_later` locks the lease rows with the transaction's next statement: while every
    lease is ours under its epoch the statement runs as usual; once one was taken over, that
    statement raises `LeaseLost` and the transaction writes nothing."""
    h = harness()
    accts = [await h.account() for _ in range(3)]
    for a in accts:  # work, so that the accounts' leases are taken
        await h.send(a, "send_order", symbol="BTC/USDT", side="buy", order_type="market",
                     qty="0.001")
    held = [rt.lease for rt in await lease_all(h, accts)]
    async with h.store.transaction() as conn:
        await leases.hold_later(conn, held, owner=OWNER, now=utcnow())
        found = (await conn.execute(select(account_leases.c.owner).where(
            account_leases.c.account_id.in_(accts)))).scalars().all()  # fmt: skip
    assert found == [OWNER] * 3
    await expire(h, accts[1])
    async with h.store.transaction() as conn:
        taken, _left = await leases.acquire(conn, owner="w2", now=utcnow(), lease_seconds=30,
                                            limit=100, dialect=h.store.dialect)  # fmt: skip
    assert leases.Lease(accts[1], held[1].epoch + 1) in taken

    async def write_under(held: list[leases.Lease]) -> None:
        async with h.store.transaction() as conn:
            await leases.hold_later(conn, held, owner=OWNER, now=utcnow())
            await conn.execute(update(commands).where(commands.c.account_id == accts[0])
                               .values(error_code="never"))  # fmt: skip

    with pytest.raises(leases.LeaseLost):
        await write_under(held)
    async with h.store.read() as conn:
        codes = (await conn.execute(select(commands.c.error_code).where(
            commands.c.account_id == accts[0]))).scalars().all()  # fmt: skip
    assert "never" not in codes


@pytest.mark.parametrize("fresh_url", ["mysql"], indirect=True)
async def test_a_stale_hold_waits_for_the_new_owner_and_locks_nothing_of_his(
    fresh_store: Store,
) -> None:
    """A worker that lost a lease and sends its held hold with a write queues behind the new
    owner's transaction on the lease row (locked by key, `LOCK_BY_KEY`), so it never locks a
    row the new owner goes on to write: the new owner's write goes through while the stale
    round trip waits, and the stale one then fails (`LeaseLost`) with nothing written."""
    h = Harness(fresh_store, worker_settings())
    acct, other = await h.account(), await h.account()
    for a in (acct, other):
        await h.send(a, "send_order", symbol="BTC/USDT", side="buy", order_type="market",
                     qty="0.001")
    # a group's hold: one lease taken over meanwhile, the other still the stale worker's (a
    # check by owner and epoch alone would skip the locked row, not wait for it)
    held = [rt.lease for rt in await lease_all(h, [acct, other])]
    await expire(h, acct)
    async with fresh_store.transaction() as conn:
        taken, _left = await leases.acquire(conn, owner="w2", now=utcnow(), lease_seconds=30,
                                            limit=100, dialect=fresh_store.dialect)  # fmt: skip
    (owner,) = [lease for lease in taken if lease.account_id == acct]
    mark = update(commands).where(commands.c.account_id == acct)

    async def stale_write() -> None:
        async with fresh_store.transaction() as conn:
            await leases.hold_later(conn, held, owner=OWNER, now=utcnow())
            await conn.execute(mark.values(error_code="stale"))

    async with fresh_store.transaction() as conn:  # the new owner's record transaction
        await leases.hold(conn, owner, owner="w2", now=utcnow())
        waiting = asyncio.create_task(stale_write())
        # the stale round trip is given time to reach the server first (had it locked the
        # commands' rows, the write below would wait for it and fail on the lock timeout)
        await asyncio.sleep(0.5)
        await conn.execute(mark.values(error_code="owner"))  # not blocked by the stale worker
        assert not waiting.done()  # it waits behind this transaction
    with pytest.raises(leases.LeaseLost):
        await waiting
    async with fresh_store.read() as conn:
        codes = set((await conn.execute(select(commands.c.error_code).where(
            commands.c.account_id == acct))).scalars())  # fmt: skip
    assert codes == {"owner"}
