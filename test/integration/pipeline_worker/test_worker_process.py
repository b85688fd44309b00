"""A real `ccxt-oms worker` process killed with SIGKILL mid-run (twice) and restarted, with 20 %
venue timeouts: every command ends terminal exactly once, no venue order is duplicated, the books
equal the fold of their deals, the outbox is dense; SIGTERM at the end releases the leases."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from apps.oms.store.store import Store
from apps.oms.store.tables import account_leases, commands, orders, workers
from apps.paper.store.tables import paper_orders

from .conftest import Harness, eventually
from .test_commands import assert_fold
from .test_sequencer import check_dense, sequence_all

ROOT = Path(__file__).parents[3]


async def start_worker(url: str, tmp: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OMS_") and k != "CONFIG_JSON_PATH"}
    env.update(PYTHONPATH=str(ROOT), OMS_DATABASE_URL=url, OMS_WORKER__LEASE_SECONDS="30",
               OMS_WORKER__HEARTBEAT_SECONDS="0.3", OMS_WORKER__POLL_MAX_MS="20",
               OMS_WORKER__UNKNOWN_OUTCOME_WINDOW_SECONDS="15",
               OMS_WORKER__VENUE_TIMEOUT_SECONDS="30", OMS_PAPER_PRICE_SOURCE="manual",
               OMS_PAPER__DEFAULT_SPREAD_BPS="0", OMS_PAPER__LEVEL_NOTIONAL_USDT="0",
               OMS_PAPER__FUNDING_INTERVAL_SECONDS="0")
    fd = os.open(tmp / f"worker-{os.urandom(4).hex()}.log", os.O_WRONLY | os.O_CREAT)
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "apps.cli", "worker", cwd=tmp, env=env, stdout=fd, stderr=fd)
    finally:
        os.close(fd)


@pytest.mark.parametrize("fresh_url", ["mysql"], indirect=True)
async def test_kill_9_and_restart(fresh_store: Store, fresh_url: str, tmp_path: Path) -> None:
    # a database of its own: the worker process leases every account with work in it, and
    # other tests' accounts (CCXT ones without network among them) must not take its slots
    h = Harness(fresh_store)
    store_url = fresh_url
    accts = [await h.account("hedge", faults={"timeout_rate": "0.2", "seed": n})
             for n in range(3)]
    await h.price("BTC/USDT:USDT", "50000")
    every = []
    # enough sends that each kill lands mid-work: a worker runs them in batches, 60 of them
    # were all done within the 0.3 s before its kill
    for n in range(100):
        for a in accts:
            item = await h.send(a, "send_order", symbol="BTC/USDT:USDT",
                                side="buy" if n % 2 else "sell", order_type="market",
                                qty="0.001")
            every.append(item["command_id"])

    async def finished() -> int:
        async with h.store.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(commands).where(
                commands.c.id.in_(every),
                commands.c.status.in_(("completed", "failed"))))).scalar_one())

    killed: set[str] = set()  # their leases of accounts left without work just expire
    for _ in range(2):
        proc = await start_worker(store_url, tmp_path)
        killed.add(str(proc.pid))
        # generous: a worker process starts (imports, registration, first lease) in seconds on
        # a quiet machine, but took over 30 s under two suites at once on a slow one
        done = await finished()  # killed once it has finished commands of its own
        await eventually(lambda done=done: _more_than(finished, done), 150)
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    proc = await start_worker(store_url, tmp_path)
    try:
        await eventually(lambda: _more_than(finished, len(every) - 1), 180)
        # registered, so it has its signal handlers: the SIGTERM below is a graceful stop
        await eventually(lambda: _running(h, proc.pid), 60)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    async with h.store.read() as conn:
        statuses = {(r[0], r[1]) for r in await conn.execute(
            select(commands.c.status, commands.c.error_code).where(commands.c.id.in_(every)))}
        venue_ids = [r[0] for r in await conn.execute(
            select(paper_orders.c.client_order_id).where(paper_orders.c.account_id.in_(accts)))]
        ours = [r[0] for r in await conn.execute(
            select(orders.c.client_order_id).where(orders.c.account_id.in_(accts),
                                                   orders.c.status != "REJECTED"))]
        owners = {r[0] for r in await conn.execute(
            select(account_leases.c.owner).where(account_leases.c.account_id.in_(accts)))}
    assert statuses <= {("completed", None), ("failed", "outcome_unknown_not_found")}
    assert len(venue_ids) == len(set(venue_ids))  # never sent twice
    assert sorted(venue_ids) == sorted(ours)
    assert {o for o in owners if o is None or o.split(":")[-2] not in killed} == {None}
    for a in accts:
        await assert_fold(h, a)
    await sequence_all(h.store)
    await check_dense(h.store)


async def _running(h: Harness, pid: int) -> bool:
    async with h.store.read() as conn:
        found = await conn.execute(select(workers.c.status).where(workers.c.pid == pid))
        return "running" in {r[0] for r in found}


async def _more_than(count: Callable[[], object], n: int) -> bool:
    value = await count()  # type: ignore[misc]
    return bool(value > n)
