"""The bus publisher: puts every sequenced outbox event on JetStream, in `seq` order, exactly once
per stream sequence (docs/events-bus.md → Publisher).

Every worker runs one; one publishes at a time (a key in a JetStream key-value bucket, renewed
every second, taken by a standby once it expires, or at once when its holder has left the bus:
standbys ask the holder every `probe_seconds`, and NATS answers "no responders" for a process
whose connection is gone). The publisher starts from the stream's own
last message (never from memory or the store): the next event is that message's `seq` + 1. Each
message carries `Nats-Msg-Id: <seq>` and `Nats-Expected-Last-Msg-Id: <seq - 1>`, so JetStream
stores it only right after its predecessor: a re-publish after a crash is a duplicate (acknowledged,
not stored), a publisher that raced another or fell behind is refused and starts again from the
stream. A new stream is first purged up to the outbox's oldest `seq`, so that the stream's sequence
numbers equal the events' `seq`; every acknowledgement is checked against it.

The publisher only reads the outbox; execution never waits for it. While the bus is away it
retries (doubling to 2 s) and then catches up from the outbox, nothing skipped: the outbox keeps
every event (no pruning job exists yet; one must keep events the bus has not acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from apps.oms.bus import message
from apps.oms.bus.link import BusLink, ensure_stream
from apps.oms.clock import utcnow
from apps.oms.store import bus_state, stream
from apps.oms.store.store import Store

log = logging.getLogger("apps.bus")
BATCH = 1000
ACK_TIMEOUT_SECONDS = 5.0
IDLE_POLL_SECONDS = 0.1  # a backstop: numbered rows come with a `sequenced` wake-up
RECORD_EVERY_SECONDS = 1.0
LEASE_BUCKET = "oms_bus"
LEASE_KEY = "publisher"
# a holder that does not answer a probe in this long is there but slow (no takeover); short, so
# that a probe in flight when the holder is killed delays the next one only this long
PROBE_TIMEOUT_SECONDS = 0.25


class BusMismatch(RuntimeError):
    """The stream does not hold what this publisher put there (another writer, a reset stream)."""


class PublishRefused(RuntimeError):
    """JetStream refused a message (typically: not right after its predecessor)."""


class Lease:
    """One publisher at a time: the holder renews a key whose bucket expires it after
    `seconds`; a standby creates it once gone, or takes it over (compare-and-set on the
    revision it read) as soon as the holder it names no longer answers on the bus: a killed
    process's connection closes, and NATS answers a request to its subject with "no
    responders". A holder that is alive but slow (a stall) does not answer in time and keeps the
    lease until it expires. Only efficiency rests on the lease: two publishers at once still
    store each event once (expected last message id)."""

    def __init__(self, link: BusLink, owner: str, seconds: float) -> None:
        self.link, self.owner, self.seconds = link, owner, seconds
        self.kv: KeyValue | None = None
        self.revision: int | None = None
        self.holder: str | None = None  # who held it at a standby's last look

    @property
    def probing(self) -> bool:
        return self.link.settings.probe_seconds > 0

    async def hold(self) -> bool:
        """Renew the lease, or take it when free or when its holder left the bus; False when
        another publisher holds it."""
        if self.kv is None:
            assert self.link.js is not None  # noqa: S101 - called once connected
            self.kv = await self.link.js.create_key_value(bucket=LEASE_BUCKET, ttl=self.seconds,
                                                          history=1)  # fmt: skip
        try:
            if self.revision is not None:
                self.revision = await self.kv.update(LEASE_KEY, self.owner.encode(),
                                                     last=self.revision)  # fmt: skip
                return True
            self.revision = await self.kv.create(LEASE_KEY, self.owner.encode())
            self.holder = self.owner
            return True
        except KeyWrongLastSequenceError:
            self.revision = None
        except Exception:
            self.revision = None
            raise
        return await self._take_over() if self.probing else False

    async def _take_over(self) -> bool:
        """The key exists: take it over if its holder is this process or gone from the bus."""
        assert self.kv is not None  # noqa: S101
        try:
            entry = await self.kv.get(LEASE_KEY)
        except KeyNotFoundError:  # expired or released meanwhile: the next look creates it
            self.holder = None
            return False
        self.holder = (entry.value or b"").decode()
        if self.holder != self.owner and await self.present(self.holder):
            return False
        try:
            self.revision = await self.kv.update(LEASE_KEY, self.owner.encode(),
                                                 last=entry.revision)  # fmt: skip
        except KeyWrongLastSequenceError:  # renewed or taken meanwhile
            return False
        log.info("bus publisher lease taken over from %s (gone from the bus)", self.holder)
        self.holder = self.owner
        return True

    async def gone(self) -> bool:
        """Between a standby's looks: whether the holder it last saw left the bus."""
        return self.holder is not None and not await self.present(self.holder)

    async def present(self, holder: str) -> bool:
        """Whether `holder` is connected to the bus: it answers, or it is there but slow (a
        request times out only when someone listens)."""
        nc = self.link.nc
        assert nc is not None  # noqa: S101
        subject = message.presence_subject(self.link.settings.wake_prefix, holder)
        try:
            await nc.request(subject, b"", timeout=PROBE_TIMEOUT_SECONDS)
        except NoRespondersError:
            return False
        except NatsTimeoutError:
            return True
        return True

    async def release(self) -> None:
        if self.kv is not None and self.revision is not None:
            with contextlib.suppress(Exception):
                await self.kv.purge(LEASE_KEY)
        self.revision = None


class Publisher:
    def __init__(self, store: Store, link: BusLink, owner: str) -> None:
        self.store = store
        self.link = link
        self.settings = link.settings
        self.lease = Lease(link, owner, link.settings.lease_seconds)
        self.wake = asyncio.Event()
        self.lease_checked = float("-inf")
        self.probed_at = float("-inf")
        self.next_seq: int | None = None  # None: read the stream first
        self.chained = False  # the stream's last message is `next_seq - 1`
        self.recorded_at = 0.0
        self.recorded = 0  # last seq written to the store
        self.published = 0  # last seq acknowledged (this process)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: hold the lease, publish, never raise."""
        await _wait_either(self.link.connected, stop, None)
        delay = 0.1
        listening = False
        while not stop.is_set():
            try:
                if not listening:
                    await self.listen()
                    listening = True
                pause = await self.round()
                delay = 0.1
            except Exception as exc:
                log.warning("bus publication paused (%s: %s); retrying in %.1f s",
                            type(exc).__name__, exc, delay)
                self.next_seq = None
                pause, delay = delay, min(delay * 2, 2.0)
            await _wait_either(self.wake, stop, pause)
            self.wake.clear()
        await self.lease.release()

    async def listen(self) -> None:
        """Answer the standbys' probes (whether this publisher is on the bus) from now on."""
        subject = message.presence_subject(self.settings.wake_prefix, self.lease.owner)
        await self.link.subscribe(subject, _answer)

    async def round(self) -> float:
        """Renew the lease if due, publish what waits; returns the pause before the next."""
        if not await self.holding():
            self.next_seq = None
            return self.settings.probe_seconds or 1.0
        if self.next_seq is None:
            await self.sync()
        count = await self.publish_batch()
        await self.record(force=count == 0)
        return 0.0 if count >= BATCH else IDLE_POLL_SECONDS

    async def holding(self) -> bool:
        """Whether this publisher holds the lease: renewed (or, by a standby, looked at) every
        `min(1, lease_seconds / 4)` seconds; in between a standby asks the holder it saw at most
        every `probe_seconds` whether it is still on the bus, and looks at once when not."""
        now = time.monotonic()
        if now - self.lease_checked < min(1.0, self.settings.lease_seconds / 4):
            if self.lease.revision is not None:
                return True
            if not self.lease.probing or now - self.probed_at < self.settings.probe_seconds:
                return False
            self.probed_at = now
            if not await self.lease.gone():
                return False
        held = await self.lease.hold()
        self.lease_checked = self.probed_at = time.monotonic()
        return held

    async def sync(self) -> None:
        """Where to continue: after the stream's last message (checked to be ours), or, for a
        stream that never held one, at the outbox's oldest event (purging up to it makes the
        stream's sequence numbers equal `seq`)."""
        js = self.link.js
        assert js is not None  # noqa: S101
        try:
            state = (await js.stream_info(self.settings.stream)).state
        except NotFoundError:  # deleted since this process connected: a new stream
            await ensure_stream(js, self.settings)
            state = (await js.stream_info(self.settings.stream)).state
        if state.messages == 0 and state.last_seq == 0:
            async with self.store.read() as conn:
                oldest, head = await stream.retained(conn)
            first = oldest or head + 1
            if first > 1:
                await js.purge_stream(self.settings.stream, seq=first)
            self.next_seq, self.chained = first, False
        elif state.messages == 0:  # every message aged out (or a purge): continue the count
            self.next_seq, self.chained = state.last_seq + 1, False
        else:
            last = await js.get_msg(self.settings.stream, state.last_seq)
            if (last.headers or {}).get(message.MSG_ID) != str(state.last_seq):
                raise BusMismatch(f"stream {self.settings.stream} message {state.last_seq} "
                                  "is not the event with that seq")
            self.next_seq, self.chained = state.last_seq + 1, True
        log.info("bus publisher continues at seq %d", self.next_seq)

    async def publish_batch(self) -> int:
        """Publish the next events (pipelined, in order) and check every acknowledgement."""
        assert self.next_seq is not None  # noqa: S101
        async with self.store.read() as conn:
            events = await stream.tail(conn, self.next_seq - 1, BATCH)
        if not events:
            return 0
        if events[0].seq != self.next_seq:  # the outbox lost events (pruned before publication)
            raise BusMismatch(f"outbox continues at seq {events[0].seq}, expected {self.next_seq}")
        acks = await self._send(events)
        for event, ack in zip(events, acks, strict=True):
            error = ack.get("error")
            if error:
                detail = error.get("description", error) if isinstance(error, dict) else error
                raise PublishRefused(f"seq {event.seq}: {detail}")
            if ack.get("seq") != event.seq:
                raise BusMismatch(f"seq {event.seq} stored as stream sequence {ack.get('seq')}")
            self.next_seq, self.chained, self.published = event.seq + 1, True, event.seq
        return len(events)

    async def _send(self, events: list[stream.StreamEvent]) -> list[dict[str, object]]:
        """Publish with one reply inbox; the acknowledgements in publication order."""
        nc = self.link.nc
        assert nc is not None  # noqa: S101
        inbox = nc.new_inbox()
        acks: dict[int, dict[str, object]] = {}
        done = asyncio.Event()

        async def on_ack(msg: Msg) -> None:
            acks[int(msg.subject.rsplit(".", 1)[1])] = json.loads(msg.data)
            if len(acks) == len(events):
                done.set()

        sub = await nc.subscribe(f"{inbox}.*", cb=on_ack)
        try:
            prefix = self.settings.subject_prefix
            for i, event in enumerate(events):
                headers = message.headers(event)
                if self.chained or i:
                    headers[message.EXPECTED_LAST_MSG_ID] = str(event.seq - 1)
                await nc.publish(message.subject(prefix, event), message.body(event),
                                 reply=f"{inbox}.{i}", headers=headers)  # fmt: skip
            await asyncio.wait_for(done.wait(), ACK_TIMEOUT_SECONDS)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        return [acks[i] for i in range(len(events))]

    async def record(self, *, force: bool) -> None:
        """The acknowledged position into the store (publication lag), at most once a second."""
        now = time.monotonic()
        if self.published == self.recorded or (not force and now - self.recorded_at < RECORD_EVERY_SECONDS):
            return
        if force and now - self.recorded_at < RECORD_EVERY_SECONDS / 4:
            return
        async with self.store.transaction() as conn:
            await bus_state.record_published(conn, self.published, utcnow())
        self.recorded_at, self.recorded = now, self.published


async def _answer(msg: Msg) -> None:
    """A standby asks whether this publisher is on the bus: it is."""
    with contextlib.suppress(Exception):
        await msg.respond(b"")


async def _wait_either(event: asyncio.Event, stop: asyncio.Event, seconds: float | None) -> None:
    waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()

