"""This worker's liveness lock and the probe of its peers' (docs/worker.md → Liveness probe).
Heartbeats alone take a killed worker's accounts only once its beats are `dead_after` old
(3.5 s); its lock is freed by the server or the kernel the moment the process dies, so a peer's
probe (every `liveness_probe_seconds`) sees it within one period. A stalled worker keeps its
lock: its heartbeats still decide when it is dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from apps.oms.clock import utcnow
from apps.oms.config import WorkerSettings
from apps.oms.store import liveness
from apps.oms.store.liveness import FileLock, ServerLock
from apps.oms.store.store import Store
from apps.worker.wakeups import Kick

log = logging.getLogger("apps.worker")


def _refused(exc: BaseException) -> bool:
    """The server refuses `GET_LOCK` (MariaDB under Galera: error 1235)."""
    args: tuple[object, ...] = getattr(getattr(exc, "orig", exc), "args", ())
    return bool(args) and args[0] == liveness.NOT_SUPPORTED_YET


class Liveness:
    """Holds this worker's lock (taken before it registers, checked with every heartbeat, taken
    again when lost) and probes the peers' locks; `dead` is what the last probe found."""

    def __init__(self, settings: WorkerSettings, store: Store, worker_id: str, kick: Kick) -> None:
        self.settings = settings
        self.store = store
        self.worker_id = worker_id
        self.kick = kick  # the lease round's: a peer found dead is taken over at once
        self.lock = self._lock()
        self.held_since: float | None = None  # monotonic; None while not held
        self.declared: str | None = None  # what the worker row names (`lock.declared`)
        self.dead: frozenset[str] = frozenset()
        # a server (re)start frees every lock at once, and each worker takes its own again only
        # at its next beat: free locks prove nothing until the server has been up this long
        self.grace = 3 * settings.heartbeat_seconds
        self.trusted_from = 0.0  # monotonic: free locks are taken as deaths from then on
        self.keeping: asyncio.Future[None] | None = None  # the lock check of a beat, if running

    def _lock(self) -> ServerLock | FileLock | None:
        if self.settings.liveness_probe_seconds <= 0:
            return None
        url = self.store.engine.url
        if self.store.dialect != "sqlite":
            return ServerLock(url.render_as_string(hide_password=False),
                              liveness.lock_name(url.database or "", self.worker_id))  # fmt: skip
        if not url.database or url.database == ":memory:":
            return None
        return FileLock(liveness.lock_path(url.database, self.worker_id))

    async def hold(self) -> str | None:
        """Before registering: take the lock; its name for the worker row (None: peers go by
        heartbeats only, e.g. under Galera, or the store cannot be reached yet and `keep`
        takes it later)."""
        if self.lock is None:
            return None
        if self.held_since is not None:  # a registration retried
            return self.lock.declared
        try:
            if await self.lock.supported() and await self.lock.acquire():
                self.taken()
                self.declared = self.lock.declared
                return self.declared
        except Exception as exc:
            if not _refused(exc):
                log.warning("liveness lock not taken yet: %s: %s", type(exc).__name__, exc)
                return None
        log.info("liveness probe off: the store cannot hold a lock per worker (Galera); "
                 "peers take this worker's accounts by its heartbeats only")  # fmt: skip
        await self.close()
        self.lock = None
        return None

    async def keep(self) -> None:
        """With each heartbeat: is the lock still ours? If its connection was lost (peers may
        take this worker's accounts meanwhile: the epochs fence whatever it then records),
        take it again. It runs just before the beat, which waits for it one heartbeat interval
        at most: a lock connection whose link went silent (no error, no answer: a dropped
        route, a middlebox that lost its state) would otherwise hold the beats back until TCP
        gives up (minutes), so peers would take every account of a worker whose store is
        reachable. A check still running goes on (the next beat waits for the same one; none
        is started beside it) and is never cut short: dropping the connection would free the
        lock of a worker that is merely slow, a takeover by its peers."""
        if self.lock is None:
            return
        if self.keeping is None or self.keeping.done():
            self.keeping = asyncio.ensure_future(self._keep())
        done, _ = await asyncio.wait([self.keeping], timeout=self.settings.heartbeat_seconds)
        if not done:
            raise TimeoutError("the lock check is still waiting for the server; beating anyway")
        task, self.keeping = self.keeping, None
        task.result()  # its error, if any

    async def _keep(self) -> None:
        if self.lock is None:
            return
        try:
            if await self.lock.held():
                await self._declare()  # a declaration that failed at the last retake
                return
            lost = "lost"
        except Exception as exc:
            lost = f"lost with its connection ({type(exc).__name__})"
        if self.held_since is not None:
            log.warning("liveness lock %s: peers may take this worker's accounts; taking it "
                        "again", lost)  # fmt: skip
        self.held_since = None
        if await self.lock.acquire():
            self.taken()
            await self._declare()

    async def _declare(self) -> None:
        """Name the lock in the worker row when it is not named yet, or as held on another
        server (peers judge only the locks held on the server they probe)."""
        if self.lock is not None and self.declared != self.lock.declared:
            async with self.store.transaction() as conn:
                await liveness.declare(conn, self.worker_id, self.lock.declared)
            self.declared = self.lock.declared

    def taken(self) -> None:
        """The lock is ours (again); trust peers' free locks once the server has been up for
        the grace time (a worker starting or retaking its lock on a server up for long probes
        at once)."""
        self.held_since = time.monotonic()
        uptime = self.lock.server_uptime if isinstance(self.lock, ServerLock) else self.grace
        self.trusted_from = self.held_since + max(0.0, self.grace - uptime)

    async def run(self, stop: asyncio.Event) -> None:
        """Probe the peers every `liveness_probe_seconds` until `stop`."""
        if self.lock is None:
            return
        period = self.settings.liveness_probe_seconds
        while not stop.is_set():
            try:
                await self.probe()
            except Exception as exc:  # store unreachable: heartbeats decide meanwhile
                self.dead = frozenset()
                log.debug("liveness probe failed: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period)

    async def probe(self) -> None:
        """One look at the peers alive by heartbeat: those whose lock is free are dead; a new
        one kicks the lease round."""
        if self.held_since is None or time.monotonic() < self.trusted_from:
            self.dead = frozenset()
            return
        dead_after = self.settings.dead_after_seconds
        async with self.store.read() as conn:
            if isinstance(self.lock, ServerLock):
                found = await liveness.dead_by_lock(conn, me=self.worker_id, now=utcnow(),
                                                    dead_after=dead_after, mine=self.lock)
            else:
                found = await liveness.dead_by_file(conn, me=self.worker_id, now=utcnow(),
                                                    dead_after=dead_after)
        new = found - self.dead
        self.dead = frozenset(found)
        if new:
            log.warning("worker(s) %s gone (liveness lock free): taking their accounts",
                        ", ".join(sorted(new)))
            self.kick.set()

    async def close(self) -> None:
        """After the worker row is marked stopped: give the lock up."""
        if self.keeping is not None:
            self.keeping.cancel()
            await asyncio.gather(self.keeping, return_exceptions=True)
            self.keeping = None
        if self.lock is not None:
            await self.lock.close()
