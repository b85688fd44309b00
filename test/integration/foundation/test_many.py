"""`many.update_by_id` on MariaDB and SQLite: one UPDATE for many rows, each with its own values,
against the same rows written one by one; its statements are built at most twice per shape."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, insert, select

from apps.oms.store import many
from apps.oms.store.store import Store
from apps.oms.store.tables import Id
from apps.oms.store.types import Money, UtcDateTime

pytestmark = pytest.mark.mysql

T0 = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = ("status", "qty", "payload", "at", "epoch")


def _table(name: str) -> Table:
    return Table(
        name,
        MetaData(),
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("status", String(16), nullable=False),
        Column("qty", Money, nullable=True),
        Column("payload", JSON, nullable=True),
        Column("at", UtcDateTime, nullable=True),
        Column("epoch", Integer, nullable=False),
    )


@pytest.fixture
async def table_store(store_url: str, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Store, Table]]:
    table = _table(f"t_many_{abs(hash(request.node.nodeid)) % 10**8}")
    store = Store.from_url(store_url)
    async with store.engine.begin() as conn:
        await conn.run_sync(table.drop, checkfirst=True)
        await conn.run_sync(table.create)
    try:
        yield store, table
    finally:
        async with store.engine.begin() as conn:
            await conn.run_sync(table.drop, checkfirst=True)
        await store.close()


def _value(rng: random.Random, name: str) -> Any:
    if name == "status":
        return rng.choice(["a", "b", "running"])
    if name == "qty":
        return rng.choice([None, Decimal("0.000000000000000001"), Decimal("123456789.5"),
                           Decimal(rng.randint(0, 10**6)) / 1000])  # fmt: skip
    if name == "payload":
        return rng.choice([None, {"k": rng.randint(0, 3)}, [1, "x"], {"nested": {"d": "1.5"}}])
    if name == "at":
        return rng.choice([None, T0 + timedelta(microseconds=rng.randint(0, 10**9))])
    return rng.randint(0, 3)


async def _rows(store: Store, table: Table) -> list[dict[str, Any]]:
    async with store.read() as conn:
        found = (await conn.execute(select(table).order_by(table.c.id))).mappings().all()
    return [dict(r) for r in found]


async def test_update_by_id_writes_what_row_by_row_updates_write(
    table_store: tuple[Store, Table],
) -> None:
    store, table = table_store
    rng = random.Random(7)
    start = [{name: _value(rng, name) for name in COLUMNS} for _ in range(12)]
    async with store.transaction() as conn:
        await conn.execute(insert(table), start)
    expected = await _rows(store, table)
    ids = [r["id"] for r in expected]
    for round_ in range(40):
        chosen = rng.sample(ids, rng.randint(1, len(ids)))
        shared = {name: _value(rng, name) for name in COLUMNS if rng.random() < 0.3}
        changes = {
            i: {**{n: _value(rng, n) for n in rng.sample(COLUMNS, rng.randint(1, 3))}, **shared}
            for i in chosen
        }
        # a guard on one column's value for all, and on one per-row column (some rows fail it)
        status = rng.choice([None, "a", "b", "running"])
        epochs = None
        if rng.random() < 0.5:
            by_id = {r["id"]: r["epoch"] for r in expected}
            epochs = {i: by_id[i] if rng.random() < 0.8 else by_id[i] + 1 for i in chosen}
        async with store.transaction() as conn:
            matched = await many.update_by_id(
                conn, table, changes,
                where_equal=None if status is None else {"status": status},
                where_each=None if epochs is None else {"epoch": epochs},
            )  # fmt: skip
        hits = 0
        for row in expected:
            if row["id"] not in changes:
                continue
            if status is not None and row["status"] != status:
                continue
            if epochs is not None and row["epoch"] != epochs[row["id"]]:
                continue
            row.update(changes[row["id"]])
            hits += 1
        assert matched == hits, f"round {round_}"
        assert await _rows(store, table) == expected, f"round {round_}"


async def test_one_statement_per_shape(table_store: tuple[Store, Table]) -> None:
    """Rows of the same count setting the same columns reuse one statement object (compiled and
    keyed once by SQLAlchemy); the values of another call are its own. Rows that happen to
    share values differently from the shape's first call take one general statement, so a
    shape has at most two statements however its values coincide."""
    store, table = table_store
    async with store.transaction() as conn:
        await conn.execute(insert(table), [{"status": "a", "epoch": 0} for _ in range(3)])
    ids = [r["id"] for r in await _rows(store, table)]
    many._VARIANTS.clear()

    def built() -> int:
        return sum(1 + (v.general is not None) for v in many._VARIANTS.values())

    async with store.transaction() as conn:
        await many.update_by_id(conn, table, {i: {"status": f"s{i}", "epoch": i} for i in ids})
        await many.update_by_id(conn, table, {i: {"status": f"t{i}", "epoch": 2 * i} for i in ids})
    assert (len(many._VARIANTS), built()) == (1, 1)
    assert [(r["status"], r["epoch"]) for r in await _rows(store, table)] == [
        (f"t{i}", 2 * i) for i in ids
    ]
    # one value for all rows in a column, by chance: the shape's general statement, once
    async with store.transaction() as conn:
        await many.update_by_id(conn, table, {i: {"status": "z", "epoch": i} for i in ids})
        await many.update_by_id(conn, table, {i: {"status": f"y{i}", "epoch": 7} for i in ids})
        await many.update_by_id(conn, table, {i: {"status": "x", "epoch": 5} for i in ids})
    assert (len(many._VARIANTS), built()) == (1, 2)
    assert [(r["status"], r["epoch"]) for r in await _rows(store, table)] == [("x", 5)] * 3
    # a shape whose first call shares a value binds it once, and still writes other calls right
    many._VARIANTS.clear()
    async with store.transaction() as conn:
        await many.update_by_id(conn, table, {i: {"status": "same", "epoch": i} for i in ids})
        # columns in name order: epoch per row, status one for all
        assert next(iter(many._VARIANTS.values())).first == (False, True)
        await many.update_by_id(conn, table, {i: {"status": f"u{i}", "epoch": i} for i in ids})
    assert built() == 2
    assert [(r["status"], r["epoch"]) for r in await _rows(store, table)] == [
        (f"u{i}", i) for i in ids
    ]


async def test_rows_setting_different_columns_share_few_shapes(
    table_store: tuple[Store, Table],
) -> None:
    """A batch mixing rows that set different columns, in any order by id and of any count,
    is written as one statement per set of columns, with counts padded to powers of two: the
    shapes stay few however the kinds interleave, and every row gets its own values."""
    store, table = table_store
    async with store.transaction() as conn:
        await conn.execute(insert(table), [{"status": "a", "epoch": 0} for _ in range(40)])
    rows = await _rows(store, table)
    ids = [r["id"] for r in rows]
    rng = random.Random(3)
    many._VARIANTS.clear()
    for round_ in range(30):
        chosen = sorted(rng.sample(ids, rng.randint(1, len(ids))))
        changes: dict[int, dict[str, Any]] = {}
        for i in chosen:  # two kinds of row, interleaved at random
            if rng.random() < 0.5:
                changes[i] = {"status": f"r{round_}", "epoch": i + round_}
            else:
                changes[i] = {"status": f"q{round_}", "qty": Decimal(i) / 8, "epoch": round_}
        async with store.transaction() as conn:
            assert await many.update_by_id(conn, table, changes) == len(chosen)
        for row in rows:
            row.update(changes.get(row["id"], {}))
        assert await _rows(store, table) == rows, f"round {round_}"
    # two kinds × counts 1, 2 and 4…64 in powers of two: at most 2 × 7 shapes, not one per
    # pattern of which rows set what (30 random rounds would give about 30)
    assert len(many._VARIANTS) <= 14


async def test_held_updates_check_the_rows_matched_by_all_their_statements(
    table_store: tuple[Store, Table],
) -> None:
    """`update_by_id_later` with rows of several kinds: its check is told once, the rows all of
    its statements matched (here guarded by each row's epoch: one row fails its guard)."""
    store, table = table_store
    async with store.transaction() as conn:
        await conn.execute(insert(table), [{"status": "a", "epoch": 1} for _ in range(5)])
    ids = [r["id"] for r in await _rows(store, table)]
    told: list[int] = []
    changes: dict[int, dict[str, Any]] = {
        i: ({"status": "x"} if k % 2 else {"status": "y", "qty": Decimal("1.5")})
        for k, i in enumerate(ids)}  # fmt: skip
    epochs = dict.fromkeys(ids, 1) | {ids[3]: 2}
    async with store.transaction() as conn:
        await many.update_by_id_later(conn, table, changes, where_each={"epoch": epochs},
                                      check=told.append)  # fmt: skip
        await conn.execute(select(table.c.id).limit(1))  # the held writes go with this one
    assert told == [4]
    found = {r["id"]: (r["status"], r["qty"]) for r in await _rows(store, table)}
    assert found[ids[3]] == ("a", None)
    assert found[ids[0]] == ("y", Decimal("1.5"))
    assert found[ids[1]] == ("x", None)
