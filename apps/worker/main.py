"""The worker composition root: `build_worker(settings)`, `run_worker(settings)` and `Worker`,
which starts its parts in order and stops them in the reverse (SIGTERM: in-flight commands
finish, leases are given back, the worker row is marked `stopped`). The parts: the wake-ups
(`wakeups.py`), the outbox sequencer (`outbox_sequencer.py`), the account tasks
(`account_tasks.py`) and the lease keeper (`lease_keeper.py`); the metrics endpoint
(`metrics_endpoint.py`) belongs to the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import socket
import time
import uuid

from apps.oms import heap
from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.store import fleet, sequencer
from apps.oms.store.file_guard import guard_store_file
from apps.oms.store.store import Store, is_store_unreachable
from apps.worker.account_tasks import AccountTasks
from apps.worker.lease_keeper import LeaseKeeper
from apps.worker.metrics_endpoint import serve_metrics
from apps.worker.outbox_sequencer import OutboxSequencer
from apps.worker.price_feed import PriceScheduler
from apps.worker.scheduler import schedule_loop
from apps.worker.wakeups import WakeUps

log = logging.getLogger("apps.worker")
REGISTER_FIRST_RETRY_SECONDS = 0.5  # a store not reachable at start: retry after, doubling
REGISTER_MAX_RETRY_SECONDS = 5.0


class Worker:
    """One worker's parts, wired together: wake-ups reach the account tasks through the lease
    keeper, record transactions report their numbering to the sequencer, each heartbeat renews
    the leases."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.wakeups = WakeUps(settings, store, self.worker_id, self.on_wake)
        self.sequencer = OutboxSequencer(settings.worker, store, self.wakeups)
        self.tasks = AccountTasks(settings, store, self.worker_id,
                                  woken=lambda: self.wakeups.listening,
                                  on_numbered=self.sequencer.numbered)  # fmt: skip
        self.leases = LeaseKeeper(settings.worker, store, self.worker_id, self.tasks,
                                  on_taken=self.sequencer.kick_now)  # fmt: skip
        # the paper market's price source: driven by one worker at a time (apps/worker/price_feed)
        self.price_scheduler = PriceScheduler(settings, store, self.worker_id)
        self.prices: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then finish in-flight work and give the leases back."""
        wake_addr = await self.wakeups.listen()
        registered = False
        try:
            registered = await self.register(stop, wake_addr)
        finally:
            if not registered:
                self.wakeups.close_listener()
        if not registered:
            log.info("worker %s stopped before it could register", self.worker_id)
            return
        log.info("worker %s started (concurrency %d)", self.worker_id,
                 self.settings.worker.concurrency)
        self.wakeups.start(stop)
        sequencing = asyncio.create_task(self.sequencer.run(stop))
        self.prices = asyncio.create_task(self.price_scheduler.run(stop))
        kicker = asyncio.create_task(self.kick_on_stop(stop))
        beating = asyncio.create_task(self.heartbeat_loop(stop))
        scheduling = asyncio.create_task(self.schedule(stop))
        try:
            await self.leases.run(stop)
        finally:
            kicker.cancel()
            beating.cancel()
            scheduling.cancel()
            await asyncio.gather(beating, scheduling, return_exceptions=True)
            await self.shutdown(sequencing)

    async def register(self, stop: asyncio.Event, wake_addr: str | None) -> bool:
        """Register this worker (and the sequencer's state row). A store that cannot be reached
        yet is retried with a backoff until `stop`, as every loop does once running; any other
        error (wrong credentials, an unknown database, no schema) ends the worker at once.
        False: stopped before registering."""
        delay = REGISTER_FIRST_RETRY_SECONDS
        while not stop.is_set():
            try:
                async with self.store.transaction() as conn:
                    # idempotent: an earlier attempt may have committed and lost its answer
                    await fleet.register_worker(conn, worker_id=self.worker_id,
                                                hostname=socket.gethostname(), pid=os.getpid(),
                                                now=utcnow(), wake_addr=wake_addr)
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

    def on_wake(self, account_ids: list[int]) -> None:
        """Accounts got work: wake their tasks here, or the lease loop to take them. The
        accepts' events are numbered by the woken tasks' next record transaction; the sequencer
        runs a round only if none did soon (`apps/worker/numbering.py`), or at once when an
        account's task does not run here."""
        for account_id in account_ids:
            if not self.leases.wake(account_id):
                self.sequencer.coverage.kicked_now()
        self.sequencer.kick.set()  # acceptance wrote outbox events to number

    async def kick_on_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.leases.kick.set()
        self.sequencer.kick_now()
        self.tasks.wake_all()  # finish now, not after their poll pause

    async def schedule(self, stop: asyncio.Event) -> None:
        """The reconciliation schedule (`apps/worker/scheduler.py`), when switched on."""
        if self.settings.reconcile.schedule:
            await schedule_loop(self.store, self.settings.reconcile, stop)

    async def heartbeat_loop(self, stop: asyncio.Event) -> None:
        """Beat every `heartbeat_seconds` on its own task, so that a long lease round or a busy
        account never delays it; a beat that comes late by more than half an interval is logged
        (the margin before peers declare this worker dead is `missed_heartbeats` intervals)."""
        interval = self.settings.worker.heartbeat_seconds
        due = time.monotonic()
        while not stop.is_set():
            late = time.monotonic() - due
            if late > interval / 2:
                log.warning("heartbeat %.0f ms late (dead after %.1f s without one)",
                            late * 1000, self.settings.worker.dead_after_seconds)
            try:
                await self.heartbeat()
            except Exception as exc:  # store unreachable: peers may take over; keep trying
                log.warning("heartbeat failed: %s: %s", type(exc).__name__, exc)
            due = time.monotonic() + interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def heartbeat(self) -> None:
        """The worker row first, in its own short transaction (renewing leases may wait for a
        record transaction's row lock), then the leases' backstop expiry."""
        async with self.store.transaction() as conn:
            await fleet.heartbeat(conn, self.worker_id, utcnow())
        await self.leases.renew()

    async def shutdown(self, sequencing: asyncio.Task[None]) -> None:
        prices = [self.prices] if self.prices is not None else []
        await asyncio.gather(sequencing, *prices, self.tasks.finished(), return_exceptions=True)
        await self.leases.release_all()
        await self.tasks.close()
        await self.wakeups.close()
        async with self.store.transaction() as conn:
            await fleet.mark_stopped(conn, self.worker_id, utcnow())
        log.info("worker %s stopped", self.worker_id)


def idle_transaction_seconds(dead_after: float) -> int:
    """The server-side idle-transaction limit of a worker's sessions (whole seconds, at least
    one): half the dead-after time, so locks a vanished worker held are gone by the time its
    accounts are taken."""
    return max(1, math.ceil(dead_after / 2))


def build_worker(settings: Settings) -> Worker:
    # one connection per leased account task, plus the lease loop, the heartbeat, the sequencer,
    # the reconcile scheduler and the paper price scheduler
    pool = settings.worker.concurrency + 5
    # a paused or cut-off worker must not keep its lease rows locked past the point where it
    # counts as dead: the server ends a transaction idle for half the dead-after time (a link
    # cut mid-transaction left the rows locked ~4 s with the whole dead-after time, and a
    # takeover waited for them: docs/worker.md)
    idle = idle_transaction_seconds(settings.worker.dead_after_seconds)
    store = Store.from_url(settings.database.url, pool_size=pool, idle_transaction_timeout=idle)
    guard_store_file(store.engine)
    return Worker(settings, store)


async def run_worker(settings: Settings) -> None:
    """Run one worker process until SIGTERM or SIGINT (with its metrics endpoint if set)."""
    close_metrics = serve_metrics(settings)
    worker = build_worker(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    heap.settle("worker")  # imports done: out of full GC walks (apps/oms/heap.py)
    try:
        await worker.run(stop)
    finally:
        await worker.store.close()
        if close_metrics is not None:
            close_metrics()
