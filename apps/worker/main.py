"""The worker composition root: `build_worker(settings)`; registers and heartbeats, takes account
leases, runs one task per leased account and the outbox sequencer, stops cleanly on SIGTERM
(in-flight commands finish, leases are released).

Parked leases: an account task that goes quiet ends, but its lease stays this worker's (renewed
with the running ones) for up to `worker.park_seconds`; a wake-up for the account, or the lease
loop finding it with work, runs the same task again at once. With many accounts each active now
and then, every command otherwise paid a lease round (take, load, start) and a release.
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from apps.oms import heap
from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.exchange.profiles import profile
from apps.oms.service.execution.group import GroupCommit
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.service.reconcile import command_payload
from apps.oms.store import fleet, leases, sequencer
from apps.oms.store.file_guard import guard_store_file
from apps.oms.store.leases import Lease
from apps.oms.store.store import Store, is_store_unreachable
from apps.worker.account_task import AccountTask, fail_unsupported
from apps.worker.metrics_endpoint import serve_metrics
from apps.worker.outbox_sequencer import OutboxSequencer
from apps.worker.price_feed import PriceScheduler
from apps.worker.scheduler import schedule_loop
from apps.worker.shared_reads import SharedReads
from apps.worker.venues import VenueCache, load_account
from apps.worker.wakeups import Kick, WakeUps

log = logging.getLogger("apps.worker")
REGISTER_FIRST_RETRY_SECONDS = 0.5  # a store not reachable at start: retry after, doubling
REGISTER_MAX_RETRY_SECONDS = 5.0


@dataclass(slots=True)
class Parked:
    """A quiet account's lease kept by this worker, and the task to run again when woken."""

    lease: Lease
    task: AccountTask
    since: float  # monotonic


class Worker:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.venues = VenueCache(settings, store)
        self.tasks: dict[int, tuple[Lease, asyncio.Task[None]]] = {}
        self.account_tasks: dict[int, AccountTask] = {}
        # set by wake-ups for accounts not running here: cut the lease loop's pause short
        self.lease_kick = Kick()
        self.wakeups = WakeUps(settings, store, self.worker_id, self.on_wake)
        self.sequencer = OutboxSequencer(settings.worker, store, self.wakeups)
        self.passed_over: dict[int, float] = {}  # free accounts left to peers, since when
        self.crowded = False  # at capacity while other accounts have work
        self.releasing: set[asyncio.Task[None]] = set()  # background lease releases
        # accounts whose lease is being given back: still this worker's in the store, so they
        # count towards its fair share until the release commits (else it could take another)
        self.releasing_accounts: set[int] = set()
        self.renewed_at = 0.0  # last renewal of the leases' backstop expiry (monotonic)
        self.parked: dict[int, Parked] = {}  # quiet accounts whose lease this worker keeps
        self.parked_woken: set[int] = set()  # parked and woken while every slot was taken
        self.stopping: asyncio.Event | None = None  # `run`'s stop
        # the paper market's price source: driven by one worker at a time (apps/worker/price_feed)
        self.price_scheduler = PriceScheduler(settings, store, self.worker_id)
        self.prices: asyncio.Task[None] | None = None
        # the batches' transactions of the accounts ready together share one transaction
        self.group = GroupCommit(store) if settings.worker.group_commit else None
        # the account tasks' polls and price looks, read once for all of them
        self.shared = SharedReads(store, lambda: list(self.tasks))

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then finish in-flight work and give the leases back."""
        self.stopping = stop
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
            await self.lease_loop(stop)
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
            task = self.account_tasks.get(account_id)
            if task is not None and account_id in self.tasks:
                task.wake.set()
            elif account_id in self.parked:
                if self.stopping is not None and self.stopping.is_set():
                    continue  # stopping: its lease is given back with the others
                if self.running() < self.settings.worker.concurrency:
                    self.resume(account_id)
                else:  # every slot taken: the lease loop sees it crowded and makes room
                    self.parked_woken.add(account_id)
                    self.lease_kick.set()
            else:
                self.lease_kick.set()
                self.sequencer.coverage.kicked_now()
        self.sequencer.kick.set()  # acceptance wrote outbox events to number

    async def kick_on_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.lease_kick.set()
        self.sequencer.kick_now()
        for task in self.account_tasks.values():  # finish now, not after their poll pause
            task.wake.set()

    async def schedule(self, stop: asyncio.Event) -> None:
        """The reconciliation schedule (`apps/worker/scheduler.py`), when switched on."""
        if self.settings.reconcile.schedule:
            await schedule_loop(self.store, self.settings.reconcile, stop)

    async def lease_loop(self, stop: asyncio.Event) -> None:
        cfg = self.settings.worker
        while not stop.is_set():
            self.tasks = {a: t for a, t in self.tasks.items() if not t[1].done()}
            self.account_tasks = {a: t for a, t in self.account_tasks.items() if a in self.tasks}
            try:
                if len(self.tasks) < cfg.concurrency:
                    await self.acquire(stop)
                else:
                    await self.check_crowded()
            except Exception:  # store unreachable: keep trying; leases expire meanwhile
                log.exception("lease loop round failed")
            await self.lease_kick.pause(cfg.poll_max_ms / 1000)

    def running(self) -> int:
        """Account tasks running now (finished ones leave `tasks` at the next lease round)."""
        return sum(1 for _, task in self.tasks.values() if not task.done())

    async def acquire(self, stop: asyncio.Event) -> None:
        """Run parked accounts that have work again, then take leases up to this worker's fair
        share among the live workers (see `leases.acquire`; parked ones count as held);
        accounts left free for a peer that has not taken them after a grace period (several of
        its rounds) are taken then."""
        cfg = self.settings.worker
        async with self.store.transaction() as conn:
            now = utcnow()
            dead_after = cfg.dead_after_seconds
            alive = await fleet.alive_workers(conn, now, timedelta(seconds=dead_after))
            clock = time.monotonic()
            grace = max(1.0, 5 * cfg.poll_max_ms / 1000)  # several of a peer's rounds
            overdue = {a for a, since in self.passed_over.items() if clock - since >= grace}
            busy = set(self.tasks) | self.releasing_accounts
            every = await leases.accounts_with_work(conn, 1000)
            due = [a for a in every if a in self.parked] + sorted(
                self.parked_woken.intersection(self.parked).difference(every))
            due = due[: max(0, cfg.concurrency - len(busy))]
            taken, left = await leases.acquire(
                conn, owner=self.worker_id, now=now, lease_seconds=cfg.lease_seconds,
                limit=cfg.concurrency - len(busy) - len(due),
                exclude=busy | set(self.parked), dialect=self.store.dialect, workers=alive,
                overdue=overdue, dead_after=dead_after, with_work=every)
        self.passed_over = {a: self.passed_over.get(a, clock) for a in left}
        if taken:  # a takeover wrote `account_owner_changed` events: number them now
            self.sequencer.kick_now()
        for account_id in due:
            if account_id in self.parked and self.running() < cfg.concurrency:
                self.resume(account_id)
        for lease in taken:
            await self.start_account(lease, stop)
        self.crowded = False

    async def check_crowded(self) -> None:
        async with self.store.read() as conn:
            waiting = await leases.accounts_with_work(conn, len(self.tasks) + 1)
        self.crowded = bool(set(waiting) - set(self.tasks)) or bool(self.parked_woken)

    async def start_account(self, lease: Lease, stop: asyncio.Event) -> None:
        account = await load_account(self.store, lease.account_id)
        venue = await self.venues.open(account)
        if venue is None:
            rt = AccountRuntime(self.store, self.settings.worker, self.worker_id, lease,
                                account, venue=None, on_numbered=self.sequencer.numbered)  # type: ignore[arg-type]
            task = asyncio.create_task(fail_unsupported(rt, self.venues.problem(account)))
            task.add_done_callback(self._ended_callback(lease, None))
            self.tasks[lease.account_id] = (lease, task)
            return
        rt = AccountRuntime(self.store, self.settings.worker, self.worker_id, lease,
                            account, venue, on_numbered=self.sequencer.numbered)
        first = None if not profile(account.exchange_id).reconciles_on_lease else {
            **command_payload(self.settings.reconcile, "short"),
            "fresh_seconds": self.settings.reconcile.short_every_seconds}
        self.run_task(lease, AccountTask(rt, stop, lambda: self.crowded, reconcile_first=first,
                                         woken=self.wakeups.listening,
                                         group=self.group, shared=self.shared))

    def run_task(self, lease: Lease, account_task: AccountTask) -> None:
        self.account_tasks[lease.account_id] = account_task
        task = asyncio.create_task(account_task.run())
        task.add_done_callback(self._ended_callback(lease, account_task))
        self.tasks[lease.account_id] = (lease, task)

    def resume(self, account_id: int) -> None:
        """Run a parked account's task again (the caller checked there is a free slot)."""
        parked = self.parked.pop(account_id)
        self.parked_woken.discard(account_id)
        self.run_task(parked.lease, parked.task)

    def _ended_callback(
        self, lease: Lease, account_task: AccountTask | None
    ) -> Callable[[asyncio.Task[None]], None]:
        return lambda _task: self._ended(lease, account_task)

    def _ended(self, lease: Lease, account_task: AccountTask | None) -> None:
        """A task ended. Quiet: park its lease, and run it again at once if it was woken
        meanwhile (or another parked account woken while every slot was taken); otherwise
        (lease lost, failed, stopping) give the lease back."""
        cfg = self.settings.worker
        parks = (account_task is not None and account_task.quiet and cfg.park_seconds > 0
                 and len(self.parked) < cfg.park_max
                 and self.stopping is not None and not self.stopping.is_set())  # fmt: skip
        if not parks or account_task is None:
            self._released(lease)
            return
        self.tasks.pop(lease.account_id, None)
        self.account_tasks.pop(lease.account_id, None)
        self.parked[lease.account_id] = Parked(lease, account_task, time.monotonic())
        if account_task.wake.is_set():
            self.parked_woken.add(lease.account_id)
        woken = sorted(self.parked_woken)
        if woken and self.running() < cfg.concurrency:
            self.resume(lease.account_id if lease.account_id in woken else woken[0])

    def unpark_stale(self) -> None:
        """Give back the leases parked longer than `park_seconds` (the account may be taken by
        any worker again: a peer that started later gets its share)."""
        limit = time.monotonic() - self.settings.worker.park_seconds
        for account_id in [a for a, p in self.parked.items() if p.since <= limit]:
            self.parked_woken.discard(account_id)
            self._released(self.parked.pop(account_id).lease)

    def _released(self, lease: Lease) -> None:
        """Give a lease back in the background (tracked: `shutdown` waits for these, or one
        could still hold a pooled connection while the store is closed and leak it — the
        intermittent "unclosed" ResourceWarning in tests)."""
        task = asyncio.get_running_loop().create_task(self.release([lease]))
        self.releasing.add(task)
        self.releasing_accounts.add(lease.account_id)

        def done(finished: asyncio.Task[None]) -> None:
            self.releasing.discard(finished)
            self.releasing_accounts.discard(lease.account_id)

        task.add_done_callback(done)

    async def release(self, held: list[Lease]) -> None:
        with contextlib.suppress(Exception):
            async with self.store.transaction() as conn:
                await leases.release(conn, held, owner=self.worker_id)

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
        cfg = self.settings.worker
        async with self.store.transaction() as conn:
            await fleet.heartbeat(conn, self.worker_id, utcnow())
        self.unpark_stale()
        parked = {a: p.lease for a, p in self.parked.items()}
        held = [lease for lease, _ in self.tasks.values()] + list(parked.values())
        # the expiry is a backstop: renewing it a few times per lease length is enough
        if held and time.monotonic() - self.renewed_at >= cfg.lease_seconds / 4:
            async with self.store.transaction() as conn:
                renewed = await leases.renew(conn, held, owner=self.worker_id, now=utcnow(),
                                             seconds=cfg.lease_seconds)
            self.renewed_at = time.monotonic()
            self.drop_lost(parked, renewed)

    def drop_lost(self, parked: dict[int, Lease], renewed: set[int]) -> None:
        """Parked leases the renewal found no longer ours (expired, taken): forget them."""
        for account_id, lease in parked.items():
            now_parked = self.parked.get(account_id)
            if account_id not in renewed and now_parked is not None and now_parked.lease == lease:
                log.warning("account %s: parked lease epoch %s lost", account_id, lease.epoch)
                del self.parked[account_id]
                self.parked_woken.discard(account_id)

    async def shutdown(self, sequencing: asyncio.Task[None]) -> None:
        prices = [self.prices] if self.prices is not None else []
        await asyncio.gather(sequencing, *prices, *(t for _, t in self.tasks.values()),
                             return_exceptions=True)
        await self.release([lease for lease, _ in self.tasks.values()]
                           + [parked.lease for parked in self.parked.values()])
        self.parked.clear()
        await asyncio.sleep(0)  # let the tasks' done callbacks start their releases
        await asyncio.gather(*self.releasing, return_exceptions=True)
        await self.venues.close()
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
