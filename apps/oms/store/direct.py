"""Hot statements sent on the driver's own cursor (MySQL/MariaDB), past SQLAlchemy's
per-statement execution (docs/architecture.md → Stores → Direct statements).

SQLAlchemy's execution of a statement that is already compiled and cached costs a third more
client CPU than sending it directly (a greenlet per call, an execution context, a cursor
result: a keyed SELECT 201 → 139 µs on asyncmy, a 6-row insert 253 → 176 µs;
`bench.statement_cost`, docs/benchmarks-history.md → Seventeenth round). The statements every command
runs (its inserts and row updates, the numbering of its events, the reads of the accept, the
group commit and the stream's tail) go through here instead:

- each statement is compiled once per parameter key set with SQLAlchemy's own compiler and
  dialect (`Plan`), so the SQL text is what `conn.execute` would send; an expanding `IN`
  list's placeholders are rendered once per list length;
- its parameters are bound with the type processors SQLAlchemy applies (JSON, `Money`,
  `UtcDateTime`, booleans: each type's `dialect_impl(dialect).bind_processor(dialect)`),
  scalar column defaults filled in as SQLAlchemy would;
- a SELECT's rows come back as dictionaries keyed as `RowMapping` keys them (the names the
  server reports, which are the names and labels SQLAlchemy rendered), each value through the
  result processor SQLAlchemy would pick for the driver's type (`result_processor`);
- it is sent with the driver's cursor (the class SQLAlchemy's adapter opens) on the connection
  the transaction already holds, under this module's own lock of that connection; several
  rows of an INSERT go to the driver's `executemany`, as SQLAlchemy sends them on MySQL (one
  multi-row statement).

What SQLAlchemy does around a statement is kept: `before_cursor_execute` listeners see it
(`Store.watching_statements`, tests that count or EXPLAIN statements), and a driver error, or a
cancellation in mid-statement, goes through SQLAlchemy's own error handling, reached through
its public execution (`_relay`: wrapped as `IntegrityError`, `OperationalError`…, a lost
connection invalidated, `handle_error` listeners told). A statement runs through `conn.execute`
as before on SQLite, outside a transaction (but on an autocommit connection), on a connection
SQLAlchemy has invalidated, with an empty `IN` list, or when it has parts this path does not
bind (literal-execute values, RETURNING, Python-side callable defaults, tuple parameters,
`text().columns()`). Only SQLAlchemy's public interfaces are used (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar, cast
from weakref import WeakKeyDictionary, WeakSet

from sqlalchemy import Column, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import AdaptedConnection, Connection, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import (
    BindParameter,
    CompoundSelect,
    Select,
    SelectBase,
    TextualSelect,
)
from sqlalchemy.types import TupleType, TypeEngine

#: plans kept (statements are module constants, or bounded families of shapes)
PLANS_KEPT = 1024
#: rows per multi-row INSERT … RETURNING (SQLAlchemy's `insertmanyvalues_page_size`)
RETURNING_ROWS = 1000
#: characters of held writes sent in one multi-statement query at most (far below MariaDB's
#: `max_allowed_packet`, 16 MiB by default); a write longer than this is sent on its own
HELD_CHARS = 1 << 20

Bind = Callable[[Any], Any] | None
Row = dict[str, Any]
P = ParamSpec("P")
T = TypeVar("T")
#: this module's lock of a DBAPI connection, in the pool's `info` for it (`_lock_of`)
_LOCK = "direct_lock"
#: execution option carrying a driver's error for SQLAlchemy to handle (`_relay`)
_RELAY = "direct_relayed_error"


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement compiled for one set of parameter keys: its SQL, where each positional
    parameter comes from and how it is bound, and (a SELECT) how its columns are read."""

    sql: str  # an expanding list's placeholder is `__[POSTCOMPILE_<name>]`
    names: tuple[str, ...]  # the (escaped) bind name of each placeholder, in order
    keys: tuple[str, ...]  # the parameter key of each placeholder
    binds: tuple[Bind, ...]  # SQLAlchemy's bind processor of each placeholder (each element)
    expanding: tuple[bool, ...]  # an `IN` list bound as one placeholder per element
    fixed: dict[str, Any]  # keys bound to a value in the statement itself or a column default
    types: tuple[TypeEngine[Any], ...]  # a SELECT's (or RETURNING's) column types, in order
    returning: bool  # an INSERT … RETURNING: only `insert_returning` sends it
    # the one column an INSERT … RETURNING returns: its parameter key and its row key
    returned: tuple[str, str] | None
    # an INSERT's SQL around its one VALUES group (head, group, tail) when every placeholder is
    # in that group: several rows are written by repeating the group (`insert_returning`)
    values_group: tuple[str, str, str] | None
    rendered: dict[tuple[int, ...], str] = field(default_factory=dict)  # by list lengths
    # by the driver's type codes: the row keys, and each column's result processor
    readers: dict[tuple[Any, ...], tuple[tuple[str, ...], tuple[Bind, ...]]] = field(
        default_factory=dict
    )

    def render(self, params: Mapping[str, Any]) -> tuple[str, list[Any]] | None:
        """The SQL and arguments for `params` (None: an empty `IN` list, SQLAlchemy renders)."""
        args: list[Any] = []
        lengths: list[int] = []
        fixed = self.fixed
        for key, bind, expands in zip(self.keys, self.binds, self.expanding, strict=True):
            value = params[key] if key in params else fixed[key]
            if not expands:
                args.append(value if bind is None else bind(value))
                continue
            values = list(value)
            if not values:
                return None
            lengths.append(len(values))
            args.extend(values if bind is None else [bind(v) for v in values])
        if not lengths:
            return self.sql, args
        return self._sql_for(tuple(lengths)), args

    def _sql_for(self, lengths: tuple[int, ...]) -> str:
        sql = self.rendered.get(lengths)
        if sql is None:
            sql = self.sql
            counts = iter(lengths)
            for name, expands in zip(self.names, self.expanding, strict=True):
                if expands:
                    sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join(["%s"] * next(counts)))
            if len(self.rendered) < 64:
                self.rendered[lengths] = sql
        return sql

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        """Each row's arguments (a statement without `IN` lists: `render` never declines)."""
        out = []
        for row in rows:
            rendered = self.render(row)
            assert rendered is not None  # noqa: S101 - no expanding parameter
            out.append(rendered[1])
        return out

    def read(self, dialect: Dialect, description: Any, found: Sequence[Sequence[Any]]) -> list[Row]:
        """The driver's rows as `RowMapping`s would give them (keys, values' Python types)."""
        coltypes = tuple(d[1] for d in description)
        known = self.readers.get(coltypes)
        if known is None:
            known = self._readers(dialect, description)
            if len(self.readers) < 64:
                self.readers[coltypes] = known
        columns, readers = known
        if not any(readers):
            return [dict(zip(columns, row, strict=True)) for row in found]
        return [{c: v if r is None else r(v)
                 for c, r, v in zip(columns, readers, row, strict=True)} for row in found]  # fmt: skip

    def _readers(
        self, dialect: Dialect, description: Any
    ) -> tuple[tuple[str, ...], tuple[Bind, ...]]:
        """The row keys (the names the server gives the columns: what SQLAlchemy rendered as
        each column's name or label, so what `RowMapping` keys by) and each column's result
        processor, as the column type's dialect implementation gives it for the driver's type."""
        columns = tuple(str(d[0]) for d in description)
        if len(columns) != len(self.types) or len(set(columns)) != len(columns):
            raise sa_exc.InvalidRequestError(
                f"direct statement: columns {columns} do not match the statement's {len(self.types)}"
            )
        readers = tuple(t.dialect_impl(dialect).result_processor(dialect, d[1])
                        for t, d in zip(self.types, description, strict=True))  # fmt: skip
        return columns, readers


class NotDirect(Exception):
    """The statement has a part this path does not bind: SQLAlchemy executes it."""


_PLANS: OrderedDict[
    tuple[int, tuple[str, ...], int], tuple[Executable, Dialect, Plan | None]
] = OrderedDict()


def plan_of(statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> Plan | None:
    """The statement's plan for these parameter keys (None: SQLAlchemy executes it), compiled
    once. Kept by the statement's and the dialect's identity (an engine's dialect carries its
    JSON codec, and MariaDB and MySQL 8 render an upsert differently), which the entry holds so
    that neither id is reused."""
    found = (id(statement), keys, id(dialect))
    entry = _PLANS.get(found)
    if entry is not None and entry[0] is statement and entry[1] is dialect:
        _PLANS.move_to_end(found)
        return entry[2]
    try:
        plan: Plan | None = _compile(statement, keys, dialect)
    except NotDirect:
        plan = None
    _PLANS[found] = (statement, dialect, plan)
    if len(_PLANS) > PLANS_KEPT:
        _PLANS.popitem(last=False)
    return plan


def _compile(statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> Plan:
    assert isinstance(statement, ClauseElement)  # noqa: S101 - Core statements are both
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if not isinstance(compiled, SQLCompiler) or not compiled.positional:
        raise NotDirect("not a positional SQL statement")
    if compiled.literal_execute_params:
        raise NotDirect("literal-execute parameters")
    expanding_params = {p for p in compiled.post_compile_params if p.expanding}
    if len(expanding_params) != len(compiled.post_compile_params):
        raise NotDirect("post-compile parameters that do not expand")
    fixed = _defaults(compiled)
    by_name = {name: param for param, name in compiled.bind_names.items()}
    names = tuple(compiled.positiontup or ())
    plan_keys: list[str] = []
    for name in names:
        param = by_name[name]
        # SQLAlchemy's `construct_params`: the parameter's key, else its bind name (what a
        # `.values(col=literal)` answers to), else the value bound in the statement itself
        key = param.key if param.key in keys or name not in keys else name
        if key not in keys and key not in fixed:
            if param.required or param.callable is not None:
                raise NotDirect(f"parameter {param.key} has no value")
            fixed[key] = param.value
        plan_keys.append(key)
    types, returned = _columns(compiled, statement)
    escaped = compiled.escaped_bind_names
    expanding = tuple(by_name[n] in expanding_params for n in names)
    binds = tuple(_bind(by_name[n], dialect) for n in names)
    return Plan(compiled.string, tuple(escaped.get(n, n) for n in names), tuple(plan_keys),
                binds, expanding, fixed, types, bool(compiled.effective_returning), returned,
                None if any(expanding) else _values_group(compiled.string, len(names)))  # fmt: skip


def _values_group(sql: str, placeholders: int) -> tuple[str, str, str] | None:
    """`sql` around its one VALUES group (head, group, tail), when every placeholder is in it."""
    head, found, rest = sql.partition(" VALUES (")
    group = "(" + ", ".join(["%s"] * placeholders) + ")"
    if not found or not ("(" + rest).startswith(group):
        return None
    tail = rest[len(group) - 1 :]
    if "%s" in tail or " VALUES (" in tail:
        return None
    return head + " VALUES ", group, tail


def _columns(
    compiled: SQLCompiler, statement: ClauseElement
) -> tuple[tuple[TypeEngine[Any], ...], tuple[str, str] | None]:
    """A SELECT's (or RETURNING's) column types, in column order (none for a write), and the
    one column a RETURNING returns (its parameter key and row key). The row keys themselves
    are the names the server gives the columns (`Plan.read`)."""
    if compiled.isinsert or compiled.isupdate or compiled.isdelete:
        returning = compiled.effective_returning or ()
        returned = None
        if len(returning) == 1 and isinstance(returning[0], Column):
            returned = (returning[0].key, returning[0].name)
        return tuple(c.type for c in returning), returned
    if isinstance(statement, TextualSelect):  # text().columns(): matched by name, not order
        raise NotDirect("columns not in statement order")
    if isinstance(statement, (Select, CompoundSelect)):
        return tuple(c.type for c in statement.selected_columns), None
    if isinstance(statement, SelectBase):
        raise NotDirect("a SELECT of another kind")
    return (), None


def _defaults(compiled: SQLCompiler) -> dict[str, Any]:
    """Scalar column defaults SQLAlchemy would fill in for columns left out (`_flag`'s)."""
    fixed: dict[str, Any] = {}
    for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
        default = column.default if column in compiled.insert_prefetch else column.onupdate
        if default is None or not getattr(default, "is_scalar", False):
            raise NotDirect(f"column {column.key} has a default computed per row")
        fixed[column.key] = default.arg  # type: ignore[attr-defined]
    return fixed


def _bind(param: BindParameter[Any], dialect: Dialect) -> Bind:
    """The bind processor SQLAlchemy applies to a placeholder (None: the value goes as it is):
    its type's, as the dialect implements the type."""
    if isinstance(param.type, TupleType):
        raise NotDirect(f"parameter {param.key} is a tuple")
    return param.type.dialect_impl(dialect).bind_processor(dialect)


class _Unhandled(Exception):
    """A round trip's failure, on its way to the caller's entry point (`_entry`), where
    SQLAlchemy handles it in a greenlet (`relay`)."""

    def __init__(
        self,
        error: BaseException,
        sql: str,
        args: Any,
        many: bool = False,
        checked: BaseException | None = None,
    ) -> None:
        super().__init__(error)
        self.error, self.sql, self.params, self.many, self.checked = error, sql, args, many, checked

    def relay(self, sync: Connection) -> None:
        """SQLAlchemy's handling of the error (`_relay`), then a failed check's error first."""
        try:
            _relay(sync, self.error, self.sql, self.params, self.many)
        except BaseException as handled:
            if self.checked is not None:
                raise self.checked from handled
            raise


def _entry(
    fn: Callable[Concatenate[AsyncConnection, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[AsyncConnection, P], Coroutine[Any, Any, T]]:
    """A public function of this module: a failed round trip is handled by SQLAlchemy in its
    greenlet (`AsyncConnection.run_sync`) before the error reaches the caller."""

    @functools.wraps(fn)
    async def run(conn: AsyncConnection, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(conn, *args, **kwargs)
        except _Unhandled as failed:
            await conn.run_sync(failed.relay)
            raise AssertionError("SQLAlchemy's handling raises") from failed.error

    return run


def _sync_of(conn: AsyncConnection) -> Connection | None:
    """The connection to send on directly, or None (SQLAlchemy executes)."""
    sync = conn.sync_connection
    if sync is None or sync.dialect.name != "mysql" or sync.invalidated or sync.closed:
        return None
    if sync.in_transaction():
        return sync
    # outside a transaction SQLAlchemy would begin one (and end it at close): let it, unless
    # the connection runs in autocommit (`Store.read()`'s pool), where there is none to begin
    driver: Any = sync.connection.driver_connection
    return sync if driver.get_autocommit() else None


def _route(
    conn: AsyncConnection, statement: Executable, keys: Iterable[str], *, returning: bool = False
) -> tuple[Connection, Plan] | None:
    """The connection and plan to send `statement` directly with these parameter keys, or
    None (SQLAlchemy executes). RETURNING plans only for `insert_returning`."""
    sync = _sync_of(conn)
    if sync is None:
        return None
    plan = plan_of(statement, tuple(sorted(keys)), sync.dialect)
    if plan is None or plan.returning != returning:
        return None
    return sync, plan


def sends(conn: AsyncConnection, statement: Executable, keys: Sequence[str]) -> bool:
    """Whether `statement` with these parameter keys goes directly on this connection now."""
    plain = _route(conn, statement, keys)
    routed = plain or _route(conn, statement, keys, returning=True)
    return routed is not None and (plain is not None or routed[1].values_group is not None)


@_entry
async def fetch(
    conn: AsyncConnection, statement: Executable, params: Mapping[str, Any] | None = None
) -> list[Row]:
    """`conn.execute(statement, params).mappings().all()` for a SELECT, as dictionaries."""
    values = params or {}
    routed = _route(conn, statement, values)
    rendered = None
    if routed is not None and routed[1].types:
        rendered = _bound(routed[1].render, values, routed[1].sql)
    if routed is None or rendered is None:
        return [dict(r) for r in (await conn.execute(statement, dict(values))).mappings()]
    sync, plan = routed
    return (await _send(sync, *rendered, read=plan))[2]


async def fetch_one(
    conn: AsyncConnection, statement: Executable, params: Mapping[str, Any] | None = None
) -> Row | None:
    """The first row of `fetch` (None: no row)."""
    found = await fetch(conn, statement, params)
    return found[0] if found else None


@_entry
async def execute(
    conn: AsyncConnection, statement: Executable, params: Mapping[str, Any] | None = None
) -> int:
    """`conn.execute(statement, params)` for a write; returns the rows it matched (MySQL's
    found rows, as `CursorResult.rowcount` gives them)."""
    values = params or {}
    routed = _route(conn, statement, values)
    rendered = None if routed is None else _bound(routed[1].render, values, routed[1].sql)
    if routed is None or rendered is None:
        return int((await conn.execute(statement, dict(values))).rowcount)
    return (await _send(routed[0], *rendered))[0]


@_entry
async def insert_row(conn: AsyncConnection, statement: Executable, row: Mapping[str, Any]) -> int:
    """`conn.execute(statement, row)` for an INSERT of one row; returns its auto-increment id
    (`inserted_primary_key`)."""
    table = getattr(statement, "table", None)
    if getattr(table, "autoincrement_column", None) is None:
        raise ValueError(f"{getattr(table, 'name', statement)} has no auto-increment key to return")
    routed = _route(conn, statement, row)
    rendered = None if routed is None else _bound(routed[1].render, row, routed[1].sql)
    if routed is None or rendered is None:
        inserted = (await conn.execute(statement, dict(row))).inserted_primary_key
        assert inserted is not None  # noqa: S101 - an INSERT's result
        return int(inserted[0])
    return (await _send(routed[0], *rendered))[1]


@_entry
async def insert_rows(
    conn: AsyncConnection, statement: Executable, rows: Sequence[Mapping[str, Any]]
) -> None:
    """`conn.execute(statement, rows)` for an INSERT of rows that share their keys. Several
    rows go to the driver's `executemany` as SQLAlchemy sends them on MySQL: the driver writes
    them as one multi-row `INSERT … VALUES (…), (…)` (split only past its statement size
    limit), rows in list order, their auto-increment ids too."""
    if not rows:
        return
    keys = set(rows[0])
    routed = _route(conn, statement, keys)
    if (
        routed is None
        or any(routed[1].expanding)
        or any(set(row) != keys for row in rows[1:])  # SQLAlchemy decides
    ):
        await conn.execute(statement, [dict(row) for row in rows])
        return
    sync, plan = routed
    if len(rows) == 1:
        await _send(sync, plan.sql, _bound(plan.rows, rows, plan.sql)[0])
    else:
        await _send(sync, plan.sql, _bound(plan.rows, rows, plan.sql), many=True)


@_entry
async def insert_returning(
    conn: AsyncConnection, statement: Executable, rows: Sequence[Mapping[str, Any]]
) -> list[Row] | None:
    """An `INSERT … RETURNING <autoincrement id>` of rows that share their keys, as one
    multi-row statement per `RETURNING_ROWS` rows, the returned rows in row order: sorted by
    that id, which the server assigns in VALUES order within a statement (what SQLAlchemy's
    "insertmanyvalues" does on MariaDB: an implicit sentinel, sorted on). None: the caller
    lets SQLAlchemy run it (SQLite, MySQL 8 without RETURNING, shapes this path does not
    write)."""
    if not rows:
        return []
    keys = set(rows[0])
    routed = _route(conn, statement, keys, returning=True)
    if routed is None:
        return None
    sync, plan = routed
    if plan.values_group is None or plan.returned is None:
        return None
    key, column = plan.returned
    if key in keys or any(set(row) != keys for row in rows[1:]):
        return None  # ids given by the rows themselves: SQLAlchemy pairs them
    head, group, tail = plan.values_group
    found: list[Row] = []
    for start in range(0, len(rows), RETURNING_ROWS):
        chunk = rows[start : start + RETURNING_ROWS]
        sql = head + ", ".join([group] * len(chunk)) + tail
        args = [a for row_args in _bound(plan.rows, chunk, sql) for a in row_args]
        got = (await _send(sync, sql, args, read=plan))[2]
        found += sorted(got, key=lambda r: r[column])
    return found

# -- held writes and shared round trips -------------------------------------------------------

Check = Callable[[int], None]  # given a held write's row count; raises when it is wrong


@dataclass(slots=True)
class _Part:
    """One statement of a round trip: with `args`, SQL with placeholders (sent as the driver
    sends it); without, already rendered. `read`: a SELECT's plan; `check`: a held write's."""

    sql: str
    args: list[Any] | None = None
    read: Plan | None = None
    check: Check | None = None
    held: bool = False  # a held write (its errors reach another statement's caller)


@dataclass(slots=True)
class _Held:
    """The writes one transaction holds back, rendered, until its next statement or commit."""

    parts: list[_Part] = field(default_factory=list)
    chars: int = 0
    # a held write failed (its error, as text: the exception's traceback would hold the
    # connection this is keyed by): the transaction only rolls back
    failed: str | None = None


_HELD: WeakKeyDictionary[Connection, _Held] = WeakKeyDictionary()


@_entry
async def later(
    conn: AsyncConnection,
    statement: Executable,
    params: Mapping[str, Any] | None = None,
    *,
    check: Check | None = None,
) -> None:
    """`execute` of a write whose result nobody reads but `check` (given its row count): held
    back and sent with the transaction's next statement, or before its commit, in one round
    trip (a multi-statement query). Runs at once where it cannot be held (SQLite, outside a
    transaction, autocommit, a statement SQLAlchemy executes)."""
    values = params or {}
    routed = _route(conn, statement, values)
    rendered = None if routed is None else _bound(routed[1].render, values, routed[1].sql)
    if routed is None or rendered is None or not _holds(routed[0]):
        found = await execute(conn, statement, values)
    elif await _hold(routed[0], rendered[0], rendered[1], check):
        return
    else:  # too long to share a round trip: alone, after what is held
        found = (await _send(routed[0], rendered[0], rendered[1]))[0]
    if check is not None:
        check(found)


@_entry
async def later_rows(
    conn: AsyncConnection, statement: Executable, rows: Sequence[Mapping[str, Any]]
) -> None:
    """`insert_rows`, held back as `later` holds a write: one multi-row INSERT."""
    if not rows:
        return
    keys = set(rows[0])
    routed = _route(conn, statement, keys)
    group = None if routed is None else routed[1].values_group
    if (
        routed is None
        or group is None
        or not _holds(routed[0])
        or len(rows) > RETURNING_ROWS
        or any(set(row) != keys for row in rows[1:])
    ):
        await insert_rows(conn, statement, rows)
        return
    sync, plan = routed
    head, values, tail = group
    sql = head + ", ".join([values] * len(rows)) + tail
    if not await _hold(sync, sql, [a for row in _bound(plan.rows, rows, sql) for a in row], None):
        await insert_rows(conn, statement, rows)  # too long: the driver splits it by size


@_entry
async def fetch_each(
    conn: AsyncConnection, statements: Sequence[tuple[Executable, Mapping[str, Any]]]
) -> list[list[Row]]:
    """`fetch` of each SELECT, all in one round trip (with the held writes before them)."""
    if not statements:
        return []
    routes = [(_route(conn, st, params), params) for st, params in statements]
    parts: list[_Part] = []
    for routed, params in routes:
        rendered = None
        if routed is not None and routed[1].types:
            rendered = _bound(routed[1].render, params, routed[1].sql)
        if routed is None or rendered is None:  # SQLAlchemy runs one of them: each alone
            return [await fetch(conn, st, params) for st, params in statements]
        parts.append(_Part(rendered[0], rendered[1], routed[1]))
    sync = routes[0][0][0]  # type: ignore[index]
    for part in parts:
        _tell(sync, part.sql, part.args, False)
    if len(parts) > 1 or sync in _HELD:  # rendered into one query, before the held are taken
        parts = [await _rendered(sync, part) for part in parts]
    return [rows for _count, _id, rows in await _exchange(sync, _take(sync) + parts)][-len(parts):]


@_entry
async def flush(conn: AsyncConnection) -> None:
    """Send the writes the transaction holds now (`Store.transaction` does, before commit)."""
    sync = conn.sync_connection
    if sync is not None and _HELD.get(sync) is not None:
        await _flush(sync)


#: pooled connections whose transaction `flush_and_commit` committed: SQLAlchemy's own commit
#: that follows sends nothing (`_do_commit`)
_COMMITTED: WeakSet[Any] = WeakSet()


@_entry
async def flush_and_commit(conn: AsyncConnection) -> None:
    """The end of a transaction about to commit: its held writes and its COMMIT in one round
    trip, where nothing held waits on a check (a check sees its rows matched only once the
    results are in, when a COMMIT sent with them would already have run); else the held
    writes alone, and SQLAlchemy commits as usual. A write that fails stops the round trip
    before the COMMIT (the server runs a multi-statement query up to its first error), and a
    COMMIT that fails (a deadlock or certification failure there) raises as the commit would:
    either way the transaction rolls back."""
    sync = conn.sync_connection
    held = None if sync is None else _HELD.get(sync)
    if (sync is None or held is None or not held.parts or held.failed is not None
            or any(p.check is not None for p in held.parts) or not _holds(sync)):  # fmt: skip
        await flush(conn)
        return
    parts = _take(sync)
    await _exchange(sync, [*parts, _Part("COMMIT", held=True)])
    _COMMITTED.add(sync.connection)


def watch(engine: AsyncEngine) -> None:
    """Keep held writes in order on `engine`'s connections: a statement SQLAlchemy executes,
    and a commit, first send them; a rollback drops them. A transaction committed by
    `flush_and_commit` is not committed again."""
    target = engine.sync_engine
    event.listen(target, "before_cursor_execute", _before_other)
    event.listen(target, "commit", _before_commit)
    event.listen(target, "rollback", _drop)
    dialect = target.dialect
    if getattr(dialect, _WATCHED, False):
        return
    plain = dialect.do_commit

    def do_commit(dbapi_connection: Any) -> None:
        if dbapi_connection in _COMMITTED:
            _COMMITTED.discard(dbapi_connection)
            return
        plain(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    setattr(dialect, _WATCHED, True)


_WATCHED = "direct_commit_watched"


def _holds(sync: Connection) -> bool:
    """Whether a write may wait here: inside a transaction, but not inside a savepoint (a
    caller may handle its own write's error there and go on: it must surface at once)."""
    driver: Any = sync.connection.driver_connection
    return (sync.in_transaction() and not sync.in_nested_transaction()
            and not driver.get_autocommit())  # fmt: skip


async def _hold(sync: Connection, sql: str, args: list[Any], check: Check | None) -> bool:
    """Hold a write (True), or leave it to the caller when it is too long to share a round
    trip (False)."""
    held = _held_of(sync)
    if held.failed is not None:
        raise _refused(held.failed)
    driver: Any = sync.connection.driver_connection
    try:
        text = _literal(driver, sql, args)
    except Exception as exc:  # a value the driver cannot write, as its execute reports it
        raise _Unhandled(exc, sql, args) from exc
    if len(text) > HELD_CHARS:
        return False
    _tell(sync, sql, args, False)
    if held.chars + len(text) > HELD_CHARS:
        await _flush(sync)
    held.parts.append(_Part(text, check=check, held=True))
    held.chars += len(text) + 1
    return True


async def _flush(sync: Connection) -> None:
    parts = _take(sync)
    if parts:
        await _exchange(sync, parts)


def _literal(driver: Any, sql: str, args: list[Any]) -> str:
    """The statement as the driver's `execute` sends it (its own escaping of each value)."""
    return str(sql % tuple(map(driver.literal, args)))


def _take(sync: Connection) -> list[_Part]:
    """The held writes, handed over to be sent; refused after a failed one."""
    held = _HELD.get(sync)
    if held is None:
        return []
    if held.failed is not None:
        raise _refused(held.failed)
    parts, held.parts, held.chars = held.parts, [], 0
    return parts


def _held_of(sync: Connection) -> _Held:
    held = _HELD.get(sync)
    if held is None:
        held = _HELD[sync] = _Held()
    return held


def _poison(sync: Connection, exc: BaseException) -> None:
    held = _held_of(sync)
    held.parts, held.chars, held.failed = [], 0, f"{type(exc).__name__}: {exc}"


def _refused(failed: str) -> sa_exc.InvalidRequestError:
    return sa_exc.InvalidRequestError(
        f"a held write of this transaction failed, so it can only roll back ({failed})"
    )


def _before_other(
    sync: Connection, cursor: Any, _sql: str, _params: Any, context: Any, _many: bool
) -> None:
    """A statement SQLAlchemy executes (ours come without a cursor, and its report of our
    error is not sent) goes after the held writes."""
    if (
        cursor is not None
        and _HELD.get(sync) is not None
        and _RELAY not in context.execution_options
    ):
        _flush_here(sync)


def _flush_here(sync: Connection) -> None:
    """Send the held writes from a listener (in SQLAlchemy's greenlet: the adapted connection's
    `run_async` awaits through it), an error handled by SQLAlchemy there."""
    adapted = cast(AdaptedConnection, sync.connection.dbapi_connection)
    try:
        adapted.run_async(lambda _driver: _flush(sync))
    except _Unhandled as failed:
        failed.relay(sync)


def _before_commit(sync: Connection) -> None:
    """The held writes go before COMMIT; if they cannot, the connection is dropped (the server
    rolls back) rather than returned to the pool inside an open transaction."""
    if _HELD.get(sync) is None:
        return
    try:
        _flush_here(sync)
    except BaseException as exc:
        _HELD.pop(sync, None)  # no rollback event follows an invalidation
        sync.invalidate(exc if isinstance(exc, Exception) else None)
        raise


def _drop(sync: Connection) -> None:
    _HELD.pop(sync, None)


def _bound(bind: Callable[[Any], Any], value: Any, sql: str) -> Any:
    """Bind processors' own errors (a float for a `Money` column) as SQLAlchemy reports them."""
    try:
        return bind(value)
    except Exception as exc:  # what SQLAlchemy wraps (TypeError, decimal.InvalidOperation…)
        raise sa_exc.StatementError(f"({type(exc).__name__}) {exc}", sql, None, exc) from exc


async def _send(
    sync: Connection, sql: str, args: list[Any], *, many: bool = False, read: Plan | None = None
) -> tuple[int, int, list[Row]]:
    """Rows matched, the last insert id, and (`read`: a SELECT's plan) the rows. The writes
    the transaction holds (`later`) go first, in the same round trip."""
    part = _Part(sql, args, read)
    pending = _HELD.get(sync)
    if pending is not None and pending.parts and pending.failed is None:
        # the driver writes its own multi-row statement, and a long one goes alone: the held
        # first; else rendered here, before the held are taken (its own value's error is its own)
        if many or pending.chars + len(sql) > HELD_CHARS:
            await _flush(sync)
        else:
            part = await _rendered(sync, part)
    held = _take(sync)
    _tell(sync, sql, args, many)
    return (await _exchange(sync, [*held, part], many=many))[-1]


async def _rendered(sync: Connection, part: _Part) -> _Part:
    """`part` rendered as the driver's `execute` would send it; a value it cannot write is
    this statement's error, as its execute reports it."""
    if part.args is None:
        return part
    driver: Any = sync.connection.driver_connection
    try:
        text = _literal(driver, part.sql, part.args)
    except Exception as exc:
        raise _Unhandled(exc, part.sql, part.args) from exc
    return _Part(text, None, part.read, part.check)


def _tell(sync: Connection, sql: str, args: Any, many: bool) -> None:
    """SQLAlchemy's `before_cursor_execute` listeners see each statement sent here."""
    for listener in sync.dispatch.before_cursor_execute:
        listener(sync, None, sql, args, None, many)


async def _exchange(
    sync: Connection, parts: list[_Part], *, many: bool = False
) -> list[tuple[int, int, list[Row]]]:
    """One round trip: `parts` in order, one multi-statement query when there are several;
    each part's rows matched, last insert id and rows. A held write's `check` runs once all
    results are in; any failure of a held write leaves the transaction able only to roll back."""
    fairy = sync.connection
    driver: Any = fairy.driver_connection
    got: list[tuple[int, int, Any, Any]] = []
    try:
        # the cursor class SQLAlchemy's adapter opens (aiomysql's does not fetch warnings)
        cursor_class = getattr(sync.dialect.loaded_dbapi, "Cursor", None)
        opened = driver.cursor() if cursor_class is None else driver.cursor(cursor_class)
        async with _lock_of(fairy), opened as cursor:
            await _round_trip(cursor, parts, many, got)
    except BaseException as exc:  # a driver error, or cancelled in mid-statement
        failing = _blamed(sync, parts, got, exc)
        # a held write sent before it that saw a wrong row count: its error comes first, as
        # when it went alone (after SQLAlchemy's handling, which invalidates a lost connection)
        checked = _failed_check(sync, parts, got) if isinstance(exc, Exception) else None
        raise _Unhandled(exc, failing.sql, failing.args, many and len(parts) == 1, checked) from exc
    checked = _failed_check(sync, parts, got)
    if checked is not None:
        raise checked
    return [(count, last_id, [] if part.read is None
             else part.read.read(sync.dialect, description, found))
            for part, (count, last_id, found, description) in zip(parts, got, strict=True)]  # fmt: skip


def _failed_check(
    sync: Connection, parts: list[_Part], got: list[tuple[int, int, Any, Any]]
) -> BaseException | None:
    """The error of the first held write whose check refuses its row count (the transaction
    can then only roll back), or None."""
    for part, (count, _id, _found, _description) in zip(parts, got, strict=False):
        if part.check is not None:
            try:
                part.check(count)
            except BaseException as exc:
                _poison(sync, exc)
                return exc
    return None


def _blamed(
    sync: Connection, parts: list[_Part], got: list[tuple[int, int, Any, Any]], exc: BaseException
) -> _Part:
    """The statement a round trip's error belongs to: the one whose result was awaited, or,
    when the query could not even be encoded (nothing was sent), the one that cannot be. A
    held write's error leaves the transaction able only to roll back; when nothing was sent
    and the fault is the carrying statement's, the held writes are held again."""
    failing = parts[min(len(got), len(parts) - 1)]
    if isinstance(exc, UnicodeError) and not got:
        failing = next((p for p in parts if not _encodes(p.sql)), failing)
        if not failing.held:
            held = _held_of(sync)
            held.parts[:0] = [p for p in parts if p.held]
            held.chars += sum(len(p.sql) + 1 for p in parts if p.held)
            return failing
    if failing.held:
        _poison(sync, exc)
    return failing


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeError:
        return False
    return True


async def _round_trip(
    cursor: Any, parts: list[_Part], many: bool, got: list[tuple[int, int, Any, Any]]
) -> None:
    if len(parts) == 1 and parts[0].args is not None:  # one statement, as the driver sends it
        (part,) = parts
        await (cursor.executemany if many else cursor.execute)(part.sql, part.args)
    else:  # every part rendered already (`_rendered`, `_hold`)
        await cursor.execute(";".join(p.sql for p in parts))
    for k, part in enumerate(parts):
        if k:
            await cursor.nextset()
        found = await cursor.fetchall() if part.read is not None else ()
        got.append((int(cursor.rowcount), int(cursor.lastrowid or 0), found, cursor.description))


def _lock_of(fairy: PoolProxiedConnection) -> asyncio.Lock:
    """This module's own lock of a DBAPI connection (kept in the pool's `info` for it): one
    direct round trip at a time on it. SQLAlchemy's own statements take its adapter's lock,
    not this one; they never overlap ours because a `Store` connection is used by one task
    at a time, as SQLAlchemy requires of an `AsyncConnection` (this lock only keeps a misuse
    from interleaving two direct round trips on the wire)."""
    lock = fairy.info.get(_LOCK)
    if lock is None:
        lock = fairy.info[_LOCK] = asyncio.Lock()
    return cast(asyncio.Lock, lock)


def _relay(sync: Connection, exc: BaseException, sql: str, args: Any, many: bool) -> None:
    """SQLAlchemy's own handling of an error raised by the driver (in a greenlet: invalidating
    a lost connection closes it through the async adapter). The driver's errors, and a
    cancellation, are raised by SQLAlchemy's execution itself: `sql` goes through
    `exec_driver_sql` with the error in an execution option, and the `do_execute` hook
    (`_raise_relayed`) raises it where the driver's execute would have: SQLAlchemy then wraps
    it (`IntegrityError`, `OperationalError`…), tells its `handle_error` listeners, and on a
    disconnect invalidates the connection and the pool's older connections. Nothing is sent.
    Any other error (a value the driver cannot encode) is SQLAlchemy's `StatementError`, as
    it wraps one outside an execution."""
    dialect = sync.dialect
    dbapi: Any = dialect.loaded_dbapi
    if dialect.driver == "asyncmy" and isinstance(exc, AttributeError):
        # what SQLAlchemy's asyncmy adapter makes of asyncmy's error on a dropped socket
        try:
            raise dbapi.InternalError(
                "network operation failed due to asyncmy attribute error"
            ) from exc
        except dbapi.InternalError as mapped:
            exc = mapped
    if isinstance(exc, Exception) and not isinstance(exc, dbapi.Error):
        raise sa_exc.DBAPIError.instance(
            sql, args, exc, dbapi.Error, hide_parameters=sync.engine.hide_parameters,
            dialect=dialect, ismulti=many,
        ) from exc  # fmt: skip
    _relaying(sync.engine)
    params = None if args is None else [tuple(a) for a in args] if many else tuple(args)
    try:
        sync.exec_driver_sql(sql, params, execution_options=cast(Any, {_RELAY: exc}))
    except BaseException as raised:
        if raised is exc or getattr(raised, "orig", None) is exc:
            raise
        # SQLAlchemy could not even open a cursor (aiomysql closes itself on a lost connection:
        # "Not connected"), and has handled that error as the disconnect it is (this connection
        # and the pool's older ones invalidated, listeners told): the caller gets the driver's
        # own error, as SQLAlchemy would have wrapped it
        _unrelayed(sync, exc, sql, args, many, raised)
    raise AssertionError("the relayed error was not raised")  # pragma: no cover


def _unrelayed(
    sync: Connection, exc: BaseException, sql: str, args: Any, many: bool, raised: BaseException
) -> None:
    """`exc` as SQLAlchemy would have raised it, once SQLAlchemy has handled `raised` (the
    error of its execution that was to relay `exc`)."""
    dialect = sync.dialect
    dbapi: Any = dialect.loaded_dbapi
    lost = sync.invalidated
    if not lost and not sync.closed:
        lost = not isinstance(exc, Exception) or dialect.is_disconnect(
            cast(Any, exc), sync.connection.dbapi_connection, None
        )
        if lost:
            sync.invalidate(exc if isinstance(exc, Exception) else None)
    if not isinstance(exc, Exception):
        raise exc
    raise sa_exc.DBAPIError.instance(
        sql, args, exc, dbapi.Error, hide_parameters=sync.engine.hide_parameters,
        connection_invalidated=lost, dialect=dialect, ismulti=many,
    ) from raised  # fmt: skip


def _relaying(engine: Engine) -> None:
    """`engine`'s dialect raises a relayed error where the driver's execute would run."""
    for name, hook in (("do_execute", _raise_relayed), ("do_executemany", _raise_relayed),
                       ("do_execute_no_params", _raise_relayed_no_params)):  # fmt: skip
        if not event.contains(engine, name, hook):
            event.listen(engine, name, hook)


def _raise_relayed(_cursor: Any, _sql: str, _params: Any, context: Any) -> bool:
    failed = context.execution_options.get(_RELAY)
    if failed is not None:
        raise failed
    return False


def _raise_relayed_no_params(cursor: Any, sql: str, context: Any) -> bool:
    return _raise_relayed(cursor, sql, None, context)
