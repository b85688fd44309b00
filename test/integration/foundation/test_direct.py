"""Direct writes (apps/oms/store/direct.py) against SQLAlchemy's own execution of the same
statements, on both MySQL drivers and on SQLite: the same rows stored (JSON, money, times,
booleans and their defaults), the same row counts, multi-row inserts in order, the same errors
(a duplicate key, a bad money value, a lost connection that invalidates the pool), and
statement listeners seeing each statement."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import bindparam, event, func, insert, select, text, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from apps.oms.store import direct
from apps.oms.store.store import Store, is_store_outage
from apps.oms.store.tables import accounts, market_quotes, outbox

from ...conftest import kill_mysql_sessions

STAMP = datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=UTC)
EXACT = Decimal("123456789.123456789012345678")
INSERT_OUTBOX = insert(outbox)
INSERT_QUOTE = insert(market_quotes)
INSERT_ACCOUNT = insert(accounts)
SET_PAYLOAD = (
    update(outbox)
    .where(outbox.c.id == bindparam("b_id"), outbox.c.event == "e1")
    .values(payload=bindparam("payload"), created_at=bindparam("created_at"))
)
BY_IDS = select(outbox).where(outbox.c.id.in_(bindparam("b_ids", expanding=True))).order_by(
    outbox.c.id)
LABELED = select(market_quotes.c.venue, market_quotes.c.bid.label("best_bid"),
                 market_quotes.c.quoted_at.label("at")).where(
    market_quotes.c.venue == bindparam("b_venue"))  # fmt: skip
SLEEP = select(func.sleep(5).label("slept"))
QUOTE_IGNORE = insert(market_quotes).prefix_with("IGNORE", dialect="mysql").prefix_with(
    "OR IGNORE", dialect="sqlite")
QUOTE_UPSERT = mysql_insert(market_quotes)
QUOTE_UPSERT = QUOTE_UPSERT.on_duplicate_key_update(bid=QUOTE_UPSERT.inserted.bid)


def events(n: int, first: int = 0) -> list[dict[str, Any]]:
    return [
        {"account_id": None, "namespace": "system", "event": f"e{first + i}",
         "strategy_id": None if i % 2 else 7,
         "payload": {"qty": "0.1", "n": [i, "ü"], "q": 'a"b\\c'},
         "created_at": STAMP + timedelta(microseconds=i)}
        for i in range(n)
    ]  # fmt: skip


async def stored(store: Store) -> list[dict[str, Any]]:
    async with store.read() as conn:
        rows = (await conn.execute(select(outbox).order_by(outbox.c.id))).mappings()
        return [{k: v for k, v in r.items() if k != "id"} for r in rows]


async def test_direct_inserts_store_what_sqlalchemy_stores(store: Store) -> None:
    async with store.transaction() as conn:
        await conn.execute(INSERT_OUTBOX, events(3))
        await conn.execute(INSERT_OUTBOX, events(1, 3))
    expected = await stored(store)
    async with store.transaction() as conn:
        await conn.execute(text("DELETE FROM outbox"))
    async with store.transaction() as conn:
        assert direct.sends(conn, INSERT_OUTBOX, list(events(1)[0])) == (store.dialect == "mysql")
        await direct.insert_rows(conn, INSERT_OUTBOX, events(3))
        await direct.insert_rows(conn, INSERT_OUTBOX, events(1, 3))
        await direct.insert_rows(conn, INSERT_OUTBOX, [])
    assert await stored(store) == expected
    assert [r["event"] for r in expected] == ["e0", "e1", "e2", "e3"]  # in list order
    assert expected[0]["payload"] == {"qty": "0.1", "n": [0, "ü"], "q": 'a"b\\c'}
    assert expected[1]["created_at"] == STAMP + timedelta(microseconds=1)


async def test_money_booleans_and_column_defaults_bind_as_sqlalchemy_binds(store: Store) -> None:
    quote = {"venue": "v", "symbol": "X/Y", "bid": EXACT, "ask": -EXACT, "last": None,
             "quoted_at": STAMP}  # fmt: skip
    account = {"label": "a", "exchange_id": "paper", "position_mode": "hedge",
               "config": {"k": [1]}, "created_at": STAMP, "updated_at": STAMP}  # fmt: skip
    async with store.transaction() as conn:
        for statement, row in ((INSERT_QUOTE, quote), (INSERT_ACCOUNT, account)):
            assert direct.sends(conn, statement, list(row)) == (store.dialect == "mysql")
        await direct.insert_rows(conn, INSERT_QUOTE, [quote])
        await direct.insert_rows(conn, INSERT_ACCOUNT, [account])  # `_flag` defaults
        await conn.execute(INSERT_ACCOUNT, [{**account, "label": "b"}])
    async with store.read() as conn:
        got = (await conn.execute(select(market_quotes))).mappings().one()
        both = (await conn.execute(select(accounts).order_by(accounts.c.id))).mappings().all()
    assert (got["bid"], got["ask"], got["last"], got["quoted_at"]) == (EXACT, -EXACT, None, STAMP)
    mine, theirs = ({k: v for k, v in r.items() if k not in ("id", "label")} for r in both)
    assert mine == theirs
    with pytest.raises(StatementError, match="Money columns take Decimal"):
        async with store.transaction() as conn:
            await direct.insert_rows(conn, INSERT_QUOTE, [{**quote, "bid": 1.5}])


async def test_an_update_matches_rows_as_sqlalchemy_counts_them(store: Store) -> None:
    async with store.transaction() as conn:
        await direct.insert_rows(conn, INSERT_OUTBOX, events(3))
    async with store.read() as conn:
        first = (await conn.execute(select(outbox.c.id).order_by(outbox.c.id))).scalars().first()
    assert first is not None
    later = STAMP + timedelta(days=1)
    async with store.transaction() as conn:
        mysql = store.dialect == "mysql"
        assert direct.sends(conn, SET_PAYLOAD, ["b_id", "payload", "created_at"]) == mysql
        matched = await direct.execute(
            conn, SET_PAYLOAD, {"b_id": first + 1, "payload": {"x": 1}, "created_at": later})
        unchanged = await direct.execute(  # the same values again: still matched (found rows)
            conn, SET_PAYLOAD, {"b_id": first + 1, "payload": {"x": 1}, "created_at": later})
        missed = await direct.execute(  # the guard `event = 'e1'` fails for the first row
            conn, SET_PAYLOAD, {"b_id": first, "payload": {"x": 2}, "created_at": later})
    assert (matched, unchanged, missed) == (1, 1, 0)
    rows = await stored(store)
    assert rows[1]["payload"] == {"x": 1}
    assert rows[1]["created_at"] == later
    assert rows[0]["payload"] == events(1)[0]["payload"]


async def insert_then_repeat(store: Store, quote: dict[str, Any]) -> None:
    async with store.transaction() as conn:
        await direct.insert_rows(conn, INSERT_OUTBOX, events(2))
        await direct.insert_rows(conn, INSERT_QUOTE, [quote])


async def test_a_duplicate_key_is_sqlalchemys_integrity_error_and_rolls_back(store: Store) -> None:
    quote = {"venue": "v", "symbol": "D/U", "bid": EXACT, "quoted_at": STAMP}
    async with store.transaction() as conn:
        await direct.insert_rows(conn, INSERT_QUOTE, [quote])
    with pytest.raises(IntegrityError):
        await insert_then_repeat(store, quote)
    assert await stored(store) == []  # the unit rolled back as a whole
    async with store.transaction() as conn:  # and the pool's connection is usable
        await direct.insert_rows(conn, INSERT_OUTBOX, events(1))
    assert len(await stored(store)) == 1


@pytest.mark.mysql
async def test_an_upsert_and_a_big_insert(mysql_store: Store) -> None:
    store = mysql_store
    quote = {"venue": "v", "symbol": "U/P", "bid": EXACT, "quoted_at": STAMP}
    async with store.transaction() as conn:
        assert direct.sends(conn, QUOTE_UPSERT, list(quote))
        await direct.insert_rows(conn, QUOTE_UPSERT, [quote])
        await direct.insert_rows(conn, QUOTE_UPSERT, [{**quote, "bid": Decimal("2")}])
        await direct.insert_rows(conn, INSERT_OUTBOX, events(1500))
    async with store.read() as conn:
        bid = (await conn.execute(select(market_quotes.c.bid))).scalar_one()
        names = (await conn.execute(select(outbox.c.event).order_by(outbox.c.id))).scalars().all()
    assert bid == Decimal("2")
    assert names == [f"e{i}" for i in range(1500)]


async def test_an_ignored_duplicate_is_no_error_nor_a_warning(store: Store) -> None:
    """`INSERT IGNORE` of a key that exists: the server's warning is not fetched or raised
    (aiomysql's own cursor would warn; the suite turns warnings into errors)."""
    quote = {"venue": "v", "symbol": "I/G", "bid": EXACT, "quoted_at": STAMP}
    async with store.transaction() as conn:
        await direct.insert_rows(conn, QUOTE_IGNORE, [quote])
        await direct.insert_rows(conn, QUOTE_IGNORE, [{**quote, "bid": Decimal(1)}, quote])
        assert await direct.execute(conn, QUOTE_IGNORE, quote) == 0
    async with store.read() as conn:
        assert (await conn.execute(select(market_quotes.c.bid))).scalars().all() == [EXACT]


async def test_listeners_see_each_direct_statement(store: Store) -> None:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        seen.append((" ".join(sql.split()[:3]), params))

    with store.watching_statements(record):
        async with store.transaction() as conn:
            await direct.insert_rows(conn, INSERT_OUTBOX, events(2))
    inserts = [p for s, p in seen if s == "INSERT INTO outbox"]
    assert len(inserts) == 1  # one statement of both rows (the driver's executemany)
    assert len(inserts[0]) == 2


async def insert_events(store: Store) -> None:
    async with store.transaction() as conn:
        await direct.insert_rows(conn, INSERT_OUTBOX, events(1))


@pytest.mark.mysql
async def test_a_lost_connection_is_an_outage_and_the_pool_recovers(mysql_store: Store) -> None:
    store = mysql_store
    async with store.transaction() as conn:
        session = (await conn.execute(text("SELECT CONNECTION_ID()"))).scalar_one()
    kill_mysql_sessions(session)
    with pytest.raises(OperationalError) as raised:
        await insert_events(store)
    assert is_store_outage(raised.value)
    async with store.transaction() as conn:  # a fresh connection
        await direct.insert_rows(conn, INSERT_OUTBOX, events(1))
    assert len(await stored(store)) == 1


@pytest.mark.mysql
async def test_a_lost_connection_drops_the_pools_older_ones_and_tells_listeners(
    mysql_store: Store,
) -> None:
    """SQLAlchemy's own handling of a direct statement's disconnect: `handle_error` listeners
    are told (the store's other pool is marked stale by one), and every connection the pool
    held before it is dropped, so one killed session after another fails one unit, not two."""
    store = mysql_store
    told: list[bool] = []

    def listener(context: ExceptionContext) -> None:
        told.append(context.is_disconnect)

    event.listen(store.engine.sync_engine, "handle_error", listener)
    try:
        async with store.transaction() as first, store.transaction() as second:
            sessions = [(await conn.execute(text("SELECT CONNECTION_ID()"))).scalar_one()
                        for conn in (first, second)]  # fmt: skip
        kill_mysql_sessions(*sessions)
        with pytest.raises(OperationalError) as raised:
            await insert_events(store)
        assert raised.value.connection_invalidated
        assert told == [True]
        await insert_events(store)  # the other killed session is not handed out again
    finally:
        event.remove(store.engine.sync_engine, "handle_error", listener)
    assert len(await stored(store)) == 1


def test_plans_are_compiled_once_and_refuse_what_they_cannot_bind() -> None:
    from sqlalchemy.dialects import mysql

    dialect = mysql.dialect(paramstyle="format")
    keys = tuple(sorted(events(1)[0]))
    plan = direct.plan_of(INSERT_OUTBOX, keys, dialect)
    assert plan is not None
    assert plan is direct.plan_of(INSERT_OUTBOX, keys, dialect)
    assert plan.sql.count("%s") == len(keys) == len(plan.binds)
    assert plan.types == ()
    listed = direct.plan_of(BY_IDS, ("b_ids",), dialect)
    assert listed is not None
    assert listed.render({"b_ids": [3, 4]}) == (
        listed.sql.replace("__[POSTCOMPILE_b_ids]", "%s, %s"), [3, 4])
    assert listed.render({"b_ids": []}) is None  # SQLAlchemy renders an empty IN
    returning = direct.plan_of(insert(outbox).returning(outbox.c.id), keys, dialect)
    assert returning is not None
    assert returning.returning  # only `insert_returning` sends it
    assert returning.returned == ("id", "id")
    assert returning.values_group is not None
    literal = select(outbox).where(outbox.c.id == bindparam("x", literal_execute=True))
    assert direct.plan_of(literal, ("x",), dialect) is None


async def test_direct_reads_give_what_sqlalchemy_mappings_give(store: Store) -> None:
    account = {"label": "a", "exchange_id": "paper", "position_mode": "hedge", "is_live": True,
               "config": {"k": [1, "ü"]}, "created_at": STAMP, "updated_at": STAMP}  # fmt: skip
    quote = {"venue": "v", "symbol": "R/D", "bid": EXACT, "ask": None, "quoted_at": STAMP}
    async with store.transaction() as conn:
        await direct.insert_rows(conn, INSERT_OUTBOX, events(4))
        await direct.insert_rows(conn, INSERT_ACCOUNT, [account])
        await direct.insert_rows(conn, INSERT_QUOTE, [quote])
    async with store.read() as conn:
        ids = (await conn.execute(select(outbox.c.id).order_by(outbox.c.id))).scalars().all()
    wanted = {"b_ids": [ids[1], ids[3]]}
    statements = [(BY_IDS, wanted), (select(accounts), {}), (select(market_quotes), {}),
                  (LABELED, {"b_venue": "v"})]  # fmt: skip
    for statement, params in statements:
        async with store.read() as conn:  # MySQL: the autocommit pool
            assert direct.sends(conn, statement, list(params)) == (store.dialect == "mysql")
            mine = await direct.fetch(conn, statement, params)
            theirs = [dict(r) for r in (await conn.execute(statement, params)).mappings()]
        assert mine == theirs
        assert [{k: type(v) for k, v in r.items()} for r in mine] == [
            {k: type(v) for k, v in r.items()} for r in theirs]
        async with store.transaction() as conn:  # and inside a write transaction
            assert await direct.fetch(conn, statement, params) == theirs
    async with store.read() as conn:
        got = await direct.fetch(conn, BY_IDS, wanted)
        assert [r["event"] for r in got] == ["e1", "e3"]
        assert await direct.fetch(conn, BY_IDS, {"b_ids": []}) == []
        assert await direct.fetch_one(conn, LABELED, {"b_venue": "none"}) is None
        one = await direct.fetch_one(conn, LABELED, {"b_venue": "v"})
    assert one == {"venue": "v", "best_bid": EXACT, "at": STAMP}


async def test_a_multi_row_insert_returns_its_ids_in_row_order(store: Store) -> None:
    """`INSERT … RETURNING id` of several rows in one statement (MariaDB), the ids matched to
    the rows they belong to; elsewhere the caller lets SQLAlchemy run it (None)."""
    returning = insert(outbox).returning(outbox.c.id, sort_by_parameter_order=True)
    async with store.transaction() as conn:
        await direct.insert_rows(conn, INSERT_OUTBOX, events(2))  # ids do not start at 1
        got = await direct.insert_returning(conn, returning, events(5, 10))
        if store.dialect != "mysql":
            assert got is None
            return
        assert direct.sends(conn, returning, list(events(1)[0]))
    assert got is not None
    async with store.read() as conn:
        stored_ids = dict((await conn.execute(select(outbox.c.event, outbox.c.id))).all())
    assert [r["id"] for r in got] == [stored_ids[f"e{10 + i}"] for i in range(5)]
    assert [r["id"] for r in got] == sorted(r["id"] for r in got)


@pytest.mark.mysql
async def test_a_statement_cancelled_midway_leaves_a_usable_pool(mysql_store: Store) -> None:
    """Cancelled while the server runs the statement: the cancellation propagates (nothing
    swallows it), the connection, in an unknown protocol state, is dropped as SQLAlchemy drops
    it, and the next unit of work gets a fresh one."""
    store = mysql_store
    started = asyncio.Event()

    async def slow() -> None:
        async with store.transaction() as conn:
            assert direct.sends(conn, SLEEP, [])
            started.set()
            await direct.fetch(conn, SLEEP)

    task = asyncio.create_task(slow())
    await started.wait()
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await insert_events(store)
    assert len(await stored(store)) == 1
    async with store.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(outbox))).scalar() == 1


async def test_binding_follows_sqlalchemys_rules_for_keys_and_names(store: Store) -> None:
    """A `.values()` literal answers to a parameter of its column's name, as it does under
    SQLAlchemy; a value the statement binds itself is used when no parameter names it; rows
    that give their own ids, and tables without an auto-increment key, go to SQLAlchemy."""
    literal = update(outbox).where(outbox.c.id == bindparam("b_id")).values(event="lit")
    async with store.transaction() as conn:
        await direct.insert_rows(conn, INSERT_OUTBOX, events(2))
    async with store.read() as conn:
        first, second = (await conn.execute(select(outbox.c.id).order_by(outbox.c.id))).scalars()
    async with store.transaction() as conn:
        assert await direct.execute(conn, literal, {"b_id": first}) == 1
        assert await direct.execute(conn, literal, {"b_id": second, "event": "param"}) == 1
    assert [r["event"] for r in await stored(store)] == ["lit", "param"]
    returning = insert(outbox).returning(outbox.c.id, sort_by_parameter_order=True)
    own_ids = [{**row, "id": n} for row, n in zip(events(2, 5), (900, 800), strict=True)]
    async with store.transaction() as conn:
        assert await direct.insert_returning(conn, returning, own_ids) is None
        quote = {"venue": "k", "symbol": "N/A", "quoted_at": STAMP}
        with pytest.raises(ValueError, match="no auto-increment key"):
            await direct.insert_row(conn, INSERT_QUOTE, quote)  # it returns an id: not here
    with pytest.raises(StatementError, match="InvalidOperation"):
        async with store.transaction() as conn:
            await direct.insert_rows(conn, INSERT_QUOTE, [{**quote, "bid": Decimal("1e50")}])
