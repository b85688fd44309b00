"""The worker's outbox sequencer loop: numbers the committed outbox rows that no record
transaction numbered itself, and tells the API tailers when rows got their seq
(docs/worker.md -> Outbox sequencer). Every worker runs one; `sequencer.assign` serialises them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from apps.oms.clock import utcnow
from apps.oms.config import WorkerSettings
from apps.oms.store import sequencer
from apps.oms.store.store import Store
from apps.worker.numbering import Coverage
from apps.worker.wakeups import Kick, WakeUps

log = logging.getLogger("apps.worker")
SEQUENCER_BUSY_MS = 5.0


class OutboxSequencer:
    """The loop, the kick that cuts its pause short, and whether the record transactions'
    own numbering already covered a kick (`apps/worker/numbering.py`)."""

    def __init__(self, settings: WorkerSettings, store: Store, wakeups: WakeUps) -> None:
        self.settings = settings
        self.store = store
        self.wakeups = wakeups
        # set by wake-ups and by what record transactions could not number
        self.kick = Kick()
        # whether a kick's rows were numbered by this worker's record transactions meanwhile
        self.coverage = Coverage()

    def kick_now(self) -> None:
        """A round that must run at once: rows no record transaction will number."""
        self.coverage.kicked_now()
        self.kick.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Number committed outbox rows that no record transaction numbered itself (the API's
        accepts, a step whose numbering was skipped, other writers): rounds at a steady cadence
        while they find some, then a round when kicked (an accept's wake-up, this worker's
        work) or after a backoff. With wake-ups running, the kicks announce almost every row,
        so the backoff is only a backstop (rows nobody announced) and starts at half of
        `poll_max_ms`, and each round asks first with a plain read whether anything waits (a
        kick after work whose events were numbered with it, or the round after a streak,
        finds nothing for one statement); without them the backoff starts at the busy cadence,
        as an account task's poll does (docs/worker.md -> Sequencer)."""
        cfg = self.settings
        # while busy, one round every few ms numbers many events at once; a round per event
        # cost ~5 statements per event (profiled: 10 of the 73 statements of a send_order)
        busy = max(cfg.poll_min_ms, SEQUENCER_BUSY_MS) / 1000
        longest = cfg.poll_max_ms / 1000
        woken = self.wakeups.wake_sequencer
        idle_first = max(busy, longest / 2) if woken else busy
        interval = busy
        covered = False
        while not stop.is_set():
            try:
                done = 0 if covered else await self.round(probe=woken)
            except Exception:
                log.exception("sequencer round failed")
                done = 0
            if done == sequencer.SKIPPED:  # a peer's round may have read before our rows
                interval = busy
            elif done:
                self.wakeups.tell_tailers()
                # busy rounds keep their cadence: one round numbers many events at once; with
                # wake-ups the next one starts with its plain read, so a streak's end is cheap
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), busy)
                interval = busy
                continue
            elif not covered:
                interval = min(max(interval * 2, idle_first), longest)
            kicked = await self.kick.pause(interval)
            # kicked only by wake-ups of accounts whose record transactions number their rows:
            # no round if one of them numbered after the kick (an accept's events come with
            # its execution); a timed poll or any other kick runs the round
            deferrable = self.coverage.take_deferrable()
            covered = (woken and kicked and deferrable
                       and await self.coverage.covered_since(time.monotonic()))  # fmt: skip

    async def round(self, *, probe: bool) -> int:
        """One sequencer round (`sequencer.assign`); with `probe`, only if a plain read finds
        an unnumbered row."""
        if probe:
            async with self.store.read() as conn:
                if not await sequencer.pending(conn):
                    return 0
        async with self.store.transaction() as conn:
            return await sequencer.assign(conn, utcnow())

    def numbered(self, numbered: int, read_at: float) -> None:
        """A record transaction committed (`runtime.number_events`, its numbering read started
        after `read_at`): tell the API tailers about the events it numbered, or let the
        sequencer number what it could not."""
        if numbered == sequencer.SKIPPED or numbered >= sequencer.BATCH:
            # skipped, or a backlog took the whole round (its own rows may still wait)
            self.kick_now()
            return
        if numbered:
            self.wakeups.tell_tailers()
        self.coverage.numbered(read_at)  # rows committed before `read_at` are numbered
