"""The store handle: engine plus the two ways in — a write transaction and a read connection.

A write transaction commits when its block ends and rolls back on any exception (unit of work);
reads hold no transaction (MySQL/MariaDB: a pool of autocommit connections; SQLite: a deferred
snapshot ended when the connection closes), so no snapshot or metadata lock outlives them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from apps.oms.store import auth_version, direct
from apps.oms.store.engine import create_engine, create_read_engine, ping, reading

DEADLOCK = 1213  # MySQL/MariaDB: "Deadlock found when trying to get lock; try restarting …"
# connection-level failures (refused, lost, pool exhausted): the same request may succeed once
# the store is back; IntegrityError, ProgrammingError (MySQL's missing table) and friends will not
STORE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    ConnectionError,
)
# SQLite reports every error as OperationalError; only these primary codes are the store's state
# (busy, locked, I/O) rather than the request's or the configuration's (a missing table is
# SQLITE_ERROR, a wrong path SQLITE_CANTOPEN)
SQLITE_OUTAGE_CODES = frozenset({5, 6, 10})

# how long `Store.close` waits for connections still checked out to come back before it
# disposes the pools anyway (a task that still holds one then leaves it to the collector)
CLOSE_WAIT_SECONDS = 2.0
CLOSE_POLL_SECONDS = 0.005

# the MySQL drivers' own connection errors, when one escapes SQLAlchemy's wrapping: setting a
# connection's isolation level (`stream.consistent_read`) on a connection the server dropped
# raises the driver's OperationalError itself
_DRIVER_MODULES = frozenset({"pymysql", "asyncmy", "aiomysql"})
_DRIVER_OUTAGES = frozenset({"OperationalError", "InterfaceError"})


def _driver_outage(exc: BaseException) -> bool:
    kind = type(exc)
    return kind.__module__.split(".", 1)[0] in _DRIVER_MODULES and kind.__name__ in _DRIVER_OUTAGES


def is_store_outage(exc: BaseException) -> bool:
    """The store could not be reached or lost the connection: retry later, or answer 503."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if _driver_outage(exc):
        return True
    if not isinstance(exc, STORE_ERRORS):
        return False
    code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
    return not isinstance(code, int) or code & 0xFF in SQLITE_OUTAGE_CODES


# MySQL/MariaDB server errors that waiting can outlive: too many connections, a Galera node
# that is not part of the primary component (1047: partitioned off, joining, or the cluster lost
# its quorum), server shutting down, lock wait timeout, deadlock (on Galera also a certification
# conflict), connection killed. Client-side errors (2000 and up: cannot connect, server gone
# away, connection lost) are too. Any other server error is an answer to this client that a
# retry would only repeat (access denied, unknown database, table or column)
RETRYABLE_SERVER_ERRORS = frozenset({1040, 1047, 1053, 1205, 1213, 1927})


def is_store_unreachable(exc: BaseException) -> bool:
    """An outage (`is_store_outage`) that waiting can outlive, as opposed to a server that
    answers this client no (wrong credentials, a database or schema that is not there)."""
    if not is_store_outage(exc):
        return False
    driver_error = exc if _driver_outage(exc) else getattr(exc, "orig", None)
    args: tuple[object, ...] = getattr(driver_error, "args", ())
    code = args[0] if args else None
    return not isinstance(code, int) or code >= 2000 or code in RETRYABLE_SERVER_ERRORS


def is_deadlock(exc: BaseException) -> bool:
    """The server chose this transaction as a deadlock victim and rolled all of it back:
    nothing of it was committed, so running it again is safe (what the server asks for)."""
    args: tuple[object, ...] = getattr(getattr(exc, "orig", None), "args", ())
    return isinstance(exc, OperationalError) and bool(args) and args[0] == DEADLOCK


class Store:
    def __init__(self, engine: AsyncEngine, read_engine: AsyncEngine | None = None) -> None:
        self.engine = engine
        # `read()`'s pool: autocommit on MySQL/MariaDB (engine.create_read_engine), else `engine`
        self.read_engine = read_engine or engine
        # pools to drop before the next checkout: another pool met a dropped connection
        self.stale_pools: set[AsyncEngine] = set()
        if read_engine is not None:
            self._share_disconnects()
        # NOTIFY-like hook (MySQL has no LISTEN/NOTIFY): told, after commit, which accounts got
        # queued commands; the API wires it to the workers' wake-ups (apps/oms/wakeup.py)
        self.on_queued: Callable[[set[int]], Awaitable[None]] | None = None
        # told, after commit, which accounts had commands accepted (the API's read model checks
        # its freshness on their next reads: read-your-writes)
        self.on_accepted: Callable[[set[int] | None], None] | None = None

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10, idle_transaction_timeout: int = 0) -> Store:
        return cls(
            create_engine(url, pool_size=pool_size,
                          idle_transaction_timeout=idle_transaction_timeout),
            create_read_engine(url, pool_size=pool_size),
        )  # fmt: skip

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _share_disconnects(self) -> None:
        """A pool learns that the server dropped its connections on the first statement that
        fails on one (no pre-ping: engine.py); it then drops them all, and that one request
        fails. With two pools on one server, a dropped connection in either means the other's
        are dropped too: the other pool is disposed (its idle connections closed) before its
        next checkout, so a server restart fails one request, not one per pool. The error
        hook cannot wait for the closes: it marks the pool, `drop_stale_pools` disposes it."""
        for engine in self.engines:
            others = {other for other in self.engines if other is not engine}

            @event.listens_for(engine.sync_engine, "handle_error")
            def _on_error(context: ExceptionContext, others: set[AsyncEngine] = others) -> None:
                if context.is_disconnect:
                    self.stale_pools |= others

    async def drop_stale_pools(self) -> None:
        """Dispose the pools marked by `_share_disconnects`; called before every checkout (a
        set's truth test when nothing is marked)."""
        while self.stale_pools:
            await self.stale_pools.pop().dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One unit of work: commit on success, roll back on any exception. A unit that changed
        a key, user or grant bumps the identity version last and, once committed, waits out the
        API processes' cache lease before returning (apps/oms/store/auth_version.py)."""
        changed = False
        await self.drop_stale_pools()
        async with self.engine.begin() as conn:
            # the marks' dictionary is taken now: after a lost connection, touching `conn`
            # again would raise and hide the original error from the outage handling
            marks = auth_version.begin(conn)
            try:
                yield conn
            finally:
                changed = auth_version.take_marks(marks)
            if changed:
                await direct.flush(conn)  # writes held back (`direct.later`) go first
                await auth_version.bump(conn)
            else:  # writes held back (`direct.later`) and the COMMIT in one round trip
                await direct.flush_and_commit(conn)
        if changed:
            await asyncio.sleep(auth_version.LEASE_SECONDS)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection that leaves no transaction open: on MySQL/MariaDB each
        statement runs in autocommit (no snapshot, lock or ROLLBACK after it); on SQLite a
        deferred snapshot that never waits for the writer, rolled back when the connection
        closes. Reads that need one snapshot across statements use `stream.consistent_read`."""
        await self.drop_stale_pools()
        async with reading(self.read_engine) as conn:
            yield conn

    async def notify_queued(self, account_ids: set[int]) -> None:
        """Best effort, after commit: the commands are stored whether or not anyone hears it."""
        if account_ids and self.on_queued is not None:
            await self.on_queued(account_ids)

    def note_accepted(self, account_ids: set[int] | None) -> None:
        """After commit: these accounts (None: possibly any account) were written here."""
        if (account_ids is None or account_ids) and self.on_accepted is not None:
            self.on_accepted(account_ids)

    async def ping(self) -> None:
        await ping(self.engine)

    def checked_out(self) -> int:
        """Connections taken from either pool and not yet returned."""
        return sum(int(getattr(e.sync_engine.pool, "checkedout", lambda: 0)())
                   for e in self.engines)  # fmt: skip

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        """Each pool once: the write engine, then the read engine when it is another."""
        return (self.engine,) if self.read_engine is self.engine else (self.engine, self.read_engine)

    @contextmanager
    def watching_statements(self, listener: Callable[..., Any]) -> Iterator[None]:
        """`listener` sees every statement either pool sends meanwhile (SQLAlchemy's
        `before_cursor_execute` arguments): for benchmarks and tests that count statements."""
        for engine in self.engines:
            event.listen(engine.sync_engine, "before_cursor_execute", listener)
        try:
            yield
        finally:
            for engine in self.engines:
                event.remove(engine.sync_engine, "before_cursor_execute", listener)

    async def close(self) -> None:
        """Dispose both pools, once the connections still checked out are back (at most
        `CLOSE_WAIT_SECONDS`). `dispose` closes the checked-in connections only; one returned
        after it goes back to the disposed pool, where nothing closes it: the driver's socket
        stays open until the collector finds it (and warns of an unclosed connection). A task
        stopped or cancelled just before the store closes returns its connection moments
        later, once its statement or its connection's close has finished."""
        for _ in range(int(CLOSE_WAIT_SECONDS / CLOSE_POLL_SECONDS)):
            if not self.checked_out():
                break
            await asyncio.sleep(CLOSE_POLL_SECONDS)
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
