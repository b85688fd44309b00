"""The worker composition root: `build_worker(settings)`, `run_worker(settings)` and `Worker`,
which wires its parts, starts them in order and stops them cleanly (SIGTERM: in-flight commands
finish, leases are given back, the worker row is marked `stopped`). The parts: the heartbeat
(`heartbeat.py`), the wake-ups (`wakeups.py`), the outbox sequencer (`outbox_sequencer.py`),
the account tasks (`account_tasks.py`), the lease keeper (`lease_keeper.py`) and the feeds
(`feeds.py`); the metrics endpoint (`metrics_endpoint.py`) belongs to the process.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import socket
import uuid

from apps.oms import heap
from apps.oms.config import Settings
from apps.oms.store.file_guard import guard_store_file
from apps.oms.store.store import Store
from apps.worker.account_tasks import AccountTasks
from apps.worker.feeds import Feeds
from apps.worker.heartbeat import Heartbeat
from apps.worker.lease_keeper import LeaseKeeper
from apps.worker.liveness import Liveness
from apps.worker.metrics_endpoint import serve_metrics
from apps.worker.outbox_sequencer import OutboxSequencer
from apps.worker.wakeups import WakeUps

log = logging.getLogger("apps.worker")


class Worker:
    """One worker's parts, wired together: wake-ups reach the account tasks through the lease
    keeper, record transactions report their numbering to the sequencer, each heartbeat renews
    the leases."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.store = store
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.wakeups = WakeUps(settings, store, self.worker_id, self.on_wake)
        self.sequencer = OutboxSequencer(settings.worker, store, self.wakeups)
        self.tasks = AccountTasks(settings, store, self.worker_id,
                                  woken=lambda: self.wakeups.listening,
                                  on_numbered=self.sequencer.numbered)  # fmt: skip
        self.leases = LeaseKeeper(settings.worker, store, self.worker_id, self.tasks,
                                  on_taken=self.sequencer.kick_now)  # fmt: skip
        self.feeds = Feeds(settings, store, self.worker_id)
        self.liveness = Liveness(settings.worker, store, self.worker_id, kick=self.leases.kick)
        self.leases.dead = lambda: self.liveness.dead
        self.heartbeat = Heartbeat(settings.worker, store, self.worker_id,
                                   renew=self.leases.renew, liveness=self.liveness)  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then finish in-flight work and give the leases back."""
        wake_addr = await self.wakeups.listen()
        registered = False
        try:
            registered = await self.heartbeat.register(stop, wake_addr)
        finally:
            if not registered:
                self.wakeups.close_listener()
                await self.liveness.close()
        if not registered:
            log.info("worker %s stopped before it could register", self.worker_id)
            return
        log.info("worker %s started (concurrency %d)", self.worker_id,
                 self.leases.settings.concurrency)
        self.wakeups.start(stop)
        sequencing = asyncio.create_task(self.sequencer.run(stop))
        self.feeds.start(stop)
        kicker = asyncio.create_task(self.kick_on_stop(stop))
        beating = asyncio.create_task(self.heartbeat.run(stop))
        probing = asyncio.create_task(self.liveness.run(stop))
        try:
            await self.leases.run(stop)
        finally:
            kicker.cancel()
            # a beat under way: its lock check waits one interval at most, then its write
            grace = 2 * self.heartbeat.settings.heartbeat_seconds if stop.is_set() else 0.0
            await let_end([beating, probing], grace)
            await asyncio.gather(*self.feeds.cancel_schedule(), return_exceptions=True)
            await self.shutdown(sequencing)

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

    async def shutdown(self, sequencing: asyncio.Task[None]) -> None:
        """Finish, give the leases back, close. The venues are closed whatever happens before
        (a release that fails on the store, the run cancelled while it finishes, as a caller's
        stop deadline does): an exchange instance left open is collected later with its HTTP
        session open."""
        try:
            await asyncio.gather(sequencing, self.feeds.prices_ended(), self.tasks.finished(),
                                 return_exceptions=True)
            await self.leases.release_all()
        finally:
            await self.tasks.close()
        await self.wakeups.close()
        await self.heartbeat.stopped()
        log.info("worker %s stopped", self.worker_id)


async def let_end(tasks: list[asyncio.Task[None]], grace: float) -> None:
    """Let loops that end by themselves at `stop` (the heartbeat, the liveness probe) finish
    what they are doing, for `grace` seconds at most, then cancel what still runs (a store
    that stopped answering). A cancel landing inside a store read leaves the connection's
    close to a shielded task that outlives the worker (the pool disposed, the loop closed
    under it): the connection is collected unclosed."""
    if grace > 0:
        await asyncio.wait(tasks, timeout=grace)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


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
