"""Held writes (apps/oms/store/direct.py: `later`, `later_rows`, `fetch_each`) on both MySQL
drivers against a real MariaDB, and on SQLite (where they run at once): a held write reaches
the server with the transaction's next statement or before its commit, in order with every
other statement; its row-count check and its errors come back as if it had been sent alone;
a held write that failed leaves the transaction able only to roll back; a rollback drops
what is held."""

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, InvalidRequestError, StatementError

from apps.oms.store import direct
from apps.oms.store.store import Store
from apps.oms.store.tables import market_quotes, outbox

from ...conftest import mysql_admin_connection
from .test_direct import EXACT, STAMP, events, stored

INSERT_OUTBOX = insert(outbox)
INSERT_QUOTE = insert(market_quotes)
SET_EVENT = update(outbox).where(outbox.c.event == bindparam("b_event")).values(
    event=bindparam("event"))
COUNT = select(func.count().label("n")).select_from(outbox)
NAMES = select(outbox.c.event).order_by(outbox.c.id)
NAMES_OF = NAMES.where(outbox.c.event == bindparam("b_event"))
QUOTE_BIDS = select(market_quotes.c.symbol, market_quotes.c.bid).order_by(market_quotes.c.symbol)
SLEEP = select(func.sleep(5).label("slept"))


class WrongCount(Exception):
    pass


def exactly(n: int) -> direct.Check:
    def check(found: int) -> None:
        if found != n:
            raise WrongCount(f"{found} rows, not {n}")

    return check


def quote(symbol: str, bid: Decimal = EXACT) -> dict[str, Any]:
    return {"venue": "v", "symbol": symbol, "bid": bid, "quoted_at": STAMP}


def peek_uncommitted(store: Store) -> list[str]:
    """Outbox events another session sees without waiting for our commit (READ UNCOMMITTED):
    what the server has executed of our transaction so far."""
    with mysql_admin_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"USE `{store.engine.url.database}`")
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
        cursor.execute("SELECT event FROM outbox ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


async def test_held_writes_store_what_immediate_writes_store(store: Store) -> None:
    async with store.transaction() as conn:
        await direct.insert_rows(conn, INSERT_OUTBOX, events(3))
        await direct.execute(conn, SET_EVENT, {"b_event": "e1", "event": "x1"})
    expected = await stored(store)
    async with store.transaction() as conn:
        await conn.execute(text("DELETE FROM outbox"))
    async with store.transaction() as conn:
        await direct.later_rows(conn, INSERT_OUTBOX, events(3))
        await direct.later(conn, SET_EVENT, {"b_event": "e1", "event": "x1"}, check=exactly(1))
        await direct.later_rows(conn, INSERT_OUTBOX, [])
    assert await stored(store) == expected
    assert [r["event"] for r in expected] == ["e0", "x1", "e2"]


@pytest.mark.mysql
async def test_a_held_write_reaches_the_server_with_the_next_statement(mysql_store: Store) -> None:
    store = mysql_store
    async with store.transaction() as conn:
        await direct.later_rows(conn, INSERT_OUTBOX, events(2))
        await direct.later(conn, SET_EVENT, {"b_event": "e0", "event": "first"})
        assert await asyncio.to_thread(peek_uncommitted, store) == []  # held, not sent
        # the next statement carries them, in order, and sees their effect
        assert (await direct.fetch_one(conn, COUNT)) == {"n": 2}
        assert await asyncio.to_thread(peek_uncommitted, store) == ["first", "e1"]
        await direct.later_rows(conn, INSERT_OUTBOX, events(1, 2))
    assert [r["event"] for r in await stored(store)] == ["first", "e1", "e2"]  # at the commit


@pytest.mark.mysql
async def test_a_statement_sqlalchemy_executes_goes_after_the_held_writes(
    mysql_store: Store,
) -> None:
    store = mysql_store
    async with store.transaction() as conn:
        await direct.later_rows(conn, INSERT_OUTBOX, events(2))
        assert (await conn.execute(NAMES)).scalars().all() == ["e0", "e1"]
        await direct.later(conn, SET_EVENT, {"b_event": "e1", "event": "saved"})
        async with conn.begin_nested():  # SAVEPOINT: sent after the held update
            await conn.execute(text("UPDATE outbox SET event = 'renamed' WHERE event = 'saved'"))
    assert [r["event"] for r in await stored(store)] == ["e0", "renamed"]


@pytest.mark.mysql
async def test_a_transaction_outside_store_still_sends_its_held_writes_before_commit(
    mysql_store: Store,
) -> None:
    async with mysql_store.engine.begin() as conn:
        await direct.later_rows(conn, INSERT_OUTBOX, events(2))
    assert len(await stored(mysql_store)) == 2


async def test_reads_in_one_round_trip_see_the_held_writes_before_them(store: Store) -> None:
    async with store.transaction() as conn:
        await direct.later_rows(conn, INSERT_QUOTE, [quote("A/B"), quote("C/D", Decimal(2))])
        await direct.later_rows(conn, INSERT_OUTBOX, events(3))
        counted, names, bids = await direct.fetch_each(conn, [(COUNT, {}), (NAMES, {}),
                                                              (QUOTE_BIDS, {})])  # fmt: skip
    assert counted == [{"n": 3}]
    assert [r["event"] for r in names] == ["e0", "e1", "e2"]
    assert bids == [{"symbol": "A/B", "bid": EXACT}, {"symbol": "C/D", "bid": Decimal(2)}]


async def guarded_update_that_misses(store: Store, then: list[dict[str, Any]]) -> None:
    async with store.transaction() as conn:
        await direct.later_rows(conn, INSERT_OUTBOX, events(1))
        await direct.later(conn, SET_EVENT, {"b_event": "nope", "event": "x"}, check=exactly(1))
        await direct.later_rows(conn, INSERT_QUOTE, then)
        await direct.fetch(conn, COUNT)


async def test_a_wrong_row_count_raises_the_checks_error_and_nothing_commits(store: Store) -> None:
    with pytest.raises(WrongCount, match="0 rows, not 1"):
        await guarded_update_that_misses(store, [quote("A/B")])
    assert await stored(store) == []


@pytest.mark.mysql
async def test_a_failed_check_comes_before_a_later_writes_error(mysql_store: Store) -> None:
    """A guarded update that matched nothing, then an insert that fails because of the same
    conflict, in one round trip: the guard's error is raised, as when each went alone."""
    store = mysql_store
    async with store.transaction() as conn:
        await direct.insert_rows(conn, INSERT_QUOTE, [quote("A/B")])
    with pytest.raises(WrongCount) as raised:
        await guarded_update_that_misses(store, [quote("A/B")])  # then a duplicate key
    assert type(raised.value.__cause__).__name__ == "IntegrityError"  # the driver's, as sent


async def swallow_a_held_writes_error(store: Store) -> None:
    async with store.transaction() as conn:
        await direct.later_rows(conn, INSERT_OUTBOX, events(1))
        await direct.later_rows(conn, INSERT_QUOTE, [quote("A/B")])  # a duplicate key
        with pytest.raises(IntegrityError):  # raised where the next statement goes
            await direct.fetch(conn, COUNT)
        # a caller that swallows it cannot commit: every later statement is refused
        with pytest.raises(InvalidRequestError):
            await direct.fetch(conn, COUNT)


@pytest.mark.mysql
async def test_a_held_write_that_fails_leaves_only_a_rollback(mysql_store: Store) -> None:
    store = mysql_store
    async with store.transaction() as conn:
        await direct.insert_rows(conn, INSERT_QUOTE, [quote("A/B")])
    with pytest.raises(InvalidRequestError, match="can only roll back"):
        await swallow_a_held_writes_error(store)
    assert await stored(store) == []
    async with store.transaction() as conn:  # the pool's connection is usable again
        await direct.later_rows(conn, INSERT_OUTBOX, events(1))
    assert len(await stored(store)) == 1


@pytest.mark.mysql
async def test_an_own_statements_error_after_held_writes_leaves_the_transaction_usable(
    mysql_store: Store,
) -> None:
    """The held writes ran; the statement that carried them failed on its own: as when each
    went alone, a caller may handle that (here in a savepoint) and commit the rest."""
    await a_duplicate_handled_in_a_savepoint(mysql_store, direct.insert_rows)
    assert [r["event"] for r in await stored(mysql_store)] == ["e0", "e1"]


async def a_duplicate_handled_in_a_savepoint(store: Store, write: Any) -> None:
    """Held events around a duplicate key that `write` meets inside a savepoint, handled."""
    async with store.transaction() as conn:
        await direct.insert_rows(conn, INSERT_QUOTE, [quote("A/B")])
    async with store.transaction() as conn:
        await direct.later_rows(conn, INSERT_OUTBOX, events(1))
        with pytest.raises(IntegrityError):
            async with conn.begin_nested():
                await write(conn, INSERT_QUOTE, [quote("A/B")])
        await direct.later_rows(conn, INSERT_OUTBOX, events(1, 1))


async def hold_then_fail(store: Store) -> None:
    async with store.transaction() as conn:
        await direct.later_rows(conn, INSERT_OUTBOX, events(2))
        raise RuntimeError("changed our mind")


async def test_a_rollback_drops_the_held_writes(store: Store) -> None:
    with pytest.raises(RuntimeError):
        await hold_then_fail(store)
    async with store.transaction() as conn:  # likely the same pooled connection
        assert await direct.fetch(conn, COUNT) == [{"n": 0}]
        await direct.later_rows(conn, INSERT_OUTBOX, events(1, 5))
    assert [r["event"] for r in await stored(store)] == ["e5"]


@pytest.mark.mysql
async def test_held_writes_past_the_size_cap_go_in_several_round_trips(
    mysql_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(direct, "HELD_CHARS", 3000)
    sent: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    with mysql_store.watching_statements(listener):
        async with mysql_store.transaction() as conn:
            for n in range(40):
                await direct.later_rows(conn, INSERT_OUTBOX, events(1, n))
            await direct.later_rows(conn, INSERT_OUTBOX, events(30, 100))  # alone: too long
    names = [r["event"] for r in await stored(mysql_store)]
    assert names == [f"e{n}" for n in range(40)] + [f"e{n}" for n in range(100, 130)]
    assert len(sent) == 41  # listeners still see every statement


@pytest.mark.mysql
async def test_a_cancelled_round_trip_with_held_writes_leaves_a_usable_pool(
    mysql_store: Store,
) -> None:
    store = mysql_store

    async def held_then_slow() -> None:
        async with store.transaction() as conn:
            await direct.later_rows(conn, INSERT_OUTBOX, events(1))
            await direct.fetch(conn, SLEEP)

    task = asyncio.create_task(held_then_slow())
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await stored(store) == []
    async with store.transaction() as conn:
        await direct.later_rows(conn, INSERT_OUTBOX, events(1, 1))
    assert [r["event"] for r in await stored(store)] == ["e1"]


@pytest.mark.mysql
async def test_inside_a_savepoint_a_write_is_not_held(mysql_store: Store) -> None:
    """A caller may handle its own write's error in a savepoint and go on: there the write goes
    at once, so its error is its own and the transaction stays usable."""
    await a_duplicate_handled_in_a_savepoint(mysql_store, direct.later_rows)
    assert [r["event"] for r in await stored(mysql_store)] == ["e0", "e1"]


@pytest.mark.mysql
async def test_a_held_insert_too_long_to_share_a_round_trip_is_split_by_the_driver(
    mysql_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(direct, "HELD_CHARS", 2000)
    async with mysql_store.transaction() as conn:
        await direct.later_rows(conn, INSERT_OUTBOX, events(1))
        await direct.later_rows(conn, INSERT_OUTBOX, events(200, 1))  # ~40 KB: not held
    assert [r["event"] for r in await stored(mysql_store)] == [f"e{n}" for n in range(201)]


async def session_of(conn: Any) -> int:
    return int((await conn.execute(text("SELECT CONNECTION_ID()"))).scalar_one())


@pytest.mark.mysql
async def test_a_check_that_fails_at_the_commit_rolls_back_on_the_same_connection(
    mysql_store: Store,
) -> None:
    """A refused row count found when the held writes go before the commit is an ordinary
    rollback: the connection goes back to the pool (not dropped), nothing is kept of it."""
    store = mysql_store
    async with store.transaction() as conn:
        before = await session_of(conn)
    with pytest.raises(WrongCount):
        await guarded_update_at_the_commit(store)
    async with store.transaction() as conn:
        assert await session_of(conn) == before
        assert await direct.fetch(conn, COUNT) == [{"n": 0}]


async def guarded_update_at_the_commit(store: Store) -> None:
    async with store.transaction() as conn:
        await direct.later_rows(conn, INSERT_OUTBOX, events(1))
        await direct.later(conn, SET_EVENT, {"b_event": "nope", "event": "x"}, check=exactly(1))


@pytest.mark.mysql
async def test_a_statement_that_cannot_be_encoded_is_its_own_error_and_the_held_stay(
    mysql_store: Store,
) -> None:
    """Nothing was sent (the query could not be encoded): the fault is the carrying
    statement's, the transaction stays usable and the held writes still reach the commit."""
    store = mysql_store
    async with store.transaction() as conn:
        await direct.later_rows(conn, INSERT_OUTBOX, events(1))
        with pytest.raises(StatementError):
            await direct.fetch(conn, NAMES_OF, {"b_event": "bad \ud800"})
        assert [r["event"] for r in await direct.fetch(conn, NAMES)] == ["e0"]
    assert [r["event"] for r in await stored(store)] == ["e0"]


@pytest.mark.mysql
async def test_held_writes_and_the_commit_share_one_round_trip(
    mysql_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction ending with held writes that wait on no check sends them with its COMMIT:
    one round trip, one COMMIT reaches the server (SQLAlchemy's own sends nothing more), the
    rows are there. With a check held, or a write that fails, the commit is SQLAlchemy's as
    before."""
    store = mysql_store
    trips: list[list[str]] = []
    real = direct._exchange

    async def exchange(sync: Any, parts: list[Any], *, many: bool = False) -> Any:
        trips.append([p.sql.split()[0] for p in parts])
        return await real(sync, parts, many=many)

    monkeypatch.setattr(direct, "_exchange", exchange)
    async with store.transaction() as conn:  # the driver's own commit, counted from here on
        adapted = type((await conn.get_raw_connection()).dbapi_connection)
    commits: list[object] = []
    plain_commit = adapted.commit

    def commit(self: Any) -> Any:
        commits.append(self)
        return plain_commit(self)

    monkeypatch.setattr(adapted, "commit", commit)
    trips.clear()
    async with store.transaction() as conn:
        mine = (await conn.get_raw_connection()).dbapi_connection
        await direct.later_rows(conn, INSERT_OUTBOX, events(1, 1))
    # (the store's own background work may share the recorded round trips and commit on its
    # own connections: only this transaction's connection is counted)
    assert ["INSERT", "COMMIT"] in trips
    assert [c for c in commits if c is mine] == []  # SQLAlchemy's commit sent nothing more
    assert [r["event"] for r in await stored(store)] == ["e1"]
    trips.clear()
    async with store.transaction() as conn:  # a checked write: flushed, then committed
        mine = (await conn.get_raw_connection()).dbapi_connection
        await direct.later(conn, SET_EVENT, {"b_event": "e1", "event": "e2"}, check=exactly(1))
    assert ["UPDATE"] in trips
    assert not any("COMMIT" in trip for trip in trips)
    assert [c for c in commits if c is mine] == [mine]
    assert [r["event"] for r in await stored(store)] == ["e2"]

    async def failing() -> None:
        async with store.transaction() as conn:
            await direct.later_rows(conn, INSERT_QUOTE, [quote("A")])
            await direct.later_rows(conn, INSERT_OUTBOX, events(1, 3))
            await direct.later_rows(conn, INSERT_QUOTE, [quote("A")])

    with pytest.raises(IntegrityError):  # a failing write stops the round trip before COMMIT
        await failing()
    assert [r["event"] for r in await stored(store)] == ["e2"]
