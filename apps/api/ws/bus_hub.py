"""The websocket stream fed by the events bus instead of the outbox tail (`bus.consume`,
docs/events-bus.md → API processes on the bus).

One ephemeral JetStream consumer per API process (no acks, starting at `last_seq + 1`) hands the
events to the same fan-out as the outbox tailer (`StreamHub.deliver`), so every promise of the
stream holds as before: events are delivered in `seq` order, once (anything at or below
`last_seq` is dropped), and without a gap: a message whose `seq` jumps ahead is preceded by the
missing range read from the store. If the store's head stays ahead of this process for
`bus.fallback_seconds` (publication behind, the bus away, a lost consumer) the hub reads the
store itself up to that head and subscribes again; the bus is only ever faster, never required.
Resume and catch-up (`since_seq`, snapshots) read the store as before (`Connection.catch_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from apps.api.outage import OUTAGES, is_store_outage
from apps.api.ws.hub import BATCH, TAIL_FAILURES, StreamHub
from apps.oms.bus import message
from apps.oms.bus.link import BusLink
from apps.oms.bus.processes import ApiBus
from apps.oms.config import Settings
from apps.oms.metrics import BUS_CONSUMER_LAG
from apps.oms.service.read_model import ReadModel
from apps.oms.store import stream
from apps.oms.store.store import Store
from apps.oms.store.stream import StreamEvent

log = logging.getLogger("apps.api.ws")
TICK_SECONDS = 0.25  # how often the loop looks at the store's head and the read model
PROCESS = f"{socket.gethostname()}:{os.getpid()}"


class BusStreamHub(StreamHub):
    def __init__(self, store: Store, settings: Settings, read_model: ReadModel | None,
                 link: BusLink) -> None:  # fmt: skip
        super().__init__(store, settings, read_model)
        self.link = link
        self.incoming: asyncio.Queue[Msg] = asyncio.Queue()
        self._sub: Subscription | None = None
        self._sub_reconnects = -1
        self._ahead: int | None = None  # the store's head at the last look, when ahead of us
        self._looked_at = 0.0
        self.from_store = 0  # events this process read from the store instead of the bus
        self.lag = BUS_CONSUMER_LAG.labels(PROCESS)

    async def stop(self) -> None:
        await super().stop()
        await self._unsubscribe()

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except Exception as exc:
                if is_store_outage(exc):
                    OUTAGES.report(exc, "bus stream")
                else:
                    TAIL_FAILURES.report(exc, "bus stream")
                await self._unsubscribe()  # start again from last_seq
                await asyncio.sleep(TICK_SECONDS)

    async def _step(self) -> None:
        if self.link.up and (self._sub is None or self._sub_reconnects != self.link.reconnects):
            await self._subscribe()
        msgs = await self._take(TICK_SECONDS)
        events = []
        for msg in msgs:
            try:
                events.append(message.decode(msg.headers, msg.data))
            except message.MalformedMessage as exc:  # left out: the store fills its place
                log.warning("bus message on %s ignored: %s", msg.subject, exc)
        if msgs:
            with contextlib.suppress(Exception):  # metadata of a well-formed JetStream message
                self.lag.set(msgs[-1].metadata.num_pending)
        await self.deliver(await self.fill(events))
        if asyncio.get_running_loop().time() - self._looked_at >= self.settings.bus.fallback_seconds:
            await self._look_at_store()

    async def _take(self, seconds: float) -> list[Msg]:
        """The next messages: wait up to `seconds` for one, then whatever else is queued."""
        try:
            first = await asyncio.wait_for(self.incoming.get(), seconds)
        except TimeoutError:
            return []
        msgs = [first]
        while len(msgs) < BATCH and not self.incoming.empty():
            msgs.append(self.incoming.get_nowait())
        return msgs

    async def fill(self, events: list[StreamEvent]) -> list[StreamEvent]:
        """The events past `last_seq`, in order and dense: repeats dropped, any gap before an
        event read from the store."""
        out: list[StreamEvent] = []
        upto = self.last_seq
        for event in events:
            if event.seq <= upto:
                continue
            if event.seq > upto + 1:
                out.extend(await self._read_store(upto, event.seq - 1))
            out.append(event)
            upto = event.seq
        return out

    async def _read_store(self, after: int, upto: int) -> list[StreamEvent]:
        found: list[StreamEvent] = []
        while after < upto:
            async with self.store.read() as conn:
                page = await stream.tail(conn, after, min(BATCH, upto - after))
            if not page:
                break
            found.extend(page)
            after = page[-1].seq
        self.from_store += len(found)
        return found

    async def _look_at_store(self) -> None:
        """Publication is behind, or the bus away: when the head seen at the previous look is
        still not delivered, read the store up to it and subscribe again after it."""
        self._looked_at = asyncio.get_running_loop().time()
        if self._ahead is not None and self.last_seq < self._ahead:
            await self.deliver(await self._read_store(self.last_seq, self._ahead))
            await self._unsubscribe()
        async with self.store.read() as conn:
            head = await stream.last_seq(conn)
        self._ahead = head if head > self.last_seq else None

    async def _subscribe(self) -> None:
        await self._unsubscribe()
        js = self.link.js
        assert js is not None  # noqa: S101 - the link is up
        bus = self.settings.bus
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                opt_start_seq=self.last_seq + 1, ack_policy=AckPolicy.NONE,
                                inactive_threshold=30.0)  # fmt: skip
        self.incoming = asyncio.Queue()  # what the previous consumer left is dropped
        self._sub_reconnects = self.link.reconnects
        self._sub = await js.subscribe(f"{bus.subject_prefix}.>", stream=bus.stream,
                                       cb=self._on_msg, config=config, manual_ack=True)  # fmt: skip

    async def _on_msg(self, msg: Msg) -> None:
        self.incoming.put_nowait(msg)

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


def make_hub(store: Store, settings: Settings, read_model: ReadModel | None,
             bus: ApiBus | None) -> StreamHub:  # fmt: skip
    """The stream of an API process: the outbox tailer, or a bus consumer (`bus.consume`); a
    tailer on a bus with wake-ups is told of numbered rows over the bus. Starts the link."""
    if bus is None:
        return StreamHub(store, settings, read_model)
    bus.start()
    if settings.bus.consume:
        return BusStreamHub(store, settings, read_model, bus.link)
    hub = StreamHub(store, settings, read_model)
    if settings.bus.wakeups:
        hub.told = bus.told
    return hub
