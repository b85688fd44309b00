"""Deferred writes: a write whose result nobody reads rides with the transaction's next round
trip instead of taking one of its own (MySQL/MariaDB).

On two cores shared with MariaDB a statement's cost is mostly its round trip: ~110 µs of
client CPU (SQLAlchemy, the driver, the event loop) and ~55 µs of server CPU that ten
statements sent as one multi-statement query do not pay ten times (docs/benchmarks.md →
Sixteenth round). A statement executed with `DEFER` (`deferred(stmt)`) is rendered to SQL
text as the driver would send it and kept on the connection; the next statement that needs
its result (a read, an insert returning ids, a write whose row count is checked) is sent with
the kept ones in front of it, in order, as one query, and its own result is the one SQLAlchemy
reads. `flush(conn)` sends what is kept without another statement; `Store.transaction()`
flushes before it commits, and a commit that meets kept writes anyway flushes them first (no
write is ever lost to a commit). A rollback discards them: they were never sent, or would be
rolled back with the transaction.

What a deferred statement gives up: its inserted ids, and its row count as a return value
(a caller that guards on it passes a `check`, called with the count when the statement has
run: its exception then fails the statement that carried it), and its error surfaces on the
statement that carries it (the transaction fails all the same: nothing of it commits). So
only writes whose outcome the caller does not need at once are deferred, and never inside a
savepoint (a savepoint sends what is kept before it begins). One statement per execution.
Ordering is exactly the unbuffered order. SQLite ignores `DEFER` (no round trips to save).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

DEFER = "oms_defer"  # execution option: this write's result is not read
FLUSH = "oms_flush"  # execution option of `FLUSH_STATEMENT`: send what is kept, nothing else
PENDING = "oms_deferred_writes"  # key in the DBAPI connection's `info`: SQL texts kept
FLUSH_STATEMENT = text("SELECT 1").execution_options(**{FLUSH: True})  # never sent itself
# pymysql's own pattern for an INSERT ... VALUES (...) that executemany turns into one
# multi-row statement (pymysql.cursors.RE_INSERT_VALUES)
INSERT_VALUES = re.compile(
    r"\s*((?:INSERT|REPLACE)\b.+\bVALUES?\s*)"
    r"(\(\s*(?:%s|%\(.+\)s)\s*(?:,\s*(?:%s|%\(.+\)s)\s*)*\))"
    r"(\s*(?:ON DUPLICATE.*)?);?\s*\Z",
    re.IGNORECASE | re.DOTALL,
)

E = TypeVar("E", bound=Executable)
log = logging.getLogger("apps.oms.store.pipeline")


Check = Callable[[int], None]  # called with a deferred write's row count once it has run
Kept = tuple[str, Check | None]


def deferred(statement: E) -> E:
    """`statement` marked as a write whose result the caller does not read."""
    return statement.execution_options(**{DEFER: True})


async def defer(
    conn: AsyncConnection,
    statement: Executable,
    parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    *,
    check: Check | None = None,
) -> None:
    """Execute `statement` as a deferred write; `check(row count)` runs once it has run (at
    once where nothing is deferred, e.g. SQLite) and may raise to fail the transaction."""
    if check is not None and not isinstance(parameters, Mapping | None):
        raise TypeError("a checked deferred write is one statement with one set of parameters")
    result = await conn.execute(statement, parameters, execution_options={DEFER: check or True})
    if check is not None and not installed(conn.engine):
        check(int(result.rowcount))


async def flush(conn: AsyncConnection) -> None:
    """Send the writes kept on this connection now (no round trip when there are none)."""
    sync = conn.sync_connection
    if sync is not None and PENDING in sync.connection.info:
        await conn.execute(FLUSH_STATEMENT)


def install(engine: AsyncEngine) -> None:
    """Keep and send deferred writes on `engine`'s connections (MySQL/MariaDB engines whose
    connections allow multi-statement queries: `engine.py` sets the client flag)."""
    sync = engine.sync_engine
    event.listen(sync, "do_execute", _on_execute)
    event.listen(sync, "do_execute_no_params", _on_execute_no_params)
    event.listen(sync, "do_executemany", _on_executemany)
    event.listen(sync, "commit", _on_commit)
    event.listen(sync, "rollback", _on_rollback)
    event.listen(sync, "savepoint", _on_savepoint)
    event.listen(sync, "checkin", _on_checkin)


def _pending(context: Any) -> list[Kept] | None:
    try:
        info: dict[str, Any] = context.root_connection.connection.info
    except NotImplementedError:  # the dialect's first connect (no pool record yet)
        return None
    kept: list[Kept] | None = info.get(PENDING)
    return kept


def _keep(context: Any, sql: str, check: Check | None) -> None:
    context.root_connection.connection.info.setdefault(PENDING, []).append((sql, check))


def _take(info: dict[str, Any]) -> list[Kept]:
    kept: list[Kept] = info.pop(PENDING, [])
    return kept


def _literal(context: Any, statement: str, parameters: Any) -> str:
    """`statement` with `parameters` in it, as the driver renders them (client side)."""
    driver = context.root_connection.connection.driver_connection
    if isinstance(parameters, dict):
        return statement % {key: driver.literal(value) for key, value in parameters.items()}
    return statement % tuple(driver.literal(value) for value in parameters or ())


def _send(cursor: Any, kept: list[Kept], last: str | None = None) -> None:
    """One round trip: the kept writes, then `last` (the statement that needs its result);
    every result read (the last one left on `cursor` for SQLAlchemy), then each kept write's
    check run with its row count (after all are read: the connection stays in step even when
    a check raises)."""
    cursor.execute(";\n".join([sql for sql, _check in kept] + ([last] if last else [])))
    counts = []
    for n in range(len(kept)):
        counts.append(int(cursor.rowcount))
        if n < len(kept) - 1 or last:
            cursor.nextset()
    for (_sql, check), count in zip(kept, counts, strict=True):
        if check is not None:
            check(count)


def _on_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    options = context.execution_options
    if options.get(FLUSH):
        kept = _take(context.root_connection.connection.info)
        if kept:
            _send(cursor, kept)
        return True
    defer_as = options.get(DEFER)
    if defer_as:
        _keep(context, _literal(context, statement, parameters),
              None if defer_as is True else defer_as)  # fmt: skip
        return True
    if _pending(context) is None:
        return False
    kept = _take(context.root_connection.connection.info)
    _send(cursor, kept, _literal(context, statement, parameters))
    return True


def _on_execute_no_params(cursor: Any, statement: str, context: Any) -> bool:
    if context.execution_options.get(FLUSH):
        return _on_execute(cursor, statement, (), context)
    if _pending(context) is not None:
        _send(cursor, _take(context.root_connection.connection.info))
    return False  # then the statement itself as SQLAlchemy sends it


def _on_executemany(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    if context.execution_options.get(DEFER):
        for sql in _rows_as_sql(context, statement, parameters):
            _keep(context, sql, None)
        return True
    if _pending(context) is not None:
        _send(cursor, _take(context.root_connection.connection.info))
    return False


def _rows_as_sql(context: Any, statement: str, rows: list[Any]) -> list[str]:
    """What the driver's executemany sends: an INSERT's rows as one multi-row statement,
    anything else one statement per row."""
    match = INSERT_VALUES.match(statement)
    if match is None:
        return [_literal(context, statement, row) for row in rows]
    prefix, values, postfix = match.group(1) % (), match.group(2).rstrip(), match.group(3) or ""
    return [prefix + ",".join(_literal(context, values, row) for row in rows) + postfix]


def _on_commit(conn: Connection) -> None:
    """A commit never drops kept writes: they are sent first (Store.transaction has flushed
    already; this covers a transaction begun on the engine itself)."""
    kept = _take(conn.connection.info)
    if kept:
        cursor = conn.connection.cursor()
        try:
            _send(cursor, kept)
        finally:
            cursor.close()


def _on_rollback(conn: Connection) -> None:
    if not conn.invalidated:
        _take(conn.connection.info)


def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
    """A connection back in the pool keeps no writes: a transaction always ends in a commit
    (sent) or a rollback (dropped); writes kept outside one were never part of anything."""
    kept = _take(record.info)
    if kept:
        log.error("%d deferred writes dropped: kept outside a transaction", len(kept))


def _on_savepoint(conn: Connection, _name: str | None) -> None:
    _on_commit(conn)  # a savepoint begins after every write kept before it has been sent


def installed(engine: AsyncEngine | Engine) -> bool:
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    return event.contains(sync, "do_execute", _on_execute)
