"""`boundary.savepoint` on MariaDB when the server rolls the whole transaction back under it: a
deadlock inside the savepoint's block makes this transaction the victim, the savepoint goes
with it, and the caller must see the deadlock (which it retries), not the failed rollback to a
savepoint that no longer exists (MySQL 1305, which reads as an outage: a 503)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, update

from apps.oms.store.boundary import OperationalError, savepoint
from apps.oms.store.store import DEADLOCK, Store
from apps.oms.store.tables import Id

pytestmark = pytest.mark.mysql


@pytest.fixture
async def rows(mysql_url: str, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Store, Table]]:
    table = Table(f"t_savepoint_{abs(hash(request.node.nodeid)) % 10**8}", MetaData(),
                  Column("id", Id, primary_key=True), Column("n", Integer, nullable=False))
    store = Store.from_url(mysql_url)  # MariaDB only: SQLite serialises writers, no deadlock
    async with store.engine.begin() as conn:
        await conn.run_sync(table.drop, checkfirst=True)
        await conn.run_sync(table.create)
        await conn.execute(insert(table), [{"id": i, "n": 0} for i in range(1, 12)])
    try:
        yield store, table
    finally:
        async with store.engine.begin() as conn:
            await conn.run_sync(table.drop, checkfirst=True)
        await store.close()


async def test_a_deadlock_inside_a_savepoint_reaches_the_caller_as_a_deadlock(
    rows: tuple[Store, Table],
) -> None:
    store, table = rows
    other_has_row_1, victim_has_row_2 = asyncio.Event(), asyncio.Event()

    async def other() -> None:
        """Locks row 1 (and more: more undo, so the server picks the victim), then row 2."""
        async with store.engine.begin() as conn:
            await conn.execute(update(table).where(table.c.id != 2).values(n=table.c.n + 1))
            other_has_row_1.set()
            await victim_has_row_2.wait()
            await conn.execute(update(table).where(table.c.id == 2).values(n=1))

    async def victim() -> None:
        """Row 2 inside a savepoint, then row 1: the cycle closes here or in `other`."""
        await other_has_row_1.wait()
        async with store.engine.begin() as conn, savepoint(conn):
            await conn.execute(update(table).where(table.c.id == 2).values(n=2))
            victim_has_row_2.set()
            await asyncio.sleep(0.2)  # `other` is waiting for row 2 now
            await conn.execute(update(table).where(table.c.id == 1).values(n=2))

    results = await asyncio.gather(other(), victim(), return_exceptions=True)
    lost = results[1]
    assert results[0] is None, results
    assert isinstance(lost, OperationalError), results
    assert lost.orig is not None
    assert lost.orig.args[0] == DEADLOCK, lost
    async with store.read() as conn:
        found = {r.id: r.n for r in await conn.execute(select(table))}
    assert found == dict.fromkeys(range(1, 12), 1)  # the victim wrote nothing
