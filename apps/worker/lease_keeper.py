"""The worker's account leases: the lease round (take up to its fair share, docs/worker.md ->
Leases and claims), their renewal with the heartbeat, giving them back, and parked leases.

Parked leases: an account task that goes quiet ends, but its lease stays this worker's (renewed
with the running ones) for up to `worker.park_seconds`; a wake-up for the account, or the lease
round finding it with work, runs the same task again at once. With many accounts each active now
and then, every command otherwise paid a lease round (take, load, start) and a release.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from apps.oms.clock import utcnow
from apps.oms.config import WorkerSettings
from apps.oms.store import fleet, leases
from apps.oms.store.leases import Lease
from apps.oms.store.store import Store
from apps.worker.account_task import AccountTask
from apps.worker.account_tasks import AccountTasks
from apps.worker.wakeups import Kick

log = logging.getLogger("apps.worker")


@dataclass(slots=True)
class Parked:
    """A quiet account's lease kept by this worker, and the task to run again when woken."""

    lease: Lease
    task: AccountTask
    since: float  # monotonic


class LeaseKeeper:
    """Which accounts this worker holds, and under which lease each account task runs."""

    def __init__(
        self, settings: WorkerSettings, store: Store, worker_id: str, tasks: AccountTasks,
        on_taken: Callable[[], None],
    ) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.worker_id = worker_id
        self.tasks = tasks
        self.on_taken = on_taken  # a takeover wrote `account_owner_changed` events to number
        # peers the liveness probe found dead (apps/worker/liveness.py): taken over at once
        self.dead: Callable[[], frozenset[str]] = frozenset
        # set by wake-ups for accounts not running here: cut the lease round's pause short
        self.kick = Kick()
        self.stop: asyncio.Event | None = None  # the worker's stop, once the lease loop runs
        self.crowded = False  # at capacity while other accounts have work
        self.passed_over: dict[int, float] = {}  # free accounts left to peers, since when
        # background lease releases and their accounts: still this worker's in the store, so
        # they count towards its fair share until the release commits (else it could take
        # another)
        self.releasing: dict[asyncio.Task[None], int] = {}
        self.renewed_at = 0.0  # last renewal of the leases' backstop expiry (monotonic)
        self.parked: dict[int, Parked] = {}  # quiet accounts whose lease this worker keeps
        self.parked_woken: set[int] = set()  # parked and woken while every slot was taken

    async def run(self, stop: asyncio.Event) -> None:
        """Lease rounds every `poll_max_ms` (sooner when kicked) until `stop`."""
        self.stop = stop
        cfg = self.settings
        while not stop.is_set():
            self.tasks.prune()
            try:
                if len(self.tasks.running) < cfg.concurrency:
                    await self.acquire(stop)
                else:
                    await self.check_crowded()
            except Exception:  # store unreachable: keep trying; leases expire meanwhile
                log.exception("lease loop round failed")
            await self.kick.pause(cfg.poll_max_ms / 1000)

    async def acquire(self, stop: asyncio.Event) -> None:
        """Run parked accounts that have work again, then take leases up to this worker's fair
        share among the live workers (see `leases.acquire`; parked ones count as held);
        accounts left free for a peer that has not taken them after a grace period (several of
        its rounds) are taken then."""
        cfg = self.settings
        async with self.store.transaction() as conn:
            now = utcnow()
            dead_after = cfg.dead_after_seconds
            dead = self.dead()  # alive by heartbeat, so counted in `alive` below
            alive = await fleet.alive_workers(conn, now, timedelta(seconds=dead_after))
            alive = max(1, alive - len(dead))
            clock = time.monotonic()
            grace = max(1.0, 5 * cfg.poll_max_ms / 1000)  # several of a peer's rounds
            overdue = {a for a, since in self.passed_over.items() if clock - since >= grace}
            busy = set(self.tasks.running) | set(self.releasing.values())
            every = await leases.accounts_with_work(conn, 1000)
            due = [a for a in every if a in self.parked] + sorted(
                self.parked_woken.intersection(self.parked).difference(every))
            due = due[: max(0, cfg.concurrency - len(busy))]
            taken, left = await leases.acquire(
                conn, owner=self.worker_id, now=now, lease_seconds=cfg.lease_seconds,
                limit=cfg.concurrency - len(busy) - len(due),
                exclude=busy | set(self.parked), dialect=self.store.dialect, workers=alive,
                overdue=overdue, dead_after=dead_after, with_work=every, dead=dead)
        self.passed_over = {a: self.passed_over.get(a, clock) for a in left}
        if taken:  # a takeover wrote `account_owner_changed` events: number them now
            self.on_taken()
        for account_id in due:
            if account_id in self.parked and self.tasks.active() < cfg.concurrency:
                self.resume(account_id)
        for lease in taken:
            await self.tasks.start(lease, stop, lambda: self.crowded, self.ended)
        self.crowded = False

    async def check_crowded(self) -> None:
        async with self.store.read() as conn:
            waiting = await leases.accounts_with_work(conn, len(self.tasks.running) + 1)
        self.crowded = bool(set(waiting) - set(self.tasks.running)) or bool(self.parked_woken)

    def wake(self, account_id: int) -> bool:
        """The account got work: wake its task here, run its parked task again, or kick the
        lease round to take it. False for the last (no task here numbers the accept's events)."""
        if self.tasks.wake(account_id):
            return True
        if account_id not in self.parked:
            self.kick.set()
            return False
        if self.stop is not None and self.stop.is_set():
            return True  # stopping: its lease is given back with the others
        if self.tasks.active() < self.settings.concurrency:
            self.resume(account_id)
        else:  # every slot taken: the lease round sees it crowded and makes room
            self.parked_woken.add(account_id)
            self.kick.set()
        return True

    def resume(self, account_id: int) -> None:
        """Run a parked account's task again (the caller checked there is a free slot)."""
        parked = self.parked.pop(account_id)
        self.parked_woken.discard(account_id)
        self.tasks.run(parked.lease, parked.task, self.ended)

    def ended(self, lease: Lease, account_task: AccountTask | None) -> None:
        """A task ended. Quiet: park its lease, and run it again at once if it was woken
        meanwhile (or another parked account woken while every slot was taken); otherwise
        (lease lost, failed, stopping) give the lease back."""
        cfg = self.settings
        parks = (account_task is not None and account_task.quiet and cfg.park_seconds > 0
                 and len(self.parked) < cfg.park_max
                 and self.stop is not None and not self.stop.is_set())  # fmt: skip
        if not parks or account_task is None:
            self.release_later(lease)
            return
        self.tasks.forget(lease.account_id)
        self.parked[lease.account_id] = Parked(lease, account_task, time.monotonic())
        if account_task.wake.is_set():
            self.parked_woken.add(lease.account_id)
        woken = sorted(self.parked_woken)
        if woken and self.tasks.active() < cfg.concurrency:
            self.resume(lease.account_id if lease.account_id in woken else woken[0])

    def unpark_stale(self) -> None:
        """Give back the leases parked longer than `park_seconds` (the account may be taken by
        any worker again: a peer that started later gets its share)."""
        limit = time.monotonic() - self.settings.park_seconds
        for account_id in [a for a, p in self.parked.items() if p.since <= limit]:
            self.parked_woken.discard(account_id)
            self.release_later(self.parked.pop(account_id).lease)

    def release_later(self, lease: Lease) -> None:
        """Give a lease back in the background (tracked: `release_all` waits for these, or one
        could still hold a pooled connection while the store is closed and leak it — the
        intermittent "unclosed" ResourceWarning in tests)."""
        task = asyncio.get_running_loop().create_task(self.release([lease]))
        self.releasing[task] = lease.account_id
        task.add_done_callback(lambda finished: self.releasing.pop(finished, None))

    async def release(self, held: list[Lease]) -> None:
        with contextlib.suppress(Exception):
            async with self.store.transaction() as conn:
                await leases.release(conn, held, owner=self.worker_id)

    async def renew(self) -> None:
        """With each heartbeat: give back stale parked leases, then renew the backstop expiry
        of every lease held (running and parked), forgetting parked ones found lost."""
        self.unpark_stale()
        parked = {a: p.lease for a, p in self.parked.items()}
        held = self.tasks.held() + list(parked.values())
        # the expiry is a backstop: renewing it a few times per lease length is enough
        if held and time.monotonic() - self.renewed_at >= self.settings.lease_seconds / 4:
            async with self.store.transaction() as conn:
                renewed = await leases.renew(conn, held, owner=self.worker_id, now=utcnow(),
                                             seconds=self.settings.lease_seconds)
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

    async def release_all(self) -> None:
        """Stopping, once the account tasks ended: give every lease back (parked ones too) and
        wait for the background releases."""
        await self.release(self.tasks.held() + [parked.lease for parked in self.parked.values()])
        self.parked.clear()
        await asyncio.sleep(0)  # let the tasks' done callbacks start their releases
        await asyncio.gather(*self.releasing, return_exceptions=True)
