"""A worker started while its store cannot be reached waits for it (its first transaction,
the registration, is retried with a backoff, as every loop retries once running) instead of
ending; a store that answers with an error of the request (no schema) still ends it at once.

Regression: under two suites on one MariaDB, a connect timeout in the registration ended the
live stack's in-process worker (and, in a chaos test, a CLI worker with exit code 3). The outage
here is real: the worker reaches MariaDB through a TCP relay that is cut before it starts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.store import fleet
from apps.oms.store.migrate import upgrade
from apps.oms.store.store import Store, is_store_outage
from apps.oms.store.tables import workers
from apps.worker.main import Worker
from test.conftest import MYSQL_PORT, create_mysql_database, drop_mysql_database
from test.relay import Relay

from .conftest import Harness, eventually, worker_settings

GENEROUS = 90.0  # seconds: a deadline for a loaded machine; no speed is asserted


def retries(caplog: pytest.LogCaptureFixture) -> int:
    return sum("cannot reach the store yet" in r.getMessage() for r in caplog.records)


async def is_registered(store: Store, worker_id: str) -> bool:
    async with store.read() as conn:
        return (await conn.execute(select(workers.c.id).where(workers.c.id == worker_id))
                ).first() is not None


@pytest.mark.mysql
async def test_worker_waits_for_an_unreachable_store_then_executes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "apps.worker")
    name, url = create_mysql_database("oms_start")
    relay = Relay()
    direct = Store.from_url(url, pool_size=4)
    through_relay: Store | None = None
    task: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    try:
        await asyncio.to_thread(upgrade, url)
        await relay.restore()
        await relay.cut()  # every connect is refused
        through_relay = Store.from_url(url.replace(f":{MYSQL_PORT}/", f":{relay.port}/"),
                                       pool_size=4)
        worker = Worker(Settings(worker=worker_settings()), through_relay)
        task = asyncio.create_task(worker.run(stop))

        async def retried_twice() -> bool:
            return retries(caplog) >= 2 or task.done()

        await eventually(retried_twice, GENEROUS)
        assert not task.done(), task.exception()  # before the fix: OperationalError, ended
        assert not await is_registered(direct, worker.worker_id)

        await relay.restore()  # the store is back, on the same port
        await eventually(lambda: is_registered(direct, worker.worker_id), GENEROUS)
        h = Harness(direct)
        account = await h.account("netting")
        await h.price("BTC/USDT", "50000")
        item = await h.send(account, "send_order", symbol="BTC/USDT", side="buy",
                            order_type="market", qty="0.001")
        assert item["ok"], item

        async def completed() -> bool:
            return (await h.command(item["command_id"]))["status"] == "completed"

        await eventually(completed, GENEROUS)
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, GENEROUS)
        if through_relay is not None:
            await through_relay.close()
        await direct.close()
        with contextlib.suppress(Exception):
            await relay.close()
        drop_mysql_database(name)


@pytest.mark.mysql
async def test_a_worker_stopped_before_the_store_came_back_ends_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "apps.worker")
    relay = Relay()
    await relay.restore()
    await relay.cut()
    store = Store.from_url(f"mysql+aiomysql://root@127.0.0.1:{relay.port}/nowhere", pool_size=2)
    stop = asyncio.Event()
    try:
        task = asyncio.create_task(Worker(Settings(worker=worker_settings()), store).run(stop))

        async def retried() -> bool:
            return retries(caplog) >= 1 or task.done()

        await eventually(retried, GENEROUS)
        assert not task.done(), task.exception()
        stop.set()
        await asyncio.wait_for(task, GENEROUS)  # returns: no error, nothing to give back
    finally:
        await store.close()
        await relay.close()


async def test_a_store_without_the_schema_ends_the_worker(tmp_path: Path) -> None:
    """An error of the request, not of the connection, is not waited out: a worker pointed at
    a database that was never migrated fails at once with the store's error."""
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}", pool_size=2)
    try:
        with pytest.raises(Exception, match="no such table") as raised:
            await asyncio.wait_for(
                Worker(Settings(worker=worker_settings()), store).run(asyncio.Event()), GENEROUS)
        assert not is_store_outage(raised.value)
    finally:
        await store.close()


async def test_a_registration_that_committed_unanswered_can_run_again(fresh_store: Store) -> None:
    """The retried registration may find its own row (an earlier attempt committed, its answer
    was lost): it refreshes the row instead of failing on the duplicate key."""
    for _attempt in range(2):
        async with fresh_store.transaction() as conn:
            await fleet.register_worker(conn, worker_id="w-1", hostname="h", pid=1,
                                        now=utcnow(), wake_addr=None)  # fmt: skip
    async with fresh_store.read() as conn:
        rows = (await conn.execute(select(workers.c.id, workers.c.status))).all()
    assert [tuple(r) for r in rows] == [("w-1", "running")]
