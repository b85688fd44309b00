"""Whether a sequencer round is needed after a wake-up, or the record transactions' own
numbering already covered it (docs/worker.md -> Sequencer).

An accept's wake-up announces outbox rows that committed before it was sent. A record
transaction numbers every visible unnumbered row just before its commit
(`runtime.number_events`), so one whose numbering read started after the wake-up arrived and
that committed has numbered the accept's rows too: the sequencer's own round (a plain read,
then a locked transaction of four statements) would find nothing or race it for the state row.
When only wake-ups of accounts whose tasks run here kicked the sequencer (their next record
transaction is on its way), it waits up to `GRACE_SECONDS` for such a numbering and runs its
round only if none came; any other kick runs the round at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

#: how long the sequencer lets the woken accounts' record transactions number an accept's rows
#: before its own round: a group commit under load starts its numbering read within a few tens
#: of milliseconds of the wake-up; the accept's own events are later by at most this much
GRACE_SECONDS = 0.05


class Coverage:
    """The latest committed numbering of this worker's record transactions, and whether the
    kicks since the sequencer's last look were all ones that numbering may cover."""

    def __init__(self, grace: float = GRACE_SECONDS) -> None:
        self.grace = grace
        self.read_at = 0.0  # monotonic: start of the latest committed numbering read (lower bound)
        self.deferrable = True  # every kick since the last `take_deferrable` may be covered
        self._moved = asyncio.Event()

    def numbered(self, read_at: float) -> None:
        """A record transaction committed whose numbering read started after `read_at`."""
        if read_at > self.read_at:
            self.read_at = read_at
            self._moved.set()

    def kicked_now(self) -> None:
        """A kick the record transactions will not cover (the round must run at once)."""
        self.deferrable = False
        self._moved.set()  # a wait for coverage ends now

    def take_deferrable(self) -> bool:
        """Whether every kick since the last call may be covered; starts over."""
        deferrable, self.deferrable = self.deferrable, True
        return deferrable

    async def covered_since(self, since: float) -> bool:
        """Wait up to the grace for a committed numbering whose read started after `since`
        (monotonic); True if one came."""
        deadline = since + self.grace
        while self.read_at <= since:
            left = deadline - time.monotonic()
            if left <= 0 or not self.deferrable:  # out of time, or a kick that must run now
                return False
            self._moved.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._moved.wait(), left)
        return True
