"""Both MySQL drivers the database URL may name (`mysql+asyncmy://`, the documented production
choice, and `mysql+aiomysql://`): migrations, exact money/time/JSON round trips, commit and
rollback, READ COMMITTED, the install flow and the per-request auth read, on real MariaDB."""

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.security.keys import hash_api_key
from apps.oms.service.auth import authenticate
from apps.oms.service.auth_cache import PrincipalCache
from apps.oms.service.install import InstallRequest, install
from apps.oms.store.migrate import current, head_revision, upgrade_async
from apps.oms.store.store import Store
from apps.oms.store.tables import market_quotes, outbox

from ...conftest import create_mysql_database, drop_mysql_database

pytestmark = pytest.mark.mysql
PEPPER = "driver-test-pepper-0123456789abcdef012345"
EXACT = Decimal("123456789.123456789012345678")


@pytest.fixture(params=["asyncmy", "aiomysql"])
def driver_url(request: pytest.FixtureRequest) -> Iterator[str]:
    name, url = create_mysql_database("oms_driver")
    try:
        yield url.replace("mysql+aiomysql://", f"mysql+{request.param}://")
    finally:
        drop_mysql_database(name)


async def write_then_fail(store: Store, stamp: datetime) -> None:
    async with store.transaction() as conn:
        await conn.execute(insert(market_quotes).values(venue="t", symbol="R/B", quoted_at=stamp))
        raise RuntimeError("roll back")


async def test_store_smoke_on_each_driver(driver_url: str) -> None:
    await upgrade_async(driver_url)
    assert (await current(driver_url))["current"] == head_revision()
    store = Store.from_url(driver_url)
    stamp = datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC)
    try:
        assert store.dialect == "mysql"
        await store.ping()
        async with store.transaction() as conn:
            await conn.execute(
                insert(market_quotes).values(
                    venue="t", symbol="X/Y", bid=EXACT, ask=-EXACT, last=Decimal("1E-18"),
                    quoted_at=stamp,
                )
            )  # fmt: skip
            await conn.execute(
                insert(outbox).values(
                    account_id=None, namespace="system", event="e",
                    payload={"qty": "0.1", "n": [1, 2]}, created_at=stamp,
                )
            )  # fmt: skip
        with pytest.raises(RuntimeError):
            await write_then_fail(store, stamp)
        async with store.read() as conn:
            quote = (await conn.execute(select(market_quotes))).one()
            payload = (await conn.execute(select(outbox.c.payload))).scalar_one()
            level = (await conn.execute(text("SELECT @@tx_isolation"))).scalar_one()
        assert (quote.bid, quote.ask, quote.last) == (EXACT, -EXACT, Decimal("1E-18"))
        assert quote.quoted_at == stamp
        assert payload == {"qty": "0.1", "n": [1, 2]}
        assert level == "READ-COMMITTED"
        # the install flow and both auth paths give the same principal
        done = await install(store, PEPPER, InstallRequest(with_account=True))
        key = done["api_key"]["plain"]
        plain = await authenticate(store, PEPPER, key)
        cached = await PrincipalCache(store, PEPPER).authenticate(key)
        assert cached == plain
        assert plain.grants
        assert hash_api_key(key, PEPPER) != key
    finally:
        await store.close()



async def in_transaction(conn: AsyncConnection) -> bool:
    """MariaDB's session flag (MySQL 8 has no `@@in_transaction`; the suite runs on MariaDB)."""
    return bool((await conn.execute(text("SELECT @@in_transaction"))).scalar_one())


async def test_a_read_runs_in_autocommit_on_each_driver(driver_url: str) -> None:
    """`Store.read()` leaves no transaction open on the pooled connection (no snapshot or
    metadata lock held) and sends no ROLLBACK to end one, asked of the server on that same
    connection (a pool of one): reading a table begins no transaction, and the session's
    ROLLBACK count stays where it was over several reads."""
    await upgrade_async(driver_url)
    store = Store.from_url(driver_url, pool_size=1)
    try:
        rollbacks = []
        for _ in range(3):
            async with store.read() as conn:
                assert not await in_transaction(conn)
                await conn.execute(select(market_quotes.c.symbol).limit(1))
                assert not await in_transaction(conn)  # autocommit: the read began none
                rollbacks.append(await session_rollbacks(conn))
                level = (await conn.execute(text("SELECT @@tx_isolation"))).scalar_one()
                assert level == "READ-COMMITTED"  # the write pool's level, set on connect
        assert rollbacks == [rollbacks[0]] * 3, rollbacks
    finally:
        await store.close()


async def session_rollbacks(conn: AsyncConnection) -> int:
    row = (await conn.execute(text("SHOW SESSION STATUS LIKE 'Com_rollback'"))).one()
    return int(row[1])


@pytest.mark.parametrize("no_backslash_escapes", [False, True])
async def test_strings_round_trip_with_every_special_character(
    driver_url: str, no_backslash_escapes: bool
) -> None:
    """Short and long strings (the faster escape's two paths) with every character the escape
    touches, in a JSON column and a text column, under both quoting modes of the server."""
    await upgrade_async(driver_url)
    store = Store.from_url(driver_url, pool_size=1)
    special = "\\ \0 \n \r \032 ' \" % é 中 \\'"
    values = [special, special * 20, "plain " * 30]
    try:
        async with store.transaction() as conn:
            if no_backslash_escapes:
                await conn.execute(text(
                    "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')"))
            for value in values:
                await conn.execute(insert(outbox).values(
                    account_id=None, namespace="t", event=value[:60],
                    payload={"text": value, value[:10]: [value]},
                    created_at=datetime.now(UTC)))  # fmt: skip
            got = (await conn.execute(select(outbox.c.event, outbox.c.payload)
                                      .where(outbox.c.namespace == "t")
                                      .order_by(outbox.c.id))).all()  # fmt: skip
            await conn.execute(text("SET SESSION sql_mode = DEFAULT"))
    finally:
        await store.close()
    assert [(e, p) for e, p in got] == [
        (v[:60], {"text": v, v[:10]: [v]}) for v in values
    ]


async def test_every_connection_reads_causally(driver_url: str) -> None:
    """Both pools' sessions run with `wsrep_sync_wait = 1` (docs/deployment-ha.md → Causal
    reads): on a Galera node each read waits for the write sets committed before it; on a
    server without Galera the variable is there and does nothing."""
    store = Store.from_url(driver_url)
    try:
        async with store.transaction() as conn:
            assert (await conn.execute(text("SELECT @@session.wsrep_sync_wait"))).scalar() == 1
        async with store.read() as conn:
            assert (await conn.execute(text("SELECT @@session.wsrep_sync_wait"))).scalar() == 1
    finally:
        await store.close()


async def test_a_pooled_connection_whose_link_was_reset_closes_its_socket(
        driver_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection resting in the pool whose link the other end reset (a node failed over, a
    proxy dropped it): the pool's close of it meets the reset, and the socket is closed all
    the same, not left for the collector (aiomysql's close raised before closing it, an
    "unclosed connection" warning that failed test runs on a loaded machine)."""
    import asyncio
    import gc
    import logging
    import warnings

    from sqlalchemy.engine import make_url

    from apps.oms.store.engine import create_engine
    from test.relay import Relay, _refuse

    # the pool logs the close's error with its traceback, which holds the connection: kept by
    # the test's log capture, it would reach the collector after this test, in another one
    monkeypatch.setattr(logging.getLogger("sqlalchemy.pool"), "propagate", False)
    relay = Relay()
    await relay.restore()
    url = make_url(driver_url).set(host="127.0.0.1", port=relay.port)
    engine = create_engine(url.render_as_string(hide_password=False))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async with engine.connect() as conn:  # one connection, back in the pool after
                await conn.execute(text("SELECT 1"))
                raw = (await conn.get_raw_connection()).driver_connection
            for link in relay.writers:  # reset, not a polite close (the relay's cut)
                _refuse(link)
            transport = raw._writer.transport if hasattr(raw, "_writer") else raw._transport
            for _ in range(3000):  # until the client has read the reset (a safety net only)
                if transport.is_closing():
                    break
                await asyncio.sleep(0.02)
            assert transport.is_closing()
            del raw, transport  # the pool's reference is the last one
            await engine.dispose()  # the pool closes what it holds
            gc.collect()
        assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    finally:
        await engine.dispose()
        await relay.close()
