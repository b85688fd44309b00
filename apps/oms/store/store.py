"""The store handle: engine plus the two ways in — a write transaction and a read connection.

A write transaction commits when its block ends and rolls back on any exception (unit of work);
reads always end their transaction so that no MySQL snapshot or metadata lock is held.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from apps.oms.store import auth_version
from apps.oms.store.engine import create_engine, ping, reading

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


# MySQL/MariaDB server errors that waiting can outlive: too many connections, server shutting
# down, lock wait timeout, deadlock, connection killed. Client-side errors (2000 and up: cannot
# connect, server gone away, connection lost) are too. Any other server error is an answer to
# this client that a retry would only repeat (access denied, unknown database, table or column)
RETRYABLE_SERVER_ERRORS = frozenset({1040, 1053, 1205, 1213, 1927})


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
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # NOTIFY-like hook (MySQL has no LISTEN/NOTIFY): told, after commit, which accounts got
        # queued commands; the API wires it to the workers' wake-ups (apps/oms/wakeup.py)
        self.on_queued: Callable[[set[int]], Awaitable[None]] | None = None
        # told, after commit, which accounts had commands accepted (the API's read model checks
        # its freshness on their next reads: read-your-writes)
        self.on_accepted: Callable[[set[int] | None], None] | None = None

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10, idle_transaction_timeout: int = 0) -> Store:
        return cls(create_engine(url, pool_size=pool_size,
                                 idle_transaction_timeout=idle_transaction_timeout))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One unit of work: commit on success, roll back on any exception. A unit that changed
        a key, user or grant bumps the identity version last and, once committed, waits out the
        API processes' cache lease before returning (apps/oms/store/auth_version.py)."""
        changed = False
        async with self.engine.begin() as conn:
            # the marks' dictionary is taken now: after a lost connection, touching `conn`
            # again would raise and hide the original error from the outage handling
            marks = auth_version.begin(conn)
            try:
                yield conn
            finally:
                changed = auth_version.take_marks(marks)
            if changed:
                await auth_version.bump(conn)
        if changed:
            await asyncio.sleep(auth_version.LEASE_SECONDS)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection whose transaction is always ended (rolled back) afterwards
        (on SQLite a deferred snapshot that never waits for the writer). Closing the connection
        is what rolls it back, in the same trip into the driver: an explicit rollback before it
        cost a second one (with the option below: −7 to −11 % of a one-query read's client CPU,
        docs/benchmarks.md → Eighth round)."""
        async with reading(self.engine) as conn:
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

    async def close(self) -> None:
        await self.engine.dispose()
