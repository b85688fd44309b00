"""Many rows in one statement.

`update_by_id`: one UPDATE for many rows that each get their own values (a batch's order
updates, its commands' finishes): every column that any row changes becomes
`CASE id WHEN <id> THEN <value> ... ELSE <column> END`, over `WHERE id IN (...)`. On MySQL an
`executemany` of an UPDATE is one round trip per row; this is one for all of them. Its
statement is built once per shape, its ids and values bound as parameters.

`insert_returning_ids`: rows inserted in one `INSERT … RETURNING id`, their auto-increment ids
back in row order."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Insert, Table, Update, bindparam, case, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store import direct


@dataclass(slots=True)
class _Variants:
    """A shape's statements: the one for its first call's pattern of shared values (`first`),
    and the general one (every column per row) once a call shares values differently."""

    first: tuple[bool, ...]
    statement: Update
    general: Update | None = None


#: statements of `update_by_id` by shape (its table, key column, rows' count, the columns its
#: rows set, its guards' columns): the first call's pattern of shared values, its statement,
#: and the shape's general statement once needed (`_statement_of`); bounded, and a steady load
#: uses a few dozen
_VARIANTS: OrderedDict[tuple[Any, ...], _Variants] = OrderedDict()
SHAPES_KEPT = 256
#: an UPDATE of this many rows or more is written for the next power of two of them (the last
#: row repeated): its shape then depends on the count's order of magnitude, not on the count
PADDED_FROM = 3


async def update_by_id(
    conn: AsyncConnection,
    table: Table,
    changes: Mapping[int, Mapping[str, Any]],
    *,
    where_equal: Mapping[str, Any] | None = None,
    where_each: Mapping[str, Mapping[int, Any]] | None = None,
    key: str = "id",
) -> int:
    """Write `changes` (row id -> column -> value) to `table`, only where every `where_equal`
    column equals its value and every `where_each` column equals the row's own value (row id ->
    value); returns the rows matched. Values are bound with their column's type (JSON,
    Decimal, datetime). `key`: the rows' identifying column (an integer key).

    One UPDATE per set of columns the rows set (`_updates_of`), each built at most twice per
    shape with bound parameters in place of the ids and values, so SQLAlchemy compiles it once
    and caches its key: building `CASE` branches of literals per call cost more than the rest
    of the statement."""
    matched = 0
    for statement, params in _updates_of(table, changes, where_equal, where_each, key):
        matched += await direct.execute(conn, statement, params)
    return matched


async def update_by_id_later(
    conn: AsyncConnection,
    table: Table,
    changes: Mapping[int, Mapping[str, Any]],
    *,
    where_equal: Mapping[str, Any] | None = None,
    where_each: Mapping[str, Mapping[int, Any]] | None = None,
    key: str = "id",
    check: direct.Check | None = None,
) -> None:
    """`update_by_id` held back until the transaction's next statement or commit
    (`direct.later`; its statements share that round trip); `check` gets the rows matched by
    all of them."""
    updates = _updates_of(table, changes, where_equal, where_each, key)
    total = None if check is None else _Total(check, len(updates))
    for statement, params in updates:
        await direct.later(conn, statement, params, check=total)


class _Total:
    """The rows matched by one call's statements, told to the caller's check once every one
    of them reported its own count."""

    def __init__(self, check: direct.Check, parts: int) -> None:
        self.check, self.left, self.matched = check, parts, 0

    def __call__(self, matched: int) -> None:
        self.matched += matched
        self.left -= 1
        if self.left == 0:
            self.check(self.matched)


def _updates_of(
    table: Table,
    changes: Mapping[int, Mapping[str, Any]],
    where_equal: Mapping[str, Any] | None,
    where_each: Mapping[str, Mapping[int, Any]] | None,
    key: str,
) -> list[tuple[Update, dict[str, Any]]]:
    """The UPDATEs writing `changes`: one per set of columns that rows set. A batch mixes rows
    that set different columns (a write-ahead's orders beside another account's filled ones,
    in any order by id): one statement for all of them had a shape per pattern of which rows
    set what, hundreds a minute at a steady load, each compiled anew."""
    kinds: dict[tuple[str, ...], dict[int, Mapping[str, Any]]] = {}
    for row_id in sorted(changes):
        values = changes[row_id]
        kinds.setdefault(tuple(sorted(values)), {})[row_id] = values
    return [_update_of(table, columns, rows, where_equal, where_each, key)
            for columns, rows in kinds.items()]  # fmt: skip


def _update_of(
    table: Table,
    columns: tuple[str, ...],
    changes: Mapping[int, Mapping[str, Any]],
    where_equal: Mapping[str, Any] | None,
    where_each: Mapping[str, Mapping[int, Any]] | None,
    key: str,
) -> tuple[Update, dict[str, Any]]:
    """One UPDATE of rows that each set every one of `columns`."""
    ids = sorted(changes)
    rows = [changes[i] for i in ids]
    if len(ids) >= PADDED_FROM:  # the last row again, up to the next power of two
        padding = (1 << (len(ids) - 1).bit_length()) - len(ids)
        ids += [ids[-1]] * padding
        rows += [rows[-1]] * padding
    equal = dict(where_equal or {})
    each = where_each or {}
    same = tuple(all(_same(values[name], rows[0][name]) for values in rows[1:])
                 for name in columns)  # fmt: skip
    base = (table, key, len(ids), columns, tuple(sorted(equal)), tuple(sorted(each)))
    statement, used = _statement_of(base, same, table, equal, each)
    params: dict[str, Any] = {f"i{k}": row_id for k, row_id in enumerate(ids)}
    for name, one in zip(columns, used, strict=True):
        if one:
            params[f"s_{name}"] = rows[0][name]
        else:
            params.update({f"v{k}_{name}": values[name] for k, values in enumerate(rows)})
    for name, value in equal.items():
        params[f"w_{name}"] = value
    for name, per_row in each.items():
        params.update({f"g{k}_{name}": per_row[row_id] for k, row_id in enumerate(ids)})
    return statement, params


def _statement_of(
    base: tuple[Any, ...],
    same: tuple[bool, ...],
    table: Table,
    equal: Mapping[str, Any],
    each: Mapping[str, Mapping[int, Any]],
) -> tuple[Update, tuple[bool, ...]]:
    """The statement for a shape and which of its columns bind one value for all rows. A
    shape's first call decides which columns share a value; a later call whose rows share
    values differently takes the shape's general statement (every column per row). So a shape
    is built at most twice: compiling a variant for every pattern of coinciding values (the
    same price or time in two rows of one batch, by chance) was about 6 % of a busy worker's
    CPU."""
    variants = _VARIANTS.get(base)
    if variants is None:
        variants = _VARIANTS[base] = _Variants(
            same, _update_of_shape(table, base, same, equal, each))
        if len(_VARIANTS) > SHAPES_KEPT:
            _VARIANTS.popitem(last=False)
    else:
        _VARIANTS.move_to_end(base)
    if same == variants.first:
        return variants.statement, same
    none = tuple(False for _ in same)
    if variants.general is None:
        variants.general = _update_of_shape(table, base, none, equal, each)
    return variants.general, none


def _same(a: Any, b: Any) -> bool:
    """One value for both rows: equal and of one type (1 and True, or Decimal("1") and
    Decimal("1.0"), are written differently)."""
    return type(a) is type(b) and a == b and repr(a) == repr(b)


def _update_of_shape(
    table: Table,
    base: tuple[Any, ...],
    same: tuple[bool, ...],
    equal: Mapping[str, Any],
    each: Mapping[str, Mapping[int, Any]],
) -> Update:
    """The UPDATE of `update_by_id` for one shape (`base`: the table, the key column's name,
    the rows' count, the columns every row sets): every column that rows set differently
    becomes `CASE id WHEN :i0 THEN :v0_col ... ELSE col END`, over `WHERE id IN (:i0, ...)`
    (parameter names: `i<k>` ids, `v<k>_<col>` values, `s_<col>` one value for all rows, `w_<col>`
    and `g<k>_<col>` guards; a column name never starts with a digit, so no two of them can be
    the same name). A repeated id (padding) repeats its row: the first branch wins, with the
    same value."""
    _, key_name, count, columns = base[:4]
    key: ColumnElement[Any] = table.c[key_name]
    ids = [bindparam(f"i{k}", type_=key.type) for k in range(count)]
    sets: dict[str, ColumnElement[Any]] = {}
    for name, one in zip(columns, same, strict=True):
        column = table.c[name]
        if one:
            sets[name] = bindparam(f"s_{name}", type_=column.type)
            continue
        whens = {ids[k]: bindparam(f"v{k}_{name}", type_=column.type) for k in range(count)}
        sets[name] = case(whens, value=key, else_=column)
    where: list[ColumnElement[bool]] = [key.in_(ids)]
    where += [table.c[name] == bindparam(f"w_{name}", type_=table.c[name].type)
              for name in sorted(equal)]  # fmt: skip
    for name in sorted(each):
        column = table.c[name]
        per_row = {ids[k]: bindparam(f"g{k}_{name}", type_=column.type) for k in range(count)}
        where.append(column == case(per_row, value=key))
    return update(table).where(*where).values(sets)


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
        found = await direct.insert_returning(conn, returning, rows)
        if found is not None:
            return [int(r["id"]) for r in found]
        result = await conn.execute(returning, list(rows))
        return [int(r[0]) for r in result]
    return [await direct.insert_row(conn, plain, row) for row in rows]
