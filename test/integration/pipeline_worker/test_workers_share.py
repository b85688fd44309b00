"""Lease sharing between worker processes (real in-process `Worker`s on a fresh MariaDB
database): under sustained load each live worker takes its fair share of the accounts with
work, and accounts left to a peer that does not take them are not starved."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.store import leases
from apps.oms.store.store import Store
from apps.oms.store.tables import account_leases, commands, workers
from apps.worker.main import Worker

from .conftest import Harness, eventually, worker_settings

pytestmark = pytest.mark.parametrize("fresh_url", ["mysql"], indirect=True)
SYMBOL = "BTC/USDT:USDT"


async def queue_orders(h: Harness, accounts: list[int], per_account: int) -> None:
    for n in range(per_account):
        for account in accounts:
            item = await h.send(account, "send_order", symbol=SYMBOL, order_type="market",
                                side="buy" if n % 2 else "sell", qty="0.001")
            assert item["ok"], item


async def owners(store: Store) -> Counter[str]:
    async with store.read() as conn:
        rows = await conn.execute(select(account_leases.c.owner).where(
            account_leases.c.owner.is_not(None), account_leases.c.expires_at > utcnow()))
        return Counter(str(r[0]) for r in rows)


async def remaining(store: Store) -> int:
    async with store.read() as conn:
        rows = await conn.execute(select(commands.c.id).where(
            commands.c.status.in_(("queued", "running"))))
        return len(rows.all())


def start(store: Store, poll_max_ms: int = 100, lease_seconds: int = 5,
          missed_heartbeats: int = 10) -> tuple[Worker, asyncio.Task[None], asyncio.Event]:
    # two workers share one event loop here: a generous liveness margin (5 s by default), so
    # that a loaded machine delaying one of them does not make the other take its accounts
    # (not tested here)
    settings = Settings(worker=worker_settings(
        poll_max_ms=poll_max_ms, concurrency=16, lease_seconds=lease_seconds,
        heartbeat_seconds=0.5, missed_heartbeats=missed_heartbeats))
    worker = Worker(settings, store)
    stop = asyncio.Event()
    return worker, asyncio.create_task(worker.run(stop)), stop


async def registered(store: Store, count: int) -> None:
    async def check() -> bool:
        async with store.read() as conn:
            rows = await conn.execute(select(workers.c.id).where(workers.c.status == "running"))
            return len(rows.all()) >= count

    await eventually(check, 60)


async def test_two_workers_share_the_accounts(fresh_store: Store) -> None:
    h = Harness(fresh_store)
    # a venue that answers in 100 ms keeps the load sustained while the leases are observed:
    # commands reach each account faster than it executes them, so no account goes idle and
    # is handed back meanwhile (at 20 ms a quiet machine drained them between two sends and
    # the split was 7/3 in 2 of 5 runs; joined paper sends take a few ms)
    accounts = [await h.account("hedge", faults={"ack_latency_ms": 100}) for _ in range(10)]
    await h.price(SYMBOL, "50000")
    # accounts a peer leaves untaken go to the other worker after a grace period of five of
    # its rounds (5 x poll_max): 15 s here, and a worker is dead after 30 s without a
    # heartbeat, its leases after 30 s without renewal, so that a loaded machine delaying one
    # worker (heartbeats 25 s late were seen under a full suite on a slow machine) does not
    # hand its share to the other while the split is observed: the split is what is tested
    margins = {"poll_max_ms": 3000, "lease_seconds": 30, "missed_heartbeats": 60}
    first, second = start(fresh_store, **margins), start(fresh_store, **margins)
    try:
        await registered(fresh_store, 2)
        await queue_orders(h, accounts, 40)  # 4 s of venue time per account at least
        seen: Counter[str] = Counter()

        async def both_busy() -> bool:
            seen.clear()
            seen.update(await owners(fresh_store))
            return len(seen) == 2 and sum(seen.values()) == 10

        await eventually(both_busy, 60)
        assert sorted(seen.values()) == [5, 5], seen  # a fair share each, not 10 and 0

        async def drained() -> bool:
            return await remaining(fresh_store) == 0

        await eventually(drained, 60)
    finally:
        for _worker, _task, stop in (first, second):
            stop.set()
        await asyncio.gather(first[1], second[1])


async def test_accounts_left_to_an_idle_peer_are_taken(fresh_store: Store) -> None:
    """A peer that looks alive (fresh heartbeat) but takes nothing: the one real worker first
    takes its half of the accounts (and keeps them: their resting orders are watched), then,
    after the grace period, the rest."""
    h = Harness(fresh_store)
    accounts = [await h.account("hedge") for _ in range(6)]
    await h.price(SYMBOL, "50000")
    async with fresh_store.transaction() as conn:
        now = utcnow()
        await conn.execute(insert(workers).values(
            id="ghost", hostname="elsewhere", pid=1, status="running", started_at=now,
            heartbeat_at=now + timedelta(minutes=5)))  # alive for the whole test
    for account in accounts:  # resting orders: the worker keeps the leases it takes (order sync)
        item = await h.send(account, "send_order", symbol=SYMBOL, order_type="limit",
                            side="buy", qty="0.001", price="40000")
        assert item["ok"], item
    _worker, task, stop = start(fresh_store)
    try:
        async def drained() -> bool:
            return await remaining(fresh_store) == 0

        await eventually(drained, 30)  # the grace period is 1 s: nothing waits for the ghost
    finally:
        stop.set()
        await task


async def test_an_idle_held_account_does_not_count_against_the_share(
    fresh_store: Store,
) -> None:
    """A worker still holds account A, now idle (its task keeps the lease a while); account B
    gets a command: B is taken at once, not left "for a peer" until the grace period runs out
    (there is no peer). With two workers alive and two accounts with new work, the idle one
    does not count either: this worker takes its half."""
    h = Harness(fresh_store)
    idle, new, other = [await h.account("hedge") for _ in range(3)]
    await h.send(idle, "send_order", symbol=SYMBOL, order_type="market", side="buy",
                 qty="0.001")

    async def acquire(workers_alive: int, held: set[int]) -> tuple[list[int], set[int]]:
        async with fresh_store.transaction() as conn:
            taken, left = await leases.acquire(
                conn, owner="w1", now=utcnow(), lease_seconds=30, limit=16, exclude=held,
                dialect=fresh_store.dialect, workers=workers_alive)
        return [lease.account_id for lease in taken], left

    assert await acquire(1, set()) == ([idle], set())
    async with fresh_store.transaction() as conn:  # its command done: A has no work left
        await conn.execute(update(commands).where(commands.c.account_id == idle)
                           .values(status="completed"))
    await h.send(new, "send_order", symbol=SYMBOL, order_type="market", side="buy",
                 qty="0.001")
    assert await acquire(1, {idle}) == ([new], set())
    async with fresh_store.transaction() as conn:  # B handed back: B and C have work, A idle
        await conn.execute(update(account_leases).where(account_leases.c.account_id == new)
                           .values(owner=None))
    await h.send(other, "send_order", symbol=SYMBOL, order_type="market", side="buy",
                 qty="0.001")
    taken, left = await acquire(2, {idle})
    assert (len(taken), len(left)) == (1, 1)
    assert set(taken) | left == {new, other}
