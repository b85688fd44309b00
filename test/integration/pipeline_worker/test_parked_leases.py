"""Parked leases (real in-process `Worker` on a fresh SQLite and MariaDB database): an account
task that goes quiet ends but keeps its lease; the account's next command runs under the same
lease (no lease round: the epoch does not move); a parked lease is renewed with the running
ones, given back after `park_seconds`, forgotten when the renewal finds it lost, and released
when the worker stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select, update

from apps.oms.config import Settings
from apps.oms.store.store import Store
from apps.oms.store.tables import account_leases
from apps.worker import account_task
from apps.worker.main import Worker

from .conftest import Harness, eventually, worker_settings

SYMBOL = "BTC/USDT:USDT"
L = account_leases.c


@pytest.fixture(autouse=True)
def quick_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(account_task, "IDLE_RELEASE", 0.2)  # tasks go quiet soon after work


@asynccontextmanager
async def running(store: Store, **settings: Any) -> AsyncIterator[Worker]:
    # generous liveness and lease margins: on a loaded machine neither the worker must look
    # dead nor a lease expire before its renewal (every lease_seconds / 4) comes round
    base: dict[str, Any] = {"missed_heartbeats": 50, "lease_seconds": 12}
    worker = Worker(Settings(worker=worker_settings(**{**base, **settings})), store)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await task


async def lease_row(store: Store, account_id: int) -> Any:
    async with store.read() as conn:
        return (await conn.execute(select(L.owner, L.lease_epoch, L.expires_at).where(
            L.account_id == account_id))).one()


async def market(h: Harness, account_id: int) -> int:
    item = await h.send(account_id, "send_order", symbol=SYMBOL, side="buy",
                        order_type="market", qty="0.001")
    assert item["ok"], item
    return int(item["command_id"])


async def completed(h: Harness, command_id: int) -> None:
    async def done() -> bool:
        return (await h.command(command_id))["status"] == "completed"

    await eventually(done)


async def new_account(store: Store) -> tuple[Harness, int]:
    h = Harness(store)
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    return h, acct


async def traded_and_parked(h: Harness, worker: Worker, account_id: int) -> None:
    """One market order run to completion, then the account's task gone quiet."""
    await completed(h, await market(h, account_id))
    await parked(worker, account_id)


async def parked(worker: Worker, account_id: int) -> None:
    async def check() -> bool:
        return account_id in worker.leases.parked

    await eventually(check)


@pytest.mark.parametrize("fresh_url", ["sqlite", "mysql"], indirect=True)
async def test_a_quiet_account_keeps_its_lease_and_runs_again_under_it(
    fresh_store: Store,
) -> None:
    h, acct = await new_account(fresh_store)
    async with running(fresh_store) as worker:
        await traded_and_parked(h, worker, acct)
        before = await lease_row(fresh_store, acct)
        assert before.owner == worker.worker_id
        assert acct not in worker.tasks.running  # no task runs for it meanwhile
        await completed(h, await market(h, acct))  # woken or found by the lease loop
        after = await lease_row(fresh_store, acct)
        assert (after.owner, after.lease_epoch) == (worker.worker_id, before.lease_epoch)
    assert (await lease_row(fresh_store, acct)).owner is None  # released on stop


@pytest.mark.parametrize("fresh_url", ["mysql"], indirect=True)
async def test_parked_leases_are_renewed_then_given_back_after_park_seconds(
    fresh_store: Store,
) -> None:
    h, acct = await new_account(fresh_store)
    async with running(fresh_store, park_seconds=20) as worker:
        await traded_and_parked(h, worker, acct)
        first = (await lease_row(fresh_store, acct)).expires_at

        async def renewed() -> bool:
            row = await lease_row(fresh_store, acct)
            return row.owner == worker.worker_id and row.expires_at > first

        await eventually(renewed)  # the heartbeat renews it (every lease_seconds / 4)

        async def given_back() -> bool:
            return acct not in worker.leases.parked and (
                await lease_row(fresh_store, acct)).owner is None

        await eventually(given_back)
        await completed(h, await market(h, acct))  # taken again by a lease round
        assert (await lease_row(fresh_store, acct)).lease_epoch > 1


@pytest.mark.parametrize("fresh_url", ["sqlite", "mysql"], indirect=True)
async def test_a_parked_lease_found_lost_is_forgotten_and_the_account_taken_anew(
    fresh_store: Store,
) -> None:
    h, acct = await new_account(fresh_store)
    async with running(fresh_store) as worker:
        await traded_and_parked(h, worker, acct)
        epoch = (await lease_row(fresh_store, acct)).lease_epoch
        async with fresh_store.transaction() as conn:  # as if it had expired and been taken
            await conn.execute(update(account_leases).where(L.account_id == acct)
                               .values(owner=None, expires_at=None, lease_epoch=epoch + 1))

        async def forgotten() -> bool:
            return acct not in worker.leases.parked

        await eventually(forgotten)  # the next renewal does not find it ours
        await completed(h, await market(h, acct))
        row = await lease_row(fresh_store, acct)
        assert (row.owner, row.lease_epoch) == (worker.worker_id, epoch + 2)


@pytest.mark.parametrize("fresh_url", ["mysql"], indirect=True)
async def test_parked_accounts_woken_beyond_capacity_all_run(fresh_store: Store) -> None:
    """One slot, three parked accounts woken together: each runs in turn (a parked account
    waiting for a slot makes the worker crowded, so quiet tasks make room)."""
    h = Harness(fresh_store)
    accounts = [await h.account("hedge") for _ in range(3)]
    await h.price(SYMBOL, "50000")
    async with running(fresh_store, concurrency=1) as worker:
        for acct in accounts:
            await completed(h, await market(h, acct))
        for acct in accounts:
            await parked(worker, acct)
        epochs = [(await lease_row(fresh_store, a)).lease_epoch for a in accounts]
        commands = [await market(h, a) for a in accounts]
        for command_id in commands:
            await completed(h, command_id)
        assert [(await lease_row(fresh_store, a)).lease_epoch for a in accounts] == epochs
