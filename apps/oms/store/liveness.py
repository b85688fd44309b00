"""Worker liveness that ends with the process (docs/worker.md → Liveness probe): a lock held for
the worker's whole life that the server (MySQL/MariaDB: `GET_LOCK` on a connection of its own)
or the kernel (SQLite: `flock` on a file beside the database) frees as soon as the process dies,
but that a stalled process keeps; and the probe of the locks of peers that still look alive by
their heartbeats (a freed one is dead: its accounts are taken at once).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import String, bindparam, cast, func, literal_column, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from apps.oms.clock import utcnow
from apps.oms.store import direct
from apps.oms.store.engine import create_engine, create_read_engine
from apps.oms.store.tables import workers

W = workers.c
LOCK_PREFIX = "oms-worker-"
NOT_SUPPORTED_YET = 1235  # MariaDB with WSREP_ON=ON: "doesn't yet support 'GET_LOCK in cluster'"

# running workers that look alive by heartbeat and declared a lock, other than the prober
_CANDIDATES = (
    W.status == "running", W.heartbeat_at >= bindparam("b_since"), W.liveness.is_not(None),
    W.id != bindparam("b_me"),
)  # fmt: skip
#: MySQL/MariaDB: a lock's name ends with `-s<server_id>` of the server its lock connection
#: reached; locks are per server, so only those taken on the server answering the probe are
#: judged (a worker whose lock connection sits on another server, e.g. a former primary that a
#: failover behind a proxy left it on, or another member of a multi-primary group, reads as
#: free here while it lives: judged by its heartbeats only)
_ON_THIS_SERVER = func.substring_index(W.liveness, "-s", -1) == cast(
    literal_column("@@server_id"), String
)
#: MySQL/MariaDB: the candidates whose lock is free, in one statement; none unless the prober's
#: own lock is still held by its own connection, and only those that beat since the server
#: started (after a server restart every lock is free until each worker takes its own again,
#: which it does just before its next beat: that must not read as every peer dead)
PROBE_LOCKS = select(W.id).where(
    *_CANDIDATES, W.heartbeat_at >= bindparam("b_started"), _ON_THIS_SERVER,
    func.is_free_lock(W.liveness) == 1,
    func.is_used_lock(bindparam("b_mine")) == bindparam("b_connection"),
)  # fmt: skip
#: SQLite: the candidates and their lock files (the kernel answers for the files)
CANDIDATES = select(W.id, W.liveness).where(*_CANDIDATES)


def lock_name(database: str, worker_id: str) -> str:
    """The worker's `GET_LOCK` name, less the server's `-s<server_id>` (`ServerLock.acquire`):
    names are server-wide (every database on the server) and MySQL refuses ones longer than 64
    characters (11 + 40 + 2 + at most 10 digits)."""
    digest = hashlib.sha256(f"{database}\0{worker_id}".encode()).hexdigest()[:40]
    return LOCK_PREFIX + digest


def lock_path(database: str, worker_id: str) -> str:
    """The worker's lock file: in a directory beside the SQLite file."""
    base = Path(os.path.abspath(database))
    digest = hashlib.sha256(worker_id.encode()).hexdigest()[:40]
    return str(base.with_name(base.name + ".workers") / f"{digest}.lock")


class ServerLock:
    """`GET_LOCK(name, 0)` on a connection of its own, in autocommit (no transaction open, so the
    server's idle-transaction limit never ends the session). The server frees the lock when the
    connection closes: the kernel closes a killed process's sockets at once."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.base = name
        self.name = name  # with `-s<server_id>` once taken
        self.engine: AsyncEngine | None = None
        self.conn: AsyncConnection | None = None
        self.connection_id: int | None = None
        self.server_id: int | None = None  # `@@server_id` of the server holding the lock
        self.server_uptime = 0.0  # seconds the server had been up when the lock was taken
        # when the server started, by this process's clock (the clock of the heartbeats);
        # `Uptime` counts whole seconds, so this is up to one second late: never early
        self.server_started: datetime | None = None

    async def supported(self) -> bool:
        """False under Galera (`wsrep_on`): MariaDB refuses `GET_LOCK` there since 10.4.28
        (error 1235) and earlier versions keep it on one node, invisible to workers connected
        to another, which would read as a free lock."""
        conn = await self._connect()
        row = (await conn.execute(text("SHOW VARIABLES LIKE 'wsrep_on'"))).first()
        return row is None or str(row[1]).upper() != "ON"

    async def acquire(self) -> bool:
        """Take the lock (True), or find it still held by an older session of this worker that
        the server has not closed yet (False: try again later)."""
        conn = await self._connect()
        query = text("SELECT GET_LOCK(CONCAT(:base, '-s', @@server_id), 0), CONNECTION_ID(), "
                     "@@server_id")  # fmt: skip
        got, connection_id, server_id = (await conn.execute(query, {"base": self.base})).one()
        self.connection_id = int(str(connection_id))
        self.server_id = int(str(server_id))
        self.name = f"{self.base}-s{self.server_id}"
        uptime = (await conn.execute(text("SHOW GLOBAL STATUS LIKE 'Uptime'"))).first()
        self.server_uptime = float(uptime[1]) if uptime is not None else 0.0
        self.server_started = utcnow() - timedelta(seconds=self.server_uptime)
        return got == 1

    @property
    def declared(self) -> str:
        """What the worker row names: the lock (its name tells the server it is held on)."""
        return self.name

    async def held(self) -> bool:
        """Still ours on a live connection (one round trip); False after a lost connection."""
        if self.conn is None:
            return False
        try:
            query = text("SELECT IS_USED_LOCK(:name) = CONNECTION_ID()")
            return bool((await self.conn.execute(query, {"name": self.name})).scalar())
        except Exception:
            await self.drop()
            raise

    async def _connect(self) -> AsyncConnection:
        if self.conn is not None:
            return self.conn
        if self.engine is None:  # an autocommit pool of one (never None: this is not SQLite)
            self.engine = create_read_engine(self.url, pool_size=1) or create_engine(self.url)
        self.conn = await self.engine.connect()
        return self.conn

    async def drop(self) -> None:
        """Forget the lock connection without a word to the server (it may not answer): the
        server frees the lock once it sees the connection closed."""
        conn, self.conn, self.connection_id = self.conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        """Closing the connection frees the lock."""
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.close()
            self.conn = None
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None


class FileLock:
    """`flock` on a file of its own: the kernel frees it when the process's last descriptor of
    it closes (a killed process's are closed at once). Per open file, so two workers in one
    process exclude each other too."""

    def __init__(self, path: str) -> None:
        self.name = path
        self.declared = path  # what the worker row names
        self.fd: int | None = None

    async def supported(self) -> bool:
        return True

    async def acquire(self) -> bool:
        if self.fd is not None:  # taken again (`held` found the file gone or replaced)
            os.close(self.fd)
            self.fd = None
        Path(self.name).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.name, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    async def held(self) -> bool:
        """The file we lock is still the one at the path (nobody deleted or replaced it)."""
        if self.fd is None:
            return False
        try:
            return os.fstat(self.fd).st_ino == os.stat(self.name).st_ino
        except FileNotFoundError:
            return False

    async def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.name)
            os.close(self.fd)
            self.fd = None


def file_lock_free(path: str) -> bool:
    """Whether nobody holds the lock file (its holder died). A missing file is not taken as
    free: it proves nothing (its holder removes it when it stops, after marking itself
    stopped)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # also drops the lock just taken
    return True


async def dead_by_lock(
    conn: AsyncConnection, *, me: str, now: datetime, dead_after: float, mine: ServerLock
) -> set[str]:
    """MySQL/MariaDB: workers alive by heartbeat whose lock is free (one statement)."""
    since = now - timedelta(seconds=dead_after)
    params: dict[str, Any] = {"b_since": since, "b_me": me, "b_mine": mine.name,
                              "b_connection": mine.connection_id,
                              "b_started": mine.server_started or now}  # fmt: skip
    return {str(row["id"]) for row in await direct.fetch(conn, PROBE_LOCKS, params)}


async def dead_by_file(
    conn: AsyncConnection, *, me: str, now: datetime, dead_after: float
) -> set[str]:
    """SQLite: workers alive by heartbeat whose lock file nobody holds."""
    params = {"b_since": now - timedelta(seconds=dead_after), "b_me": me}
    rows = await direct.fetch(conn, CANDIDATES, params)
    return {str(row["id"]) for row in rows if file_lock_free(str(row["liveness"]))}


async def declare(conn: AsyncConnection, worker_id: str, liveness: str | None) -> None:
    """Name the lock a registered worker holds (one taken after its registration)."""
    await conn.execute(update(workers).where(W.id == worker_id).values(liveness=liveness))
