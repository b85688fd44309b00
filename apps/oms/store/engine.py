"""Create the async SQLAlchemy engine for MySQL/MariaDB (asyncmy or aiomysql, chosen by the URL)
or SQLite (aiosqlite).

Dialect branches live here and nowhere else: SQLite gets WAL, a busy timeout, foreign keys and
`BEGIN IMMEDIATE` write transactions (a read connection, marked by `reading()`, begins DEFERRED:
a WAL snapshot that never takes or waits for the write lock); MySQL gets a recycled pool with
READ COMMITTED isolation, and a second pool for reads in autocommit (`create_read_engine`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from apps.oms.errors import ConfigError
from apps.oms.store import direct, escaping, json_codec

SUPPORTED_DRIVERS = {"mysql+asyncmy", "mysql+aiomysql", "sqlite+aiosqlite"}
CONNECT_ARGS: dict[str, Any] = {"charset": "utf8mb4", "connect_timeout": 5}
READ_ONLY = "oms_read_only"  # execution option of a connection that only reads


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection that only reads. On SQLite its transaction begins DEFERRED: a snapshot of
    the WAL, so reads never queue behind (or time out on) the single writer; elsewhere it is
    a plain connection (no execution option set: that is one more trip into the driver's
    greenlet per read)."""
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            await conn.execution_options(**{READ_ONLY: True})
        yield conn


def parse_database_url(url: str) -> URL:
    """Validate a database URL; raise `ConfigError` with a one-line explanation otherwise."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"OMS_DATABASE_URL is not a valid database URL: {url!r}") from exc
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise ConfigError(
            f"OMS_DATABASE_URL driver {parsed.drivername!r} is not supported; use "
            "mysql+asyncmy://user:pass@host:3306/db (or mysql+aiomysql://...) or "
            "sqlite+aiosqlite:///path.db"
        )
    return parsed


def create_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, idle_transaction_timeout: int = 0
) -> AsyncEngine:
    """Build the engine for `url` (no connection is opened until first use).

    `idle_transaction_timeout` (seconds, MariaDB only, 0 = off): the server ends a session whose
    transaction has been idle that long, releasing its row locks. Workers set it, so a worker
    paused inside a transaction (SIGSTOP, a frozen VM) cannot keep holding a lease row that a
    live worker must take over; MySQL 8 has no such variable and ignores the setting."""
    parsed = parse_database_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed, echo=echo)
        engine = _mysql_engine(parsed, pool_size=pool_size, echo=echo)
        direct.watch(engine)  # held writes (`direct.later`) stay in order and reach the commit
    except NoSuchModuleError as exc:  # pragma: no cover - both drivers are dependencies
        raise ConfigError(f"database driver missing for {parsed.drivername}") from exc
    if idle_transaction_timeout > 0:
        _end_idle_transactions(engine, idle_transaction_timeout)
    return engine


def create_read_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine | None:
    """The pool of `Store.read()` (None: read on the write engine, as SQLite does).

    Dialect branch: MySQL/MariaDB reads run in autocommit. Each statement is then its own
    transaction with its own snapshot, which is what READ COMMITTED gives each statement of a
    transaction too, so a read sees what it saw before; what goes is the ROLLBACK that ended
    every read's transaction (one round trip and one server command per read: ~5 per command
    at P3's 20/s, docs/benchmarks-history.md → Sixteenth round). `skip_autocommit_rollback` keeps SQLAlchemy
    from sending it anyway. Reads that need one snapshot across statements
    (`stream.consistent_read`) use the write engine's transactions. The session runs READ
    COMMITTED like the write pool's (one statement per new connection), so a statement's
    isolation does not depend on which pool ran it."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return None
    engine = _mysql_engine(parsed, pool_size=pool_size, echo=echo, isolation_level="AUTOCOMMIT")

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        finally:
            cursor.close()

    return engine


def _end_idle_transactions(engine: AsyncEngine, seconds: int) -> None:
    """Dialect branch `idle_transaction_timeout`: a MariaDB session variable, unknown to MySQL
    (error 1193 there, ignored)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SET SESSION idle_transaction_timeout = {int(seconds)}")
        except Exception as exc:  # MySQL 8: unknown system variable
            if "1193" not in str(exc):
                raise
        finally:
            cursor.close()


def _sqlite_engine(url: URL, *, echo: bool) -> AsyncEngine:
    database = url.database or ""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, echo=echo, connect_args={"timeout": 30},
        json_serializer=json_codec.dumps, json_deserializer=json_codec.loads,
    )  # fmt: skip

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the driver) emit BEGIN so that writes can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _mysql_engine(
    url: URL, *, pool_size: int, echo: bool, isolation_level: str = "READ COMMITTED"
) -> AsyncEngine:
    escaping.install(url.get_driver_name())  # the driver's string escape, faster on long strings
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        # no pre-ping round trip per checkout: recycled connections stay below wait_timeout and a
        # dropped connection invalidates the pool on its first error (the request is retried by the client)
        pool_pre_ping=False,
        # Store.read()/transaction() always end their transaction: skip the pool's extra ROLLBACK
        pool_reset_on_return=None,
        isolation_level=isolation_level,
        # an autocommit connection has no transaction to roll back (SQLAlchemy sends it otherwise)
        skip_autocommit_rollback=True,
        connect_args=CONNECT_ARGS,
        json_serializer=json_codec.dumps,  # JSON columns: orjson (apps/oms/store/json_codec.py)
        json_deserializer=json_codec.loads,
        async_creator=mysql_connect(url),
    )
    _causal_reads(engine)
    return engine


def mysql_connect(url: URL) -> Callable[[], Awaitable[Any]]:
    """The driver's connect (asyncmy or aiomysql), with SQLAlchemy's connection arguments for
    `url`, where every way a connection fails while it is being set up is a lost connection
    (`OperationalError` 2013: an outage, retried or answered 503):
    - the whole set-up, the server's greeting and the login included, is bounded by the
      connect timeout: the drivers' `connect_timeout` bounds the TCP connect only, so a server
      that accepts and then says nothing (a frozen node, a proxy with no node behind it) held
      the connecting request, and the worker's step with it, for good;
    - asyncmy's `RuntimeError("Transport does not expose socket instance")`, which a write
      endpoint with no node up (HAProxy accepts, then closes) produced as a 500
      (test/ha/test_r8_galera.py);
    - a set-up cut short closes the half-made connection's socket at once;
    - a close always closes the socket (`_always_closing`)."""
    driver = url.get_driver_name()
    if driver == "asyncmy":
        from sqlalchemy.dialects.mysql.asyncmy import dialect
    else:
        from sqlalchemy.dialects.mysql.aiomysql import dialect  # type: ignore[assignment]
    _, params = dialect().create_connect_args(url)
    params.update(CONNECT_ARGS)
    seconds = float(CONNECT_ARGS["connect_timeout"])

    async def connect() -> Any:
        # the drivers' own `connect()` is `Connection(**params)` then its set-up; made here so
        # that a set-up cut short (the timeout, a failure, the caller's cancel) closes the
        # half-made connection's socket rather than leave it to the collector (an "unclosed
        # connection" warning, and a socket open until the next collection)
        if driver == "asyncmy":
            import asyncmy as module

            conn = _always_closing(module.Connection)(**params)
            setup = conn.connect()
        else:
            import aiomysql as module  # type: ignore[no-redef]

            conn = _always_closing(module.Connection)(**params)
            setup = conn._connect()  # what `aiomysql.connect` awaits
        try:
            await asyncio.wait_for(setup, seconds)
        except BaseException as exc:
            conn.close()
            if not isinstance(exc, RuntimeError | TimeoutError):
                raise
            what = "no answer within the connect timeout" if isinstance(
                exc, TimeoutError) else str(exc)  # fmt: skip
            raise module.OperationalError(
                2013, f"Lost connection to MySQL server while connecting ({what})") from exc
        return conn

    return connect


@functools.cache
def _always_closing(connection_class: type) -> type:
    """The driver's connection class, whose graceful close (`ensure_closed`: send QUIT, wait for
    it to be written, then close the socket) closes the socket whatever the QUIT met. aiomysql's
    raises before its close when the server already reset the link (a node failed over, a
    proxy dropped it, a `KILL`): SQLAlchemy's pool logs that error and drops the connection,
    whose socket then waited for the collector (an "unclosed connection" warning). asyncmy
    tears the socket down itself there; the same guard costs it nothing."""

    class AlwaysClosing(connection_class):  # type: ignore[misc]
        async def ensure_closed(self) -> None:
            try:
                await super().ensure_closed()
            finally:
                self.close()

    AlwaysClosing.__name__ = AlwaysClosing.__qualname__ = connection_class.__name__
    return AlwaysClosing


CAUSAL_READS = "SET SESSION wsrep_sync_wait = 1"


def _causal_reads(engine: AsyncEngine) -> None:
    """Dialect branch, MariaDB Galera (docs/deployment-ha.md → Causal reads): every read on a
    connection of this engine first waits until its node has applied every write set the cluster
    committed before it (`wsrep_sync_wait = 1`). Writes go to one node at a time, so this matters
    when that node changes: a node that took over may still be applying its predecessor's last
    commits, and a claim, a risk snapshot or a books load must not decide on an older state.
    Writes need no wait: certification aborts a write over a row it had not seen yet (1213).
    A server without Galera ignores the variable (wsrep off); MySQL 8 does not know it (1193)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(CAUSAL_READS)
        except Exception as exc:  # MySQL 8: unknown system variable
            if "1193" not in str(exc):
                raise
        finally:
            cursor.close()


async def ping(engine: AsyncEngine) -> None:
    """Round-trip `SELECT 1`; raises the driver's error when the store is unreachable."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
