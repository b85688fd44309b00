"""R5 at the integration level: real `Worker` loops racing on the same accounts (two on MariaDB,
one on SQLite): every command terminal once, per-account order kept, no duplicate venue order,
positions equal the fold of deals, outbox dense, leases released on stop."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from apps.oms.config import Settings
from apps.oms.store.store import Store
from apps.oms.store.tables import account_leases, commands, orders
from apps.paper.store.tables import paper_orders
from apps.worker.main import Worker

from .conftest import Harness, eventually, worker_settings
from .test_commands import assert_fold
from .test_sequencer import check_dense, sequence_all


async def test_workers_race(fresh_store: Store, fresh_url: str) -> None:
    # a database of its own: the workers lease every account with work in it, and other
    # tests' accounts (CCXT ones without network among them) must not take their slots
    h = Harness(fresh_store)
    store_url = fresh_url
    accts = [await h.account("netting") for _ in range(4)]
    ids: dict[int, list[int]] = {a: [] for a in accts}
    for n in range(10):
        for a in accts:
            item = await h.send(a, "send_order", symbol="BTC/USDT:USDT",
                                side="buy" if n % 3 else "sell", order_type="market",
                                qty="0.001")
            ids[a].append(item["command_id"])
    settings = Settings(worker=worker_settings(concurrency=2))
    count = 2 if h.store.dialect == "mysql" else 1
    stores = [Store.from_url(store_url, pool_size=4) for _ in range(count)]
    workers = [Worker(settings, s) for s in stores]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    every = [i for a in accts for i in ids[a]]

    async def done() -> bool:
        async with h.store.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(commands).where(
                commands.c.id.in_(every), commands.c.status.in_(("completed", "failed")))
            )).scalar_one()) == len(every)

    try:
        await eventually(done, 120)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for s in stores:
            await s.close()
    async with h.store.read() as conn:
        for a in accts:
            rows = list(await conn.execute(select(commands.c.id, commands.c.status,
                                                  commands.c.finished_at)
                                           .where(commands.c.account_id == a)
                                           .order_by(commands.c.id)))
            assert {r.status for r in rows} == {"completed"}
            finished = [r.finished_at for r in rows]
            assert finished == sorted(finished)  # strict per-account order
            venue = (await conn.execute(select(func.count()).select_from(paper_orders).where(
                paper_orders.c.account_id == a))).scalar_one()
            ours = (await conn.execute(select(func.count()).select_from(orders).where(
                orders.c.account_id == a))).scalar_one()
            assert venue == ours  # no duplicate venue orders
        owners = {r[0] for r in await conn.execute(
            select(account_leases.c.owner).where(account_leases.c.account_id.in_(accts)))}
    assert owners == {None}
    for a in accts:
        await assert_fold(h, a)
    await sequence_all(h.store)
    await check_dense(h.store)

