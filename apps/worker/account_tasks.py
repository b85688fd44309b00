"""The account tasks a worker runs now: one asyncio task per leased account
(`apps/worker/account_task.py`), each over its account's long-lived venue (`venues.py`), all
sharing the worker's group commit and its shared reads. Which leases they run under, and what
becomes of a lease when its task ends, is the lease keeper's (`lease_keeper.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from apps.oms.config import Settings
from apps.oms.exchange.profiles import profile
from apps.oms.service.execution.group import GroupCommit
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.service.reconcile import command_payload
from apps.oms.store.leases import Lease
from apps.oms.store.store import Store
from apps.worker.account_task import AccountTask, fail_unsupported
from apps.worker.shared_reads import SharedReads
from apps.worker.venues import VenueCache, VenueNotReady, load_account

#: called when an account's task ended (None: an account without a venue failed its commands)
Ended = Callable[[Lease, AccountTask | None], None]
log = logging.getLogger("apps.worker")
#: how long an account whose venue could not be checked for now keeps its lease before it is
#: given back (and taken again by the next lease round while it has commands)
NOT_READY_PAUSE = 2.0


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


@dataclass(slots=True)
class Running:
    """An account's task and the lease it runs under."""

    lease: Lease
    task: asyncio.Task[None]
    account_task: AccountTask | None  # None: no venue, its commands are failed


class AccountTasks:
    """Starts, wakes and awaits the account tasks; finished ones stay listed (their lease is
    still held or being given back) until `prune`."""

    def __init__(
        self, settings: Settings, store: Store, worker_id: str, *,
        woken: Callable[[], bool], on_numbered: Callable[[int, float], None],
    ) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.worker_id = worker_id
        self.woken = woken  # the UDP wake-up listener runs: a task's poll is only a backstop
        self.on_numbered = on_numbered  # a record transaction numbered outbox rows
        self.venues = VenueCache(settings, store)
        self.running: dict[int, Running] = {}
        # the batches' transactions of the accounts ready together share one transaction
        self.group = GroupCommit(store) if settings.worker.group_commit else None
        # the account tasks' polls and price looks, read once for all of them
        self.shared = SharedReads(store, lambda: list(self.running))

    def active(self) -> int:
        """Account tasks running now (finished ones leave `running` at the next `prune`)."""
        return sum(1 for running in self.running.values() if not running.task.done())

    def prune(self) -> None:
        self.running = {a: r for a, r in self.running.items() if not r.task.done()}

    def held(self) -> list[Lease]:
        """The leases of the listed tasks, finished ones included."""
        return [running.lease for running in self.running.values()]

    def forget(self, account_id: int) -> None:
        """The account's task ended and its lease is kept elsewhere (parked)."""
        self.running.pop(account_id, None)

    def wake(self, account_id: int) -> bool:
        """New commands for the account: wake its task if it runs here."""
        running = self.running.get(account_id)
        if running is None or running.account_task is None:
            return False
        running.account_task.wake.set()
        return True

    def wake_all(self) -> None:
        """Stopping: every task finishes now, not after its poll pause."""
        for running in self.running.values():
            if running.account_task is not None:
                running.account_task.wake.set()

    async def start(
        self, lease: Lease, stop: asyncio.Event, crowded: Callable[[], bool], ended: Ended
    ) -> None:
        """Load the account, open its venue, run its task (or fail its commands without one)."""
        account = await load_account(self.store, lease.account_id)
        try:
            venue = await self.venues.open(account)
        except VenueNotReady as exc:  # nothing failed: hold the lease a moment, then let it go
            log.warning("%s; trying again", exc)
            task = asyncio.create_task(_pause(stop, NOT_READY_PAUSE))
            task.add_done_callback(lambda _task: ended(lease, None))
            self.running[lease.account_id] = Running(lease, task, None)
            return
        if venue is None:
            rt = AccountRuntime(self.store, self.settings.worker, self.worker_id, lease,
                                account, venue=None, on_numbered=self.on_numbered)  # type: ignore[arg-type]
            task = asyncio.create_task(fail_unsupported(rt, self.venues.problem(account)))
            task.add_done_callback(lambda _task: ended(lease, None))
            self.running[lease.account_id] = Running(lease, task, None)
            return
        rt = AccountRuntime(self.store, self.settings.worker, self.worker_id, lease,
                            account, venue, on_numbered=self.on_numbered)
        reconcile = self.settings.reconcile
        first = None if not profile(account.exchange_id).reconciles_on_lease else {
            **command_payload(reconcile, "short"), "fresh_seconds": reconcile.short_every_seconds}
        self.run(lease, AccountTask(rt, stop, crowded, reconcile_first=first, woken=self.woken(),
                                    group=self.group, shared=self.shared), ended)

    def run(self, lease: Lease, account_task: AccountTask, ended: Ended) -> None:
        """Run an account's task (new, or parked and woken) under `lease`."""
        task = asyncio.create_task(account_task.run())
        task.add_done_callback(lambda _task: ended(lease, account_task))
        self.running[lease.account_id] = Running(lease, task, account_task)

    async def finished(self) -> None:
        """Wait for every listed task to end (stopping: each after its in-flight step)."""
        await asyncio.gather(*(r.task for r in self.running.values()), return_exceptions=True)

    async def close(self) -> None:
        await self.venues.close()
