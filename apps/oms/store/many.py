"""One UPDATE for many rows that each get their own values (a batch's order updates, its
commands' finishes): every column that any row changes becomes
`CASE id WHEN <id> THEN <value> ... ELSE <column> END`, over `WHERE id IN (...)`. On MySQL an
`executemany` of an UPDATE is one round trip per row; this is one for all of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Table, Update, case, literal, update


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
