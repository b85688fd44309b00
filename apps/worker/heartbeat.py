"""The worker's row in `workers`: registered at start (with its wake-up address), beaten every
`heartbeat_seconds` on a task of its own (peers take the accounts of a worker whose beats stop:
docs/worker.md -> Leases and claims), marked `stopped` at the end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable

from apps.oms.clock import utcnow
from apps.oms.config import WorkerSettings
from apps.oms.store import fleet, sequencer
from apps.oms.store.store import Store, is_store_unreachable
from apps.worker.liveness import Liveness

log = logging.getLogger("apps.worker")
REGISTER_FIRST_RETRY_SECONDS = 0.5  # a store not reachable at start: retry after, doubling
REGISTER_MAX_RETRY_SECONDS = 5.0


class Heartbeat:
    """Registration, the beat and the last word; each beat then renews the leases (`renew`)."""

    def __init__(
        self, settings: WorkerSettings, store: Store, worker_id: str,
        renew: Callable[[], Awaitable[None]], liveness: Liveness,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.worker_id = worker_id
        self.renew = renew  # the leases' backstop expiry, after the worker row
        self.liveness = liveness  # the lock that ends with the process, checked every beat

    async def register(self, stop: asyncio.Event, wake_addr: str | None) -> bool:
        """Register this worker (and the sequencer's state row). A store that cannot be reached
        yet is retried with a backoff until `stop`, as every loop does once running; any other
        error (wrong credentials, an unknown database, no schema) ends the worker at once. The
        liveness lock is taken first: a registered worker whose lock is free is dead.
        False: stopped before registering."""
        delay = REGISTER_FIRST_RETRY_SECONDS
        while not stop.is_set():
            lock = await self.liveness.hold()
            try:
                async with self.store.transaction() as conn:
                    # idempotent: an earlier attempt may have committed and lost its answer
                    await fleet.register_worker(conn, worker_id=self.worker_id,
                                                hostname=socket.gethostname(), pid=os.getpid(),
                                                now=utcnow(), wake_addr=wake_addr,
                                                liveness=lock)
                    await sequencer.ensure_state(conn, utcnow())
                return True
            except Exception as exc:
                if not is_store_unreachable(exc):
                    raise
                log.warning("worker %s cannot reach the store yet (%s: %s); retrying in %.1f s",
                            self.worker_id, type(exc).__name__,
                            str(exc).splitlines()[0][:200] if str(exc) else "", delay)
            with contextlib.suppress(TimeoutError):  # (not a kick's pause: it would clear `stop`)
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, REGISTER_MAX_RETRY_SECONDS)
        return False

    async def run(self, stop: asyncio.Event) -> None:
        """Beat every `heartbeat_seconds` on its own task, so that a long lease round or a busy
        account never delays it; a beat that comes late by more than half an interval is logged
        (the margin before peers declare this worker dead is `missed_heartbeats` intervals)."""
        interval = self.settings.heartbeat_seconds
        due = time.monotonic()
        while not stop.is_set():
            late = time.monotonic() - due
            if late > interval / 2:
                log.warning("heartbeat %.0f ms late (dead after %.1f s without one)",
                            late * 1000, self.settings.dead_after_seconds)
            try:  # first, on its own connection: the beat may fail on a stale pool
                await self.liveness.keep()
            except Exception as exc:
                log.warning("liveness lock check failed: %s: %s", type(exc).__name__, exc)
            try:
                await self.beat()
            except Exception as exc:  # store unreachable: peers may take over; keep trying
                log.warning("heartbeat failed: %s: %s", type(exc).__name__, exc)
            due = time.monotonic() + interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def beat(self) -> None:
        """The worker row first, in its own short transaction (renewing leases may wait for a
        record transaction's row lock), then the leases' backstop expiry."""
        async with self.store.transaction() as conn:
            await fleet.heartbeat(conn, self.worker_id, utcnow())
        await self.renew()

    async def stopped(self) -> None:
        """The last word: peers need not wait for the beats to stop. The liveness lock goes
        after it (a running worker without its lock would read as dead)."""
        try:
            async with self.store.transaction() as conn:
                await fleet.mark_stopped(conn, self.worker_id, utcnow())
        finally:
            await self.liveness.close()
