"""One UPDATE for many rows that each get their own values (a batch's order updates, its
commands' finishes): every column that any row changes becomes
`CASE id WHEN <id> THEN <value> ... ELSE <column> END`, over `WHERE id IN (...)`. On MySQL an
`executemany` of an UPDATE is one round trip per row; this is one for all of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, Update, and_, case, literal, or_, update


def update_by_id(
    table: Table, changes: Mapping[int, Mapping[str, Any]], *where: ColumnElement[bool]
) -> Update:
    """The UPDATE that writes `changes` (row id -> column -> value) to `table`, where `where`
    also holds; values are bound with their column's type (JSON, Decimal, datetime)."""
    ids = sorted(changes)
    key = table.c.id
    sets = _sets(table, [changes[i] for i in ids],
                 lambda whens, column: case({ids[n]: v for n, v in whens}, value=key,
                                            else_=column))  # fmt: skip
    return update(table).where(key.in_(ids), *where).values(sets)


def update_by_key(
    table: Table,
    key: Sequence[str],
    changes: Mapping[tuple[Any, ...], Mapping[str, Any]],
    *where: ColumnElement[bool],
) -> Update:
    """`update_by_id` for a composite key (`key`: its column names; `changes` keyed by tuples
    of their values), e.g. the balances of several paper accounts. The key's columns are never
    set, and every CASE matches on them alone: MySQL assigns left to right, and a later CASE
    sees the columns set before it (a condition on one of those, e.g. a version, belongs in
    `where`)."""
    rows = sorted(changes)
    match = [and_(*(table.c[name] == literal(value, table.c[name].type)
                    for name, value in zip(key, row, strict=True))) for row in rows]  # fmt: skip
    values = [{k: v for k, v in changes[row].items() if k not in key} for row in rows]
    sets = _sets(table, values,
                 lambda whens, column: case(*((match[n], v) for n, v in whens), else_=column))
    return update(table).where(or_(*match), *where).values(sets)


def _sets(
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    choose: Callable[[list[tuple[int, Any]], ColumnElement[Any]], ColumnElement[Any]],
) -> dict[str, ColumnElement[Any]]:
    """Each column any row changes: one value for all when every row writes the same, else
    `choose([(row's index, its value) for the rows that write it], column)`, a CASE whose
    ELSE keeps the column."""
    sets: dict[str, ColumnElement[Any]] = {}
    for name in sorted({name for values in rows for name in values}):
        column = table.c[name]
        whens = [(n, literal(v[name], column.type)) for n, v in enumerate(rows) if name in v]
        if len(whens) == len(rows) and len({repr(v[name]) for v in rows}) == 1:
            sets[name] = whens[0][1]  # the same for every row
        else:
            sets[name] = choose(whens, column)
    return sets
