"""Hot writes sent on the driver's own cursor (MySQL/MariaDB), past SQLAlchemy's per-statement
execution (docs/architecture.md → Stores → Direct writes).

SQLAlchemy's execution of a statement that is already compiled and cached still costs ~130–170
µs of client CPU per statement on this machine on top of the driver's own work (a greenlet per
call, an execution context, a cursor result), as much again as the driver itself
(docs/benchmarks.md → Seventeenth round). The writes every command makes (its inserts, its
row updates, the numbering of its events) go through here instead:

- each statement is compiled once per column set with SQLAlchemy's own compiler and dialect
  (`Plan`), so the SQL text is exactly what `conn.execute` would send;
- its parameters are bound with the same type processors SQLAlchemy applies (JSON, `Money`,
  `UtcDateTime`, booleans), scalar column defaults filled in as SQLAlchemy would;
- it is sent with the driver's cursor on the connection the transaction already holds, under
  the adapter's own mutex; several rows of an INSERT go to the driver's `executemany`, as
  SQLAlchemy sends them on MySQL (the driver writes one multi-row statement).

What SQLAlchemy does around a statement is kept: `before_cursor_execute` listeners see it
(`Store.watching_statements`, tests that count or EXPLAIN statements), and a driver error, or a
cancellation in mid-statement, goes through SQLAlchemy's own error handling (wrapped as
`IntegrityError`, `OperationalError`…, a lost connection invalidated, `handle_error` listeners
told). A statement runs through `conn.execute` as before on SQLite, outside a transaction, on
a connection SQLAlchemy has invalidated, or when it has parts this path does not bind
(expanding `IN` parameters, literal-execute values, Python-side callable defaults).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import greenlet_spawn

#: plans kept (statements are module constants, or `many.update_by_id`'s bounded shapes)
PLANS_KEPT = 1024

Bind = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement compiled for one set of parameter keys: its SQL, where each positional
    parameter comes from, and how it is bound."""

    sql: str
    keys: tuple[str, ...]  # the parameter key of each placeholder, in order
    binds: tuple[Bind, ...]  # SQLAlchemy's bind processor of each placeholder
    fixed: dict[str, Any]  # keys bound to a value in the statement itself or a column default

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        fixed = self.fixed
        for key, bind in zip(self.keys, self.binds, strict=True):
            value = params[key] if key in params else fixed[key]
            out.append(value if bind is None else bind(value))
        return out

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        return [self.args(row) for row in rows]


class NotDirect(Exception):
    """The statement has a part this path does not bind: SQLAlchemy executes it."""


_PLANS: OrderedDict[tuple[int, tuple[str, ...], str], tuple[Executable, Plan | None]] = (
    OrderedDict()
)


def plan_of(statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> Plan | None:
    """The statement's plan for these parameter keys (None: SQLAlchemy executes it), compiled
    once. Kept by the statement's identity, which the entry holds so that it is not reused."""
    found = (id(statement), keys, dialect.name)
    entry = _PLANS.get(found)
    if entry is not None and entry[0] is statement:
        _PLANS.move_to_end(found)
        return entry[1]
    try:
        plan: Plan | None = _compile(statement, keys, dialect)
    except NotDirect:
        plan = None
    _PLANS[found] = (statement, plan)
    if len(_PLANS) > PLANS_KEPT:
        _PLANS.popitem(last=False)
    return plan


def _compile(statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> Plan:
    assert isinstance(statement, ClauseElement)  # noqa: S101 - Core statements are both
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if not isinstance(compiled, SQLCompiler) or not compiled.positional:
        raise NotDirect("not a positional SQL statement")
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise NotDirect("expanding or literal-execute parameters")
    if compiled.effective_returning:
        raise NotDirect("RETURNING rows")
    fixed = _defaults(compiled)
    by_name = {name: param for param, name in compiled.bind_names.items()}
    names = tuple(compiled.positiontup or ())
    plan_keys: list[str] = []
    for name in names:
        param = by_name[name]
        if param.key not in keys and param.key not in fixed:
            if param.required or param.callable is not None:
                raise NotDirect(f"parameter {param.key} has no value")
            fixed[param.key] = param.value  # bound in the statement itself
        plan_keys.append(param.key)
    binds = _binds(compiled, names)
    return Plan(compiled.string, tuple(plan_keys), tuple(binds), fixed)


def _defaults(compiled: SQLCompiler) -> dict[str, Any]:
    """Scalar column defaults SQLAlchemy would fill in for columns left out (`_flag`'s)."""
    fixed: dict[str, Any] = {}
    for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
        default = column.default if column in compiled.insert_prefetch else column.onupdate
        if default is None or not getattr(default, "is_scalar", False):
            raise NotDirect(f"column {column.key} has a default computed per row")
        fixed[column.key] = default.arg  # type: ignore[attr-defined]
    return fixed


def _binds(compiled: SQLCompiler, names: tuple[str, ...]) -> list[Bind]:
    """SQLAlchemy's bind processor of each placeholder (None: the value goes as it is)."""
    processors = compiled._bind_processors
    binds: list[Bind] = []
    for name in names:
        processor = processors.get(name)
        if processor is not None and not callable(processor):
            raise NotDirect(f"parameter {name} is a tuple")
        binds.append(processor)
    return binds


def _sync_of(conn: AsyncConnection) -> Connection | None:
    """The connection to send on directly, or None (SQLAlchemy executes)."""
    sync = conn.sync_connection
    if sync is None or sync.dialect.name != "mysql" or sync.invalidated or sync.closed:
        return None
    # outside a transaction SQLAlchemy would begin one (and end it at close): let it
    return sync if sync.in_transaction() else None


def sends(conn: AsyncConnection, statement: Executable, keys: Sequence[str]) -> bool:
    """Whether `statement` with these parameter keys goes directly on this connection now."""
    sync = _sync_of(conn)
    return sync is not None and plan_of(statement, tuple(sorted(keys)), sync.dialect) is not None


async def execute(
    conn: AsyncConnection, statement: Executable, params: Mapping[str, Any] | None = None
) -> int:
    """`conn.execute(statement, params)` for a write; returns the rows it matched (MySQL's
    found rows, as `CursorResult.rowcount` gives them)."""
    values = params or {}
    sync = _sync_of(conn)
    plan = None if sync is None else plan_of(statement, tuple(sorted(values)), sync.dialect)
    if sync is None or plan is None:
        return int((await conn.execute(statement, dict(values))).rowcount)
    return (await _send(sync, plan.sql, _bound(plan.args, values, plan.sql)))[0]


async def insert_row(conn: AsyncConnection, statement: Executable, row: Mapping[str, Any]) -> int:
    """`conn.execute(statement, row)` for an INSERT of one row; returns its auto-increment id
    (`inserted_primary_key`)."""
    sync = _sync_of(conn)
    plan = None if sync is None else plan_of(statement, tuple(sorted(row)), sync.dialect)
    if sync is None or plan is None:
        inserted = (await conn.execute(statement, dict(row))).inserted_primary_key
        assert inserted is not None  # noqa: S101 - an INSERT's result
        return int(inserted[0])
    return (await _send(sync, plan.sql, _bound(plan.args, row, plan.sql)))[1]


async def insert_rows(
    conn: AsyncConnection, statement: Executable, rows: Sequence[Mapping[str, Any]]
) -> None:
    """`conn.execute(statement, rows)` for an INSERT of rows that share their keys. Several
    rows go to the driver's `executemany` as SQLAlchemy sends them on MySQL: the driver writes
    them as one multi-row `INSERT … VALUES (…), (…)` (split only past its statement size
    limit), rows in list order, their auto-increment ids too."""
    if not rows:
        return
    keys = tuple(sorted(rows[0]))
    sync = _sync_of(conn)
    plan = None if sync is None else plan_of(statement, keys, sync.dialect)
    if sync is None or plan is None or any(len(row) != len(keys) for row in rows[1:]):
        await conn.execute(statement, [dict(row) for row in rows])  # SQLAlchemy decides
        return
    if len(rows) == 1:
        await _send(sync, plan.sql, _bound(plan.args, rows[0], plan.sql))
    else:
        await _send(sync, plan.sql, _bound(plan.rows, rows, plan.sql), many=True)


def _bound(bind: Callable[[Any], Any], value: Any, sql: str) -> Any:
    """Bind processors' own errors (a float for a `Money` column) as SQLAlchemy reports them."""
    try:
        return bind(value)
    except (TypeError, ValueError, KeyError) as exc:
        raise sa_exc.StatementError(
            f"({type(exc).__name__}) {exc}", sql, None, exc
        ) from exc


async def _send(
    sync: Connection, sql: str, args: list[Any], *, many: bool = False
) -> tuple[int, int]:
    """Rows matched and the last insert id."""
    fairy = sync.connection
    adapted: Any = fairy.dbapi_connection
    driver: Any = fairy.driver_connection
    for listener in sync.dispatch.before_cursor_execute:
        listener(sync, None, sql, args, None, many)
    try:
        # the cursor class SQLAlchemy's adapter opens (aiomysql's does not fetch warnings)
        cursor_class = getattr(sync.dialect.loaded_dbapi, "Cursor", None)
        opened = driver.cursor() if cursor_class is None else driver.cursor(cursor_class)
        async with adapted._execute_mutex, opened as cursor:
            if many:
                await cursor.executemany(sql, args)
            else:
                await cursor.execute(sql, args)
            return int(cursor.rowcount), int(cursor.lastrowid or 0)
    except BaseException as exc:  # a driver error, or cancelled in mid-statement
        await greenlet_spawn(_handle, sync, exc, sql, args)
        raise  # pragma: no cover - `_handle` always raises


def _handle(sync: Connection, exc: BaseException, sql: str, args: list[Any]) -> None:
    """SQLAlchemy's own handling of an error raised by the driver (in a greenlet: invalidating
    a lost connection closes it through the async adapter)."""
    try:
        raise exc
    except BaseException as raised:
        sync._handle_dbapi_exception(raised, sql, args, None, None)
