"""Deferred writes (apps/oms/store/pipeline.py) on both MySQL drivers against real MariaDB:
they ride with the next statement that needs a result (one round trip), are visible to it,
commit with the transaction and never without it, and a failing one fails the transaction
with SQLAlchemy's own error type. SQLite ignores the option."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.connectors import asyncio as sa_asyncio
from sqlalchemy.exc import IntegrityError

from apps.oms.store import pipeline
from apps.oms.store.migrate import upgrade_async
from apps.oms.store.store import Store
from apps.oms.store.tables import market_quotes, outbox

from ...conftest import create_mysql_database, drop_mysql_database

EXACT = Decimal("123456789.123456789012345678")
STAMP = datetime(2026, 11, 24, 6, 30, 1, 123456, tzinfo=UTC)
SPECIAL = "quote ' double \" backslash \\ percent % nul \0 newline \n é 中 %s %(x)s"


@pytest.fixture(params=["asyncmy", "aiomysql"])
def driver_url(request: pytest.FixtureRequest) -> Iterator[str]:
    name, url = create_mysql_database("oms_pipeline")
    try:
        yield url.replace("mysql+aiomysql://", f"mysql+{request.param}://")
    finally:
        drop_mysql_database(name)


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every query the driver sends (one per round trip), counted at SQLAlchemy's cursor
    adapter over the real driver."""
    sent: list[str] = []
    cursor = sa_asyncio.AsyncAdapt_dbapi_cursor
    execute, executemany = cursor.execute, cursor.executemany

    def counting_execute(self: Any, operation: Any, parameters: Any = None) -> Any:
        sent.append(str(operation))
        return execute(self, operation, parameters)

    def counting_executemany(self: Any, operation: Any, rows: Any) -> Any:
        sent.append(str(operation))
        return executemany(self, operation, rows)

    monkeypatch.setattr(cursor, "execute", counting_execute)
    monkeypatch.setattr(cursor, "executemany", counting_executemany)
    return sent


def event(name: str, payload: Any) -> dict[str, Any]:
    return {"account_id": None, "namespace": "pipe", "event": name, "payload": payload,
            "created_at": STAMP}  # fmt: skip


COUNT = select(func.count()).select_from(outbox).where(outbox.c.namespace == "pipe")


async def committed_count(url: str) -> int:
    other = Store.from_url(url, pool_size=1)
    try:
        async with other.read() as conn:
            return int((await conn.execute(COUNT)).scalar_one())
    finally:
        await other.close()


@pytest.mark.mysql
async def test_deferred_writes_ride_with_the_next_read(
    driver_url: str, round_trips: list[str]
) -> None:
    """Three kinds of deferred write (a multi-row insert, an upsert-free update, a single
    insert) then a read: one round trip carries all four, the read sees the writes, and they
    commit with the transaction. Exact values survive the client-side rendering: money to 18
    places, microseconds, JSON and text with quotes, backslashes, percent signs and NUL."""
    await upgrade_async(driver_url)
    store = Store.from_url(driver_url, pool_size=1)
    try:
        async with store.transaction() as conn:
            await conn.execute(text("DO 0"))  # the transaction's first statement, on its own
            before = len(round_trips)
            await conn.execute(pipeline.deferred(insert(outbox)),
                               [event("a", {"text": SPECIAL}), event("b", [1, "2"])])
            await conn.execute(pipeline.deferred(insert(market_quotes)), {
                "venue": "pipe", "symbol": SPECIAL[:60], "bid": EXACT, "ask": -EXACT,
                "last": None, "quoted_at": STAMP})  # fmt: skip
            await conn.execute(pipeline.deferred(
                update(outbox).where(outbox.c.event == "b").values(event=SPECIAL[:60])))
            assert len(round_trips) == before  # nothing sent yet
            assert await committed_count(driver_url) == 0  # (another store's connection)
            before = len(round_trips)
            got = (await conn.execute(select(outbox.c.event, outbox.c.payload)
                                      .where(outbox.c.namespace == "pipe")
                                      .order_by(outbox.c.id))).all()  # fmt: skip
            assert len(round_trips) == before + 1  # the read carried the three writes
            assert round_trips[-1].count(";\n") == 3
            assert "SELECT" in round_trips[-1]
        assert [tuple(r) for r in got] == [("a", {"text": SPECIAL}), (SPECIAL[:60], [1, "2"])]
        async with store.read() as conn:
            quote = (await conn.execute(select(market_quotes)
                                        .where(market_quotes.c.venue == "pipe"))).one()  # fmt: skip
        assert (quote.symbol, quote.bid, quote.ask, quote.last) == (SPECIAL[:60], EXACT, -EXACT, None)
        assert quote.quoted_at == STAMP
        assert await committed_count(driver_url) == 2
    finally:
        await store.close()


@pytest.mark.mysql
async def test_writes_kept_to_the_end_are_sent_before_the_commit(
    driver_url: str, round_trips: list[str]
) -> None:
    """A transaction whose last statements are deferred sends them in one round trip before
    its COMMIT: through `Store.transaction` (its flush) and through the engine's own
    transaction (the commit hook), so no commit can leave them behind."""
    await upgrade_async(driver_url)
    store = Store.from_url(driver_url, pool_size=1)
    try:
        async with store.transaction() as conn:
            await conn.execute(text("DO 0"))
            before = len(round_trips)
            for name in ("a", "b", "c"):
                await conn.execute(pipeline.deferred(insert(outbox)), event(name, {}))
        assert len(round_trips) == before + 1
        assert await committed_count(driver_url) == 3
        async with store.engine.begin() as conn:
            await conn.execute(pipeline.deferred(insert(outbox)), event("d", {}))
        assert await committed_count(driver_url) == 4
    finally:
        await store.close()


async def abandon(store: Store) -> None:
    async with store.transaction() as conn:
        await conn.execute(pipeline.deferred(insert(outbox)), event("gone", {}))
        raise RuntimeError("abandon")


@pytest.mark.mysql
async def test_a_rollback_drops_kept_writes_and_the_connection_starts_clean(
    driver_url: str,
) -> None:
    await upgrade_async(driver_url)
    store = Store.from_url(driver_url, pool_size=1)
    try:
        with pytest.raises(RuntimeError):
            await abandon(store)
        async with store.transaction() as conn:  # the pool's one connection again
            await conn.execute(insert(outbox), event("kept", {}))
        async with store.read() as conn:
            names = (await conn.execute(select(outbox.c.event)
                                        .where(outbox.c.namespace == "pipe"))).scalars().all()  # fmt: skip
        assert names == ["kept"]
    finally:
        await store.close()


QUOTE = {"venue": "pipe", "symbol": "DUP", "bid": EXACT, "quoted_at": STAMP}


async def duplicate_then_read(store: Store) -> None:
    async with store.transaction() as conn:
        await conn.execute(pipeline.deferred(insert(outbox)), event("before", {}))
        await conn.execute(pipeline.deferred(insert(market_quotes)), QUOTE)
        await conn.execute(pipeline.deferred(insert(market_quotes)), QUOTE)
        await conn.execute(select(func.count()).select_from(outbox))


async def duplicate_then_commit(store: Store) -> None:
    async with store.transaction() as conn:
        await conn.execute(pipeline.deferred(insert(market_quotes)), QUOTE)
        await conn.execute(pipeline.deferred(insert(market_quotes)), QUOTE)


@pytest.mark.mysql
async def test_a_failing_deferred_write_fails_its_transaction_with_the_driver_error_wrapped(
    driver_url: str,
) -> None:
    """A deferred insert that breaks a unique key surfaces on the statement that carries it,
    as SQLAlchemy's IntegrityError (what callers and the outage checks expect), and nothing of
    the transaction commits: neither the write before it nor the carrier."""
    await upgrade_async(driver_url)
    store = Store.from_url(driver_url, pool_size=1)
    try:
        with pytest.raises(IntegrityError):
            await duplicate_then_read(store)
        with pytest.raises(IntegrityError):  # the same, found by the flush before the commit
            await duplicate_then_commit(store)
        assert await committed_count(driver_url) == 0
        async with store.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(market_quotes)
                                       .where(market_quotes.c.venue == "pipe"))).scalar_one() == 0
    finally:
        await store.close()


class Guarded(Exception):
    pass


def exactly(rows: int) -> pipeline.Check:
    def check(count: int) -> None:
        if count != rows:
            raise Guarded(f"{count} rows, not {rows}")

    return check


async def guarded_update(store: Store, rows: int) -> None:
    async with store.transaction() as conn:
        await pipeline.defer(conn, update(outbox).where(outbox.c.event == "g")
                             .values(strategy_id=7), check=exactly(rows))  # fmt: skip
        await pipeline.defer(conn, insert(outbox), event("after", {}))
        await conn.execute(select(func.count()).select_from(outbox))


@pytest.mark.mysql
async def test_a_checked_deferred_write_fails_the_transaction_when_its_check_does(
    driver_url: str,
) -> None:
    """A guarded write (row count checked) deferred: its check runs with the count of rows it
    matched once the round trip carrying it has run; an exception from the check fails the
    transaction (nothing commits) and the connection stays in step for the next one."""
    await upgrade_async(driver_url)
    store = Store.from_url(driver_url, pool_size=1)
    try:
        async with store.transaction() as conn:
            await conn.execute(insert(outbox), [event("g", {}), event("g", {})])
        with pytest.raises(Guarded, match="2 rows, not 3"):
            await guarded_update(store, 3)
        assert await committed_count(driver_url) == 2
        await guarded_update(store, 2)  # matched rows, not changed ones (SQLAlchemy's flag)
        await guarded_update(store, 2)  # strategy_id already 7: still two matched
        assert await committed_count(driver_url) == 4
    finally:
        await store.close()


@pytest.mark.mysql
async def test_a_savepoint_begins_after_the_kept_writes(driver_url: str) -> None:
    """Writes kept before a savepoint are sent before it begins: rolling back to the savepoint
    keeps them (as it would have without deferral)."""
    await upgrade_async(driver_url)
    store = Store.from_url(driver_url, pool_size=1)
    try:
        async with store.transaction() as conn:
            await conn.execute(pipeline.deferred(insert(outbox)), event("outer", {}))
            nested = await conn.begin_nested()
            await conn.execute(insert(outbox), event("inner", {}))
            await nested.rollback()
        async with store.read() as conn:
            names = (await conn.execute(select(outbox.c.event)
                                        .where(outbox.c.namespace == "pipe"))).scalars().all()  # fmt: skip
        assert names == ["outer"]
    finally:
        await store.close()


async def test_sqlite_runs_a_deferred_write_at_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pipe.db'}"
    await upgrade_async(url)
    store = Store.from_url(url)
    try:
        async with store.transaction() as conn:
            result = await conn.execute(pipeline.deferred(insert(outbox)), event("now", {}))
            assert result.inserted_primary_key is not None
            assert (await conn.execute(COUNT)).scalar_one() == 1
        assert not pipeline.installed(store.engine)
        with pytest.raises(Guarded, match="0 rows, not 3"):  # a check runs at once here
            await guarded_update(store, 3)
    finally:
        await store.close()
