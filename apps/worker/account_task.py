"""One asyncio task per leased account: claim → execute → record, in strict acceptance order;
between commands, order sync and trigger checks when prices moved; adaptive polling; ends after
a quiet spell with nothing to watch (`quiet`: the worker then parks the lease, and runs the same
task again when the account is woken: `apps/worker/lease_keeper.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from apps.oms.clock import utcnow
from apps.oms.exchange.profiles import profile
from apps.oms.service import breakers
from apps.oms.service.execution import dispatch, reconcile, step
from apps.oms.service.execution.group import GroupCommit
from apps.oms.service.execution.held import check_held
from apps.oms.service.execution.housekeeping import housekeeping_round
from apps.oms.service.execution.order_stream import OrderStream, streaming
from apps.oms.service.execution.results import finish
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.service.execution.sync import drain
from apps.oms.store import books, leases, order_records, queue
from apps.oms.store import reconcile as reconcile_store
from apps.worker.shared_reads import SharedReads

log = logging.getLogger("apps.worker")
SYNC_EVERY = 1.0
# while commands keep coming, housekeeping (order sync, stop-loss/take-profit triggers) still
# runs at least this often: a steady command stream must never starve a stop-loss
BUSY_HOUSEKEEPING = 0.2
# an exchange account's full round (its order sync, SYNC_EVERY) reads no price of its own; the
# orders the gateway holds for it read the exchange's price this often between rounds, while one
# is armed: a held stop fires within about this of the first crossing price (paper accounts'
# rounds already follow every price move). Each look spends one ticker request per symbol and
# price type from the account's request budget
HELD_EVERY = 0.5
IDLE_RELEASE = 5.0
CROWDED_RELEASE = 0.05


class AccountTask:
    def __init__(
        self,
        rt: AccountRuntime,
        stop: asyncio.Event,
        crowded: Callable[[], bool] = bool,
        reconcile_first: dict[str, Any] | None = None,
        woken: bool = False,  # the worker's UDP wake-up listener runs (apps/oms/wakeup.py)
        group: GroupCommit | None = None,  # the worker's group commit of ready accounts' steps
        shared: SharedReads | None = None,  # the worker's reads shared by its account tasks
    ) -> None:
        self.rt = rt
        self.shared = shared or SharedReads(rt.store, lambda: [rt.account_id])
        self.group = group
        self.woken = woken
        self.stop = stop
        self.crowded = crowded  # other accounts wait for a slot: give this one back sooner
        self.wake = asyncio.Event()  # set by a wake-up: new commands for this account
        self._prices: int | None = None
        self._last_sync = 0.0
        self._last_look = 0.0  # last housekeeping round (monotonic)
        self._last_held = 0.0  # last look at the held orders' prices (monotonic)
        # a CCXT account is reconciled before its first command: whatever happened on the
        # venue while no worker held it (fills, external orders) is in the books first
        self.reconcile_first = reconcile_first
        self.quiet = False  # the last run ended because the account went quiet (nothing else)
        # the venue's private order stream while this task runs (None: the venue has none)
        self.stream: OrderStream | None = None
        self._streamed = False  # the stream delivered something not booked yet
        self._streamed_at = 0.0  # when a drain last booked something (monotonic)

    async def run(self) -> None:
        """Loop until stop, lease loss or idleness; never raises. May run again after it
        ended quiet (a parked lease woken)."""
        self.quiet = False
        venue = streaming(self.rt.venue)
        if venue is not None:
            self.stream = OrderStream(venue, self.rt.account_id, self._on_stream)
            self.stream.start()
        try:
            await self._reconcile_first()
            await self._loop()
        except (leases.LeaseLost, queue.Fenced) as exc:
            log.warning("account %s: %s", self.rt.account_id, exc)
        except Exception:
            log.exception("account %s task failed", self.rt.account_id)
        finally:
            if self.stream is not None:
                await self.stream.stop()
                self.stream = None

    def _on_stream(self) -> None:
        """The stream delivered: the task wakes and books it before anything else."""
        self._streamed = True
        self.wake.set()

    async def _reconcile_first(self) -> None:
        if self.reconcile_first is None or await self._reconciled_recently():
            return
        try:
            await reconcile.run(self.rt, self.reconcile_first, None)
        except (leases.LeaseLost, queue.Fenced):
            raise
        except Exception as exc:  # venue down: commands still run; the schedule retries
            log.warning("account %s: reconcile before the first command failed: %s",
                        self.rt.account_id, exc)

    async def _reconciled_recently(self) -> bool:
        """A run within the last short period: no need for another before the first command
        (leases come and go with idle spells)."""
        assert self.reconcile_first is not None  # noqa: S101 - checked by the caller
        fresh = float(self.reconcile_first.get("fresh_seconds") or 0)
        async with self.rt.store.read() as conn:
            rows = await reconcile_store.status_rows(conn, [self.rt.account_id])
        run = rows[0]["run"] if rows else None
        if run is None or not fresh:
            return False
        return bool((utcnow() - run["last_run_at"]).total_seconds() < fresh)

    async def _loop(self) -> None:
        settings = self.rt.settings
        # with wake-ups the API wakes this task on every accept: polling is only a backstop, and
        # each empty poll costs a transaction and a price read (docs/worker.md -> Wake-ups)
        first = settings.poll_max_ms / 2000 if self.woken else settings.poll_min_ms / 1000
        interval = first
        idle_since = time.monotonic()
        probe = False
        while not self.stop.is_set():
            if await self._step(probe):
                interval, idle_since, probe = first, time.monotonic(), False
                continue
            # an account whose stream books fills is not idle (and its lease needs no check of
            # what it watches on every wake-up)
            quiet = time.monotonic() - max(idle_since, self._streamed_at)
            limit = CROWDED_RELEASE if self.crowded() else IDLE_RELEASE
            # at capacity with other accounts waiting, a quiet account gives its slot back even
            # while it watches resting orders or targets: accounts rotate rather than starve
            # (it has work, so a lease round takes it back); otherwise watching keeps the lease
            if quiet > limit and (self.crowded() or not await self._watching()):
                self.quiet = True
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), interval)
            # a timed poll with wake-ups running: a new command would have woken this task, so
            # a plain read asks first, and the batch transaction opens only if there is work
            # (also when the stream woke it: the stream's news alone is no command)
            probe = self.woken and (not self.wake.is_set() or self._streamed)
            self.wake.clear()
            interval = min(interval * 2, settings.poll_max_ms / 1000)

    async def _step(self, probe: bool = False) -> bool:
        """One unit of work: a batch of sends or a command, else housekeeping. True if
        anything happened. Housekeeping also runs at least every BUSY_HOUSEKEEPING while commands
        keep coming. `probe`: ask with a plain read whether anything is unfinished before the
        queue step's transaction (an empty poll costs one read instead of a transaction).
        What the private stream delivered is booked first; that alone counts as nothing
        happening (the task then waits again rather than polls the queue)."""
        await self._book_streamed()
        worth_a_step = not probe or await self._has_work()
        if worth_a_step and await step.run_next(self.rt, self.stop, self.group):
            if time.monotonic() - self._last_look >= BUSY_HOUSEKEEPING:
                await self._housekeeping()
            return True
        return await self._housekeeping()

    async def _book_streamed(self) -> None:
        if self._streamed and self.stream is not None:
            self._streamed = False
            if await drain(self.rt, self.stream):
                self._streamed_at = time.monotonic()

    async def _housekeeping(self) -> bool:
        self._last_look = now = time.monotonic()
        prices = await self._price_version()
        due = now - self._last_sync >= SYNC_EVERY
        if prices == self._prices and not due:
            if not held_look_due(now - self._last_held, self.rt.held_armed,
                                 profile(self.rt.account.exchange_id).prices_in_store):
                return False
            self._last_held = now
            return await check_held(self.rt) > 0
        self._prices, self._last_sync, self._last_held = prices, now, now
        return await housekeeping_round(self.rt, self.stream) > 0

    async def _has_work(self) -> bool:
        return await self.shared.has_unfinished(self.rt.account_id)

    async def _watching(self) -> bool:
        """Open venue orders, orders the gateway holds, targets or armed loss breakers over
        open positions to watch keep the lease even when idle."""
        async with self.rt.store.read() as conn:
            live = await order_records.open_orders(conn, self.rt.account_id)
            watched = await books.positions_with_targets(conn, self.rt.account_id)
        if watched or any(o["exchange_order_id"] is not None or o["emulation"] == "gateway"
                          for o in live):
            return True
        return await breakers.keeps_watch(self.rt.store, self.rt.account_id)

    async def _price_version(self) -> int:
        """Sum of the paper price sequences: changes whenever any shared price moves."""
        if not profile(self.rt.account.exchange_id).prices_in_store:
            return 0
        return await self.shared.price_version()


def held_look_due(since: float, armed: bool, prices_in_store: bool) -> bool:
    """Whether an account's held orders read prices now, between its full rounds: `since`
    seconds after their last look, while one is armed, on a venue whose prices are not in the
    store (a paper account's round runs on every price move already)."""
    return armed and not prices_in_store and since >= HELD_EVERY


async def fail_unsupported(rt: AccountRuntime, problem: str | None = None) -> None:
    """An account without a usable venue: fail its commands instead of leaving them queued; an
    order they created ends `REJECTED` with the reason, in the same transaction."""
    message = problem or f"no venue adapter for {rt.account.exchange_id}"
    while (cmd := await dispatch.claim(rt)) is not None:
        async with rt.record(cmd) as rec:
            await dispatch.reject_unsent_order(rec, cmd, "venue_unavailable", message)
            await finish(rec, cmd, error_code="venue_unavailable", error_message=message)
