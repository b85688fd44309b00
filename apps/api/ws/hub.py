"""One outbox tailer per API process: reads `outbox` by `seq` and fans each event out to every
connection (serialised once). A connection that cannot keep up is dropped by its own bounded
queue, so the tailer never waits for a client.

When it reads: at once when a worker says its sequencer numbered rows (stream wake-ups,
`apps/oms/wakeup.py`); while every running worker has confirmed this process's subscription,
otherwise only every `POLL_TOLD_SECONDS` as a backstop. Without that, it polls with an adaptive
interval (2 ms after events, 5 ms for a second after this process queued commands, up to 50 ms
idle)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from apps.api.outage import OUTAGES, OutageLog, is_store_outage
from apps.api.ws.envelopes import event_text
from apps.api.ws.preframed import text_frame
from apps.oms.config import Settings
from apps.oms.service.read_model import ReadModel
from apps.oms.store import stream
from apps.oms.store.store import Store

if TYPE_CHECKING:
    from apps.api.ws.connection import Connection

log = logging.getLogger("apps.api.ws")
POLL_MIN_SECONDS = 0.002
POLL_MAX_SECONDS = 0.05
POLL_IDLE_SECONDS = 0.25  # nobody connected: only keep `last_seq` current
POLL_TOLD_SECONDS = 0.05  # told by every worker when rows got their seq: a backstop only
POLL_EXPECTING_SECONDS = 0.005  # this process just queued commands: their events are imminent
EXPECT_SECONDS = 1.0
BATCH = 1000
# how long a burst's next chunk waits for the send loops to drain: long enough for a healthy
# client on a loaded machine (50 ms dropped reading clients under load once the read model made
# tail batches larger), short enough that a stuck client delays a burst once, then is dropped
DRAIN_WAIT_SECONDS = 0.5
WATCH_MAX_SECONDS = 1.0  # the send watch's period, at most (a quarter of the send timeout)
# a tail failure that is not an outage (a bug, a schema behind the code) repeats every poll
TAIL_FAILURES = OutageLog(what="outbox tail failed")


class PreparedRun:
    """One tailer read's events, each with its text and frame built once for every
    connection, and the frames of each subset that connections admit, joined once: a write
    holds its bytes until the socket takes them, so a joined copy per connection would hold
    a copy per socket (thousands of them, megabytes per read) where one shared object does."""

    __slots__ = ("_joined", "events")

    def __init__(self, events: list[tuple[stream.StreamEvent, str, bytes]]) -> None:
        self.events = events
        self._joined: dict[tuple[int, ...], bytes] = {}

    def joined(self, indexes: tuple[int, ...]) -> bytes:
        frames = self._joined.get(indexes)
        if frames is None:
            frames = self._joined[indexes] = b"".join(self.events[i][2] for i in indexes)
        return frames


class StreamHub:
    """The tailer and the set of live connections of this process."""

    def __init__(
        self, store: Store, settings: Settings, read_model: ReadModel | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.connections: set[Connection] = set()
        self.last_seq = 0
        self.wake = asyncio.Event()
        self._expect_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        # whether every running worker tells this process when rows got their seq (set by the
        # app to `StreamWakeups.trusted`; the datagrams themselves set `wake`)
        self.told: Callable[[], bool] = lambda: False
        # the open-books read model follows the same tail (applied after each publish)
        self.read_model = read_model
        if read_model is not None:
            read_model.wake = self.wake.set

    def expect_events(self) -> None:
        """Commands were just queued here: keep the poll interval short for a while, since
        their events follow within milliseconds of the worker's commit."""
        self._expect_until = asyncio.get_running_loop().time() + EXPECT_SECONDS

    async def start(self) -> None:
        if self.read_model is not None:
            await self.read_model.load()  # the tail starts where the model's snapshot ends
            self.last_seq = self.read_model.seq
        else:
            async with self.store.read() as conn:
                self.last_seq = await stream.last_seq(conn)
        self._task = asyncio.create_task(self._run(), name="outbox-tailer")
        self._watch = asyncio.create_task(self._watch_sends(), name="websocket-send-watch")

    async def stop(self) -> None:
        for connection in list(self.connections):
            connection.drop(1001, "server shutting down")
        for task in (self._task, self._watch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _watch_sends(self) -> None:
        """The send timeout of every connection of this process (`Connection.send_overdue`):
        one pass over the connections per period, a fraction of the timeout (at most 1 s), so a
        send that waits longer than the timeout is dropped within timeout + period."""
        loop = asyncio.get_running_loop()
        period = min(WATCH_MAX_SECONDS, self.settings.websocket.send_timeout_seconds / 4)
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            for connection in list(self.connections):
                connection.send_overdue(now)

    def add(self, connection: Connection) -> None:
        self.connections.add(connection)

    def remove(self, connection: Connection) -> None:
        self.connections.discard(connection)

    async def _run(self) -> None:
        interval = POLL_MIN_SECONDS
        while True:
            try:
                count = await self.poll_once()
            except Exception as exc:
                if is_store_outage(exc):
                    OUTAGES.report(exc, "outbox tail")
                else:  # at most once per interval too: the tail retries every 50 ms
                    TAIL_FAILURES.report(exc, "outbox tail")
                count = 0
            interval = self._next_interval(interval, count)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), interval)
            self.wake.clear()

    def _next_interval(self, interval: float, count: int) -> float:
        if count >= BATCH:  # more may be waiting
            return POLL_MIN_SECONDS
        if not self.connections and self.read_model is None:
            return POLL_MIN_SECONDS if count else POLL_IDLE_SECONDS
        if self.told():  # the next rows come with a wake-up
            return POLL_TOLD_SECONDS
        if count:
            return POLL_MIN_SECONDS
        if asyncio.get_running_loop().time() < self._expect_until:
            return min(interval * 2, POLL_EXPECTING_SECONDS)
        return min(interval * 2, POLL_MAX_SECONDS)

    async def poll_once(self) -> int:
        """Read the next sequenced events and publish them in chunks of at most half a send
        queue, yielding between chunks so that the send loops of healthy clients drain a burst."""
        async with self.store.read() as conn:
            events = await stream.tail(conn, self.last_seq, BATCH)
        await self.deliver(events)
        return len(events)

    async def deliver(self, events: list[stream.StreamEvent]) -> None:
        """Fan the next events (`seq` following `last_seq`, in order) out and let the read model
        follow; also what a bus consumer calls (apps/api/ws/bus_hub.py)."""
        chunk = max(1, self.settings.websocket.queue_size // 2)
        for start in range(0, len(events), chunk):
            if start:
                await self._let_queues_drain(chunk)
            self.publish(events[start : start + chunk])
        if self.read_model is not None:
            self.read_model.take(events)
            await self.read_model.apply()  # also retries rows a failed apply left noted

    async def _let_queues_drain(self, limit: int) -> None:
        """Before the next chunk of a burst: give send loops up to `DRAIN_WAIT_SECONDS` to bring
        every queue to at most `limit`; a client that cannot is dropped by its full queue."""
        deadline = asyncio.get_running_loop().time() + DRAIN_WAIT_SECONDS
        while any(c.queue.qsize() > limit for c in self.connections):
            if asyncio.get_running_loop().time() >= deadline:
                return
            await asyncio.sleep(0.001)

    def publish(self, events: list[stream.StreamEvent]) -> None:
        """Synchronous on purpose: `last_seq` and every connection advance together, which is
        what lets a connection switch from catch-up to live without a gap."""
        self.last_seq = events[-1].seq
        connections = list(self.connections)
        if not connections:  # nobody to serialise for (the read model follows all the same)
            return
        prepared = []
        for event in events:
            text = event_text(event)
            prepared.append((event, text, text_frame(text)))  # the same bytes on every socket
        run = PreparedRun(prepared)
        for connection in connections:  # each connection's events of this read in one write
            connection.offer_all(run)
