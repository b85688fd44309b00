"""One websocket client: its principal, subscriptions, stream cursor and bounded send queue.

Delivery: `offer_all` (called by the tailer) delivers an event when the connection is live,
the event is past the cursor and a subscription admits it. While a `subscribe` catches up from the store
the connection is not live; `catch_up` reads the missed range page by page and flips to live in
the same synchronous step in which it sees the tailer at the position it read up to.
Slow consumers: a full queue, or a send that exceeds the send timeout, drops the connection with
close code 1013 and a reason; the tailer never waits for a client. The send timeout is not a
timer around each send (with `asyncio.wait_for` that was a task and a timer per socket and
event, most of the fan-out's cost, for sends that almost never wait): the send loop notes when
its current send began and the hub's watch drops a connection whose send outlasted the timeout
(`send_overdue`, once a second or more often for all connections).
Direct writes and batching (where the server offers pre-framing, `preframed.py`): a message
for a connection with nothing queued and no send in progress is written at once, synchronously,
if its socket is writable: no task wake-up, no ASGI send chain, one system call, and the events
of one tailer read that a connection admits go out in one such write. Otherwise it is queued,
and the send loop takes everything waiting (up to `BATCH_MESSAGES` or `BATCH_BYTES`) and hands
it over as one pre-framed write once the socket is writable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from starlette.websockets import WebSocket

from apps.api.ws.envelopes import dumps, event_text
from apps.api.ws.hub import PreparedRun, StreamHub
from apps.api.ws.preframed import FRAMES, TEXTS, direct_writer, offers_frames, text_frame
from apps.oms.security.principal import Principal
from apps.oms.service.stream import AccountScope, rescope
from apps.oms.store import stream
from apps.oms.store.stream import StreamEvent

log = logging.getLogger("apps.api.ws")
SLOW = 1013
# one write carries at most this many messages or, past the first, this many bytes (the
# transport's default high-water mark): a batch waits for a writable socket as one message did,
# so a slow reader is judged by the send timeout as before, and holds as little memory
BATCH_MESSAGES = 64
BATCH_BYTES = 64 * 1024
# no message: a send of nothing, which waits for the socket to drain (`_write_directly`)
FLUSH: tuple[str, bytes] = ("", b"")


@dataclass(slots=True)
class Subscription:
    scope: AccountScope
    after_seq: int  # events of this account at or before this seq are not delivered
    strategy_ids: frozenset[int] | None = None  # as asked in `subscribe` (for re-scoping)

    def admits(self, event: StreamEvent) -> bool:
        return event.seq > self.after_seq and self.scope.admits(event.namespace, event.strategy_id)


@dataclass(eq=False)
class Connection:
    ws: WebSocket
    hub: StreamHub
    queue_size: int
    send_timeout: float
    principal: Principal | None = None
    api_key: str | None = None
    authenticated_at: float = 0.0  # loop time of the last successful (re-)authentication
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    cursor: int = 0
    live: bool = False
    close_code: int | None = None
    close_reason: str = ""
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    # each message as text, and its frame when the caller built it once for many sockets
    queue: asyncio.Queue[tuple[str, bytes | None]] = field(init=False)
    sending_since: float | None = None  # loop time the send in progress began
    # the server's synchronous frame writer and writable flag (preframed.py → `write_now`)
    direct: tuple[Callable[[bytes], bool], asyncio.Event] | None = None

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.queue_size)
        self.direct = direct_writer(self.ws.scope)  # a connection is made once accepted

    # --- outgoing ---------------------------------------------------------------------------

    def offer_all(self, run: PreparedRun) -> None:
        """Called by the tailer for every run of events it read, in `seq` order: what this
        connection admits is delivered, in one write when it can go out directly."""
        if not self.live:
            return
        admitted: list[int] = []
        for index, (event, _, _) in enumerate(run.events):
            if event.seq <= self.cursor:
                continue
            self.cursor = event.seq
            account_id = event.account_id
            sub = None if account_id is None else self.subscriptions.get(account_id)
            if sub is not None and sub.admits(event):
                admitted.append(index)
        if len(admitted) == 1:
            _, text, frame = run.events[admitted[0]]
            self.push_text(text, frame)
        elif admitted and not self._write_directly(run.joined(tuple(admitted))):
            for index in admitted:
                _, text, frame = run.events[index]
                self.push_text(text, frame)

    def _write_directly(self, frames: bytes) -> bool:
        """Write now, skipping the queue and the send loop, when that cannot reorder anything
        (nothing queued, no send in progress) and the socket takes it without waiting. A write
        that leaves the socket's buffer over its high-water mark queues `FLUSH`: the send loop
        then waits for the buffer to drain, in view of the send timeout, so a peer that stopped
        reading is dropped as when a message of its own waits."""
        if self.direct is None or self.sending_since is not None or not self.queue.empty():
            return False
        write, writable = self.direct
        if not write(frames):
            return False
        if not writable.is_set():
            self.queue.put_nowait(FLUSH)
        return True

    def push_text(self, text: str, frame: bytes | None = None) -> None:
        if self.closed.is_set():
            return
        if self.direct is not None and self._write_directly(frame or text_frame(text)):
            return
        try:
            self.queue.put_nowait((text, frame))
        except asyncio.QueueFull:
            self.drop(SLOW, f"slow consumer: send queue full ({self.queue_size} messages)")

    def send(self, message: Mapping[str, object]) -> None:
        self.push_text(dumps(message))

    async def send_waiting(self, text: str) -> None:
        """Catch-up and snapshot sends wait for queue space (bounded by the send timeout)."""
        try:
            await asyncio.wait_for(self.queue.put((text, None)), self.send_timeout)
        except TimeoutError:
            self.drop(SLOW, "slow consumer: could not take the replay within the send timeout")

    async def send_loop(self) -> None:
        """Send what is queued, in order; a send only waits while the socket's write buffer is
        full (the peer does not read), and the hub's watch ends a wait past the send timeout.
        What waits in the queue goes out together (module docstring → Batching)."""
        clock = asyncio.get_running_loop().time
        queue = self.queue
        preframed = offers_frames(self.ws.scope)  # final once accepted (preframed.py)
        while True:
            text, frame = await queue.get()
            self.sending_since = clock()
            if not preframed:
                await self.ws.send_text(text)
                self.sending_since = None
                continue
            texts, frames = [text], [text_frame(text) if frame is None else frame]
            size = len(frames[0])
            while len(texts) < BATCH_MESSAGES and size < BATCH_BYTES and not queue.empty():
                text, frame = queue.get_nowait()
                texts.append(text)
                frames.append(text_frame(text) if frame is None else frame)
                size += len(frames[-1])
            await self.ws.send({"type": "websocket.send", FRAMES: frames,
                                TEXTS: [t for t in texts if t]})  # fmt: skip
            self.sending_since = None

    def send_overdue(self, now: float) -> bool:
        """Drop the connection if its send in progress began over the send timeout before
        `now` (the endpoint then cancels the send loop and closes the socket)."""
        since = self.sending_since
        if since is None or now - since <= self.send_timeout:
            return False
        self.drop(SLOW, f"slow consumer: a send took over {self.send_timeout:g}s")
        return True

    def drop(self, code: int, reason: str) -> None:
        if self.closed.is_set():
            return
        self.close_code, self.close_reason = code, reason[:120]
        self.live = False
        self.closed.set()
        if code == SLOW:
            log.warning("websocket dropped: %s", reason)

    # --- subscriptions ----------------------------------------------------------------------

    def rescope(self, principal: Principal) -> list[int]:
        """Apply the key's current grants to the subscriptions: narrowed scopes are replaced,
        accounts the key may no longer read are dropped. Returns the dropped account ids."""
        dropped = []
        for account_id, sub in list(self.subscriptions.items()):
            scope = rescope(principal, sub.scope, sub.strategy_ids)
            if scope is None:
                del self.subscriptions[account_id]
                dropped.append(account_id)
            else:
                sub.scope = scope
        return dropped

    async def catch_up(self) -> None:
        """Replay every admitted event after each subscription's `after_seq` up to the tailer's
        position, then go live (see module docstring). The caller has set `live = False`."""
        low = min((s.after_seq for s in self.subscriptions.values()), default=self.hub.last_seq)
        while not self.closed.is_set():
            upper = self.hub.last_seq
            while low < upper and not self.closed.is_set():
                async with self.hub.store.read() as conn:
                    page = await stream.replay(conn, low, upper, list(self.subscriptions))
                for event in page:
                    sub = self.subscriptions.get(event.account_id or 0)
                    if sub is not None and sub.admits(event):
                        await self.send_waiting(event_text(event))
                low = page[-1].seq if len(page) == 500 else upper
            if self.hub.last_seq == upper:  # no await since `upper` was read: flip atomically
                self.cursor = max(self.cursor, upper)
                self.live = True
                return
