"""Migrations from empty and exact money/time round trips, on MariaDB and SQLite."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect, select

from apps.oms.store.migrate import current, head_revision, upgrade_async
from apps.oms.store.store import Store
from apps.oms.store.tables import accounts, market_quotes, metadata

from ...conftest import kill_mysql_sessions, mysql_admin_connection

pytestmark = pytest.mark.mysql

EXACT = Decimal("123456789.123456789012345678")
NAIVE = datetime(2026, 1, 1)  # noqa: DTZ001 - deliberately naive: the column must refuse it


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
async def test_migrations_up_from_empty_create_every_table(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"empty_{backend}_url")
    before = await current(url)
    assert before["current"] is None
    await upgrade_async(url)
    after = await current(url)
    assert after == {"current": head_revision(), "head": head_revision(), "up_to_date": True}
    store = Store.from_url(url)
    try:
        async with store.read() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await store.close()
    assert set(metadata.tables) <= names
    await upgrade_async(url)  # idempotent


async def test_money_and_time_round_trip_exactly(store_url: str) -> None:
    store = Store.from_url(store_url)
    stamp = datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC)
    symbol = f"RT{store_url[:5]}"
    try:
        async with store.transaction() as conn:
            await conn.execute(
                insert(market_quotes).values(
                    venue="test",
                    symbol=symbol,
                    bid=EXACT,
                    ask=-EXACT,
                    last=Decimal("1E-18"),
                    quoted_at=stamp,
                )
            )
        async with store.read() as conn:
            row = (
                await conn.execute(select(market_quotes).where(market_quotes.c.symbol == symbol))
            ).one()
    finally:
        await store.close()
    assert row.bid == EXACT
    assert str(row.bid.normalize()) == "123456789.123456789012345678"
    assert row.ask == -EXACT
    assert row.last == Decimal("0.000000000000000001")
    assert row.quoted_at == stamp
    assert row.quoted_at.tzinfo is UTC


async def test_money_columns_refuse_float(store_url: str) -> None:
    store = Store.from_url(store_url)
    try:
        with pytest.raises(Exception, match="Money columns take Decimal"):
            async with store.transaction() as conn:
                await conn.execute(
                    insert(market_quotes).values(
                        venue="test", symbol="FLOAT", bid=1.5, quoted_at=datetime.now(UTC)
                    )
                )
        with pytest.raises(Exception, match="timezone-aware"):
            async with store.transaction() as conn:
                await conn.execute(
                    insert(accounts).values(
                        exchange_id="paper",
                        label="x",
                        position_mode="hedge",
                        created_at=NAIVE,
                        updated_at=NAIVE,
                    )
                )
    finally:
        await store.close()


async def test_sqlite_reads_never_wait_for_the_writer(tmp_path: Path) -> None:
    """SQLite has one writer: a read connection begins DEFERRED (a WAL snapshot), so it reads
    the last committed state while a write transaction holds the lock, instead of queueing
    behind it (and failing with `database is locked` after the busy timeout)."""
    url = f"sqlite+aiosqlite:///{tmp_path}/reads.sqlite3"
    await upgrade_async(url)
    store = Store.from_url(url)
    symbol = "READ/WAIT"
    try:
        async with store.transaction() as conn:
            await conn.execute(insert(market_quotes).values(
                venue="test", symbol=symbol, bid=Decimal(1), ask=Decimal(2),
                quoted_at=datetime(2026, 11, 22, tzinfo=UTC)))
        async with store.transaction() as writer:  # holds SQLite's write lock from here
            await writer.execute(market_quotes.update().where(market_quotes.c.symbol == symbol)
                                 .values(bid=Decimal(5)))  # fmt: skip
            async with store.read() as reader:  # the same task: waiting would never end
                seen = (await reader.execute(select(market_quotes.c.bid).where(
                    market_quotes.c.symbol == symbol))).scalar_one()
            assert seen == Decimal(1)  # the committed snapshot, not the writer's change
        async with store.read() as reader:
            after = (await reader.execute(select(market_quotes.c.bid).where(
                market_quotes.c.symbol == symbol))).scalar_one()
        assert after == Decimal(5)
    finally:
        await store.close()


@pytest.mark.parametrize("store_url", ["mysql"], indirect=True)
async def test_a_connection_lost_inside_a_transaction_surfaces_as_an_outage(
    store_url: str,
) -> None:
    """The server drops a transaction's connection (restart, killed session): the error that
    leaves `Store.transaction` is the driver's, which the API answers with 503 and the worker
    waits out, not an error of the transaction's own bookkeeping about the dead connection."""
    from sqlalchemy import text

    from apps.oms.store.store import is_store_outage

    store = Store.from_url(store_url)

    async def killed_midway() -> None:
        async with store.transaction() as conn:
            session = (await conn.execute(text("SELECT CONNECTION_ID()"))).scalar_one()
            kill_mysql_sessions(session)
            await conn.execute(text("SELECT 1"))

    try:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - which one is the point
            await killed_midway()
        assert is_store_outage(caught.value), repr(caught.value)
    finally:
        await store.close()


@pytest.mark.parametrize("store_url", ["mysql"], indirect=True)
@pytest.mark.parametrize("driver", ["aiomysql", "asyncmy"])
async def test_a_dropped_connection_under_a_consistent_read_is_an_outage(
    store_url: str, driver: str
) -> None:
    """The read model's freshness check opens a REPEATABLE READ snapshot on a pooled connection;
    when the server dropped that connection (a restart, a killed session), setting the
    isolation level raises the driver's own error, outside SQLAlchemy's wrapping. It is still
    a store outage (the API answers 503 and a retry succeeds), never an internal error (the
    e2e read-model property test met a 500 there)."""
    from sqlalchemy import text

    from apps.oms.store import stream
    from apps.oms.store.store import is_store_outage, is_store_unreachable

    store = Store.from_url(store_url.replace("mysql+aiomysql", f"mysql+{driver}"), pool_size=1)
    try:
        async with stream.consistent_read(store) as conn:  # the write pool's one connection
            session = (await conn.execute(text("SELECT CONNECTION_ID()"))).scalar_one()
        kill_mysql_sessions(session)
        with pytest.raises(Exception) as caught:  # noqa: PT011 - which one is the point
            async with stream.consistent_read(store) as conn:
                await conn.execute(text("SELECT 1"))
        assert is_store_outage(caught.value), repr(caught.value)
        assert is_store_unreachable(caught.value), repr(caught.value)  # waiting outlives it
        async with stream.consistent_read(store) as conn:  # the pool recovered
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await store.close()


@pytest.mark.parametrize("store_url", ["mysql"], indirect=True)
async def test_a_consistent_read_is_one_snapshot_and_leaves_the_pool_as_it_was(
    store_url: str,
) -> None:
    """Every statement of `stream.consistent_read` sees one snapshot (REPEATABLE READ for that
    transaction only): a commit made meanwhile shows in neither; the pooled connection then
    reads READ COMMITTED again, seeing that commit."""
    from sqlalchemy import text

    from apps.oms.store import stream

    store = Store.from_url(store_url, pool_size=1)
    symbol = "SNAP/SHOT"
    bid = select(market_quotes.c.bid).where(market_quotes.c.symbol == symbol)
    try:
        async with store.transaction() as conn:
            await conn.execute(insert(market_quotes).values(
                venue="test", symbol=symbol, bid=Decimal(1), ask=Decimal(2),
                quoted_at=datetime(2026, 11, 24, tzinfo=UTC)))
        async with stream.consistent_read(store) as conn:
            assert (await conn.execute(bid)).scalar_one() == Decimal(1)
            other = Store.from_url(store_url, pool_size=1)
            try:
                async with other.transaction() as writer:
                    await writer.execute(market_quotes.update().where(
                        market_quotes.c.symbol == symbol).values(bid=Decimal(7)))
            finally:
                await other.close()
            assert (await conn.execute(bid)).scalar_one() == Decimal(1)  # the same snapshot
        async with store.transaction() as conn:  # the pool's one connection, at its own level
            level = (await conn.execute(text("SELECT @@tx_isolation"))).scalar_one()
            assert (await conn.execute(bid)).scalar_one() == Decimal(7)
        assert level == "READ-COMMITTED"
    finally:
        await store.close()


@pytest.mark.parametrize("store_url", ["mysql"], indirect=True)
@pytest.mark.parametrize("driver", ["aiomysql", "asyncmy"])
async def test_a_server_restart_fails_one_request_across_both_pools(
    store_url: str, driver: str
) -> None:
    """Reads and writes have a pool each; the server drops every connection (a restart, here
    each session killed). The first statement to fail on either pool drops the other pool's
    connections too, so the next write, like the next read, runs on a fresh connection: one
    request fails, as with one pool, not one per pool."""
    from sqlalchemy import text

    from apps.oms.store.store import is_store_outage

    store = Store.from_url(store_url.replace("mysql+aiomysql", f"mysql+{driver}"), pool_size=1)
    session = text("SELECT CONNECTION_ID()")
    try:
        async with store.read() as conn:
            reader = (await conn.execute(session)).scalar_one()
        async with store.transaction() as conn:
            writer = (await conn.execute(session)).scalar_one()
        assert reader != writer  # two pools, one connection each
        kill_mysql_sessions(reader, writer)
        with pytest.raises(Exception) as caught:  # noqa: PT011 - which one is the point
            async with store.read() as conn:
                await conn.execute(text("SELECT 1"))
        assert is_store_outage(caught.value), repr(caught.value)
        async with store.transaction() as conn:  # the write pool was dropped with the read's
            assert (await conn.execute(session)).scalar_one() not in (reader, writer)
        async with store.read() as conn:
            assert (await conn.execute(session)).scalar_one() not in (reader, writer)
    finally:
        await store.close()


@pytest.mark.parametrize("store_url", ["mysql"], indirect=True)
@pytest.mark.parametrize("driver", ["aiomysql", "asyncmy"])
async def test_close_waits_for_a_connection_still_checked_out(store_url: str, driver: str) -> None:
    """A connection returned after the pools were disposed goes back to the disposed pool,
    where nothing closes it (an unclosed connection collected later, in another test). The
    store's close waits for it to come back, then closes it with the others: its server
    session ends."""
    import asyncio

    from sqlalchemy import text

    store = Store.from_url(store_url.replace("mysql+aiomysql", f"mysql+{driver}"), pool_size=2)
    reading = store.read()
    conn = await reading.__aenter__()
    session = (await conn.execute(text("SELECT CONNECTION_ID()"))).scalar_one()
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0.1)
    assert not closing.done()  # waiting for the connection
    await reading.__aexit__(None, None, None)
    await closing
    assert store.checked_out() == 0
    for _ in range(500):  # the server ends the session once it reads the client's close
        with mysql_admin_connection() as admin, admin.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s",
                        (session,))  # fmt: skip
            if cur.fetchone()[0] == 0:
                break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"session {session} still open after the store closed")
