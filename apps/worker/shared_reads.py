"""The reads every account task of a worker makes between its steps, made once for all of them.

An idle account task polls as a backstop to wake-ups (is anything unfinished?) and each
housekeeping round asks whether the shared paper prices moved; ten tasks did that ten times
over, each read a connection checkout, a statement and the rollback that ends it (at P3's
20 commands/s, ~10 of the ~48 statements per command). Here a read answers every task that
asks within `MAX_AGE_SECONDS` of its start, and tasks asking while it runs wait for it
(one read in flight per kind). The unfinished-command read covers every account this worker
holds (`queue.unfinished_among`), so one answers all the tasks' polls.

What the sharing costs: an answer may be up to `MAX_AGE_SECONDS` old. Both reads are
backstops or cadences: a new command wakes its task by UDP, and the poll only finds one whose
datagram was lost (a command committed just after a shared "nothing" was read is found one
poll later, within two `poll_max_ms` instead of one); price moves are looked at every
`BUSY_HOUSEKEEPING` at best, so a trigger check may start up to 50 ms later. A shared read that
fails is not shared: every task that waited for it reads on its own (as each did before), so
one bad pooled connection ends at most the task whose own read fails, not every waiting task.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from apps.oms.store import queue
from apps.oms.store.store import Store
from apps.paper.store import venue_store as paper

#: an answer read at most this long ago is given without a new read
MAX_AGE_SECONDS = 0.05

T = TypeVar("T")


@dataclass(slots=True)
class _Answer(Generic[T]):
    started: float  # monotonic, when its read was started
    value: T


class _Shared(Generic[T]):
    """One value read by `load`, reused within `max_age` of its read's start; one read in
    flight at a time (the callers meanwhile wait for it)."""

    def __init__(self, load: Callable[[], Awaitable[T]], max_age: float) -> None:
        self.load = load
        self.max_age = max_age
        self.answer: _Answer[T] | None = None
        self._flight: asyncio.Future[_Answer[T]] | None = None

    async def get(self, fresh_after: float | None = None) -> _Answer[T]:
        """An answer whose read started within `max_age` (and after `fresh_after`, if given)."""
        now = time.monotonic()
        answer = self.answer
        if answer is not None and now - answer.started <= self.max_age and (
            fresh_after is None or answer.started > fresh_after
        ):
            return answer
        if self._flight is None or self._flight.done():
            self._flight = asyncio.ensure_future(self._read())
        try:
            # a caller cancelled while waiting leaves the read to the others
            return await asyncio.shield(self._flight)
        except Exception:  # not shared: this caller's own read, whose error is its own
            return await self._read()

    async def _read(self) -> _Answer[T]:
        started = time.monotonic()
        answer = _Answer(started, await self.load())
        self.answer = answer
        return answer


class SharedReads:
    """The worker's reads shared by its account tasks (see the module docstring)."""

    def __init__(
        self, store: Store, held: Callable[[], Iterable[int]], max_age: float = MAX_AGE_SECONDS
    ) -> None:
        self.store = store
        self.held = held  # the accounts whose tasks run in this worker now
        self._prices = _Shared(self._read_prices, max_age)
        self._unfinished = _Shared(self._read_unfinished, max_age)

    async def price_version(self) -> int:
        """Sum of the paper price sequences: changes whenever any shared price moves."""
        return (await self._prices.get()).value

    async def has_unfinished(self, account_id: int) -> bool:
        """Whether the account has a queued or running command (a read of every held
        account's, shared; an account taken after that read asks again)."""
        answer = await self._unfinished.get()
        asked, unfinished = answer.value
        if account_id not in asked:
            answer = await self._unfinished.get(fresh_after=answer.started)
            asked, unfinished = answer.value
        if account_id not in asked:  # not held here (a test's task): ask for it alone
            async with self.store.read() as conn:
                return await queue.has_unfinished(conn, account_id)
        return account_id in unfinished

    async def _read_prices(self) -> int:
        async with self.store.read() as conn:
            return await paper.price_version(conn)

    async def _read_unfinished(self) -> tuple[frozenset[int], frozenset[int]]:
        asked = frozenset(self.held())
        if not asked:
            return asked, frozenset()
        async with self.store.read() as conn:
            return asked, frozenset(await queue.unfinished_among(conn, sorted(asked)))
