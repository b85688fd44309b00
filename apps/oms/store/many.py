"""Many rows in one statement.

`update_by_id`: one UPDATE for many rows that each get their own values (a batch's order
updates, its commands' finishes): every column that any row changes becomes
`CASE id WHEN <id> THEN <value> ... ELSE <column> END`, over `WHERE id IN (...)`. On MySQL an
`executemany` of an UPDATE is one round trip per row; this is one for all of them.

`insert_returning_ids`: rows inserted in one `INSERT … RETURNING id`, their auto-increment ids
back in row order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Insert, Table, Update, case, insert, literal, update
from sqlalchemy.ext.asyncio import AsyncConnection


def update_by_id(
    table: Table, changes: Mapping[int, Mapping[str, Any]], *where: ColumnElement[bool]
) -> Update:
    """The UPDATE that writes `changes` (row id -> column -> value) to `table`, where `where`
    also holds; values are bound with their column's type (JSON, Decimal, datetime)."""
    ids = sorted(changes)
    columns = sorted({name for values in changes.values() for name in values})
    key = table.c.id
    sets: dict[str, ColumnElement[Any]] = {}
    for name in columns:
        column = table.c[name]
        whens = {i: literal(changes[i][name], column.type) for i in ids if name in changes[i]}
        if len(whens) == len(ids) and len({repr(changes[i][name]) for i in ids}) == 1:
            sets[name] = literal(changes[ids[0]][name], column.type)  # the same for every row
        else:
            sets[name] = case(whens, value=key, else_=column)
    return update(table).where(key.in_(ids), *where).values(sets)


_INSERTS: dict[str, tuple[Insert, Insert]] = {}  # table name -> (plain, returning ids in order)


def _inserts(table: Table) -> tuple[Insert, Insert]:
    """The table's two insert statements, built once (hot statements are constants)."""
    built = _INSERTS.get(table.name)
    if built is None:
        # the ids come back in the order of the rows given (SQLAlchemy's "insertmanyvalues")
        returning = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        built = _INSERTS[table.name] = (insert(table), returning)
    return built


async def insert_returning_ids(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Insert `rows` (each with the same keys) and return their ids in row order: one
    multi-row `INSERT … RETURNING` on MariaDB ≥ 10.5; SQLite cannot promise RETURNING's row
    order, so SQLAlchemy runs that statement row by row there; without RETURNING (MySQL 8),
    one insert per row."""
    plain, returning = _inserts(table)
    keys = {frozenset(row) for row in rows}
    if len(keys) > 1:  # SQLAlchemy would take the first row's keys for every row
        raise ValueError(f"rows for {table.name} differ in their keys: {sorted(map(sorted, keys))}")
    if len(rows) > 1 and conn.dialect.insert_returning:
        result = await conn.execute(returning, list(rows))
        return [int(r[0]) for r in result]
    ids = []
    for row in rows:
        inserted = await conn.execute(plain, row)
        ids.append(int(inserted.inserted_primary_key[0]))  # type: ignore[index]
    return ids
