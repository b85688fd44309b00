"""Wake-ups between API processes and workers, best-effort UDP datagrams on the workers' listeners.

API → worker: one datagram per accepted batch naming the accounts that got work, so an idle
worker claims at once instead of at its next poll.

Worker → API (stream wake-ups): an API process subscribes its own listener to every running
worker (`stream`, sent from that listener every `refresh` seconds; the worker answers
`stream-ok` and keeps the subscription `SUBSCRIPTION_SECONDS`). After a sequencer round numbered
outbox rows, the worker sends `sequenced` to its subscribers, and the API's outbox tailer reads
at once instead of polling every few milliseconds (`apps/api/ws/hub.py`).

Nothing depends on delivery. A lost, late or forged datagram only changes *when* a worker looks
at the queue (it keeps polling every `poll_max_ms` regardless); it never carries a command. The
payload is the account ids as ASCII (`b"3,17"`) or one of the three stream words; anything else
is ignored. A forged `stream` makes a worker send a few bytes per sequencer round to an address
for `SUBSCRIPTION_SECONDS` (at most `MAX_SUBSCRIBERS` addresses); a forged `sequenced` makes a
tailer read once. Workers listen on
`worker.wake_host` (loopback by default) and publish `host:port` in `workers.wake_addr`; API
processes read the addresses of running workers from the store and cache them for a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterable
from datetime import timedelta

from apps.oms.clock import utcnow
from apps.oms.store import fleet
from apps.oms.store.store import Store

log = logging.getLogger("apps.wakeup")
MAX_IDS = 512  # a datagram stays far below any MTU-related limit at this size
Address = tuple[str, int]
STREAM_SUBSCRIBE = b"stream"  # API -> worker: tell this address when rows get their seq
STREAM_SUBSCRIBED = b"stream-ok"  # worker -> API: subscribed
STREAM_SEQUENCED = b"sequenced"  # worker -> API: outbox rows got their seq
STREAM_WORDS = frozenset({STREAM_SUBSCRIBE, STREAM_SUBSCRIBED, STREAM_SEQUENCED})
SUBSCRIPTION_SECONDS = 10.0  # a subscription lives this long unless renewed
MAX_SUBSCRIBERS = 64


def encode(account_ids: Iterable[int]) -> bytes:
    return ",".join(str(i) for i in sorted(set(account_ids))[:MAX_IDS]).encode("ascii")


def decode(data: bytes) -> list[int]:
    """The account ids of a datagram; [] for anything malformed."""
    try:
        parts = data.decode("ascii").split(",")
        return [int(p) for p in parts[:MAX_IDS] if p.isdigit()]
    except (UnicodeDecodeError, ValueError):
        return []


def parse_address(text: str | None) -> Address | None:
    host, _, port = (text or "").rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


OnWord = Callable[[bytes, Address], None]


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, on_wake: Callable[[list[int]], None], on_word: OnWord | None) -> None:
        self.on_wake = on_wake
        self.on_word = on_word

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if data in STREAM_WORDS:
            if self.on_word is not None and isinstance(addr[0], str):
                self.on_word(data, (addr[0], addr[1]))
            return
        ids = decode(data)
        if ids:
            self.on_wake(ids)


async def listen(
    host: str, on_wake: Callable[[list[int]], None], on_word: OnWord | None = None
) -> tuple[asyncio.DatagramTransport, str]:
    """Bind a UDP listener on `host` (ephemeral port); returns it and the `host:port` to
    publish. Bound to every interface (`0.0.0.0`, e.g. in a container), it publishes the
    address its own host name resolves to. `on_word` gets the stream words and their sender."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Listener(on_wake, on_word), local_addr=(host, 0), family=socket.AF_INET
    )
    bound_host, port = transport.get_extra_info("sockname")[:2]
    if bound_host == "0.0.0.0":  # noqa: S104 - compared, not bound here
        try:
            bound_host = socket.gethostbyname(socket.gethostname())
        except OSError:
            transport.close()
            raise
    return transport, f"{bound_host}:{port}"


class WakeSender:
    """API side: send wake-ups to the running workers' listeners (addresses cached `refresh` s)."""

    def __init__(self, store: Store, *, refresh: float = 2.0, max_age: float = 30.0) -> None:
        self.store = store
        self.refresh = refresh
        self.max_age = timedelta(seconds=max_age)
        self._addresses: list[Address] = []
        self._read_at = float("-inf")
        self._read_once = False
        self._refreshing: asyncio.Task[None] | None = None
        self._transport: asyncio.DatagramTransport | None = None

    async def wake(self, account_ids: Iterable[int]) -> None:
        """Best effort: never raises (the workers' polling is the fallback)."""
        ids = list(account_ids)
        if not ids:
            return
        try:
            addresses = await self._current()
            if not addresses:
                return
            transport = await self._open()
            data = encode(ids)
            for address in addresses:
                transport.sendto(data, address)
        except Exception as exc:  # a wake-up must never fail the request that queued work
            log.debug("wake-up not sent: %s", exc)

    async def _current(self) -> list[Address]:
        """The cached addresses; a stale cache is refreshed in the background (the first read
        is awaited), so a request never waits for the refresh query."""
        if time.monotonic() - self._read_at >= self.refresh:
            self._read_at = time.monotonic()
            if self._refreshing is None:
                self._refreshing = asyncio.create_task(self._refresh())
                self._refreshing.add_done_callback(self._refreshed)
            if not self._read_once:
                await asyncio.shield(self._refreshing)
        return self._addresses

    async def _refresh(self) -> None:
        async with self.store.read() as conn:
            found = await fleet.wake_addresses(conn, utcnow(), self.max_age)
        self._addresses = [a for a in map(parse_address, found) if a is not None]
        self._read_once = True

    def _refreshed(self, task: asyncio.Task[None]) -> None:
        self._refreshing = None
        if not task.cancelled() and task.exception() is not None:
            log.debug("wake-up addresses not read: %s", task.exception())

    async def _open(self) -> asyncio.DatagramTransport:
        if self._transport is None or self._transport.is_closing():
            loop = asyncio.get_running_loop()
            self._transport, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, family=socket.AF_INET
            )
        return self._transport

    async def close(self) -> None:
        """Let a running refresh finish (cancelling it mid-query could strand its pooled
        connection while the store is being closed), then close the socket."""
        if self._refreshing is not None:
            with contextlib.suppress(Exception):
                await self._refreshing
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
            self._transport = None


class StreamSubscribers:
    """Worker side: the API listeners that asked to hear when outbox rows get their seq."""

    def __init__(
        self, *, seconds: float = SUBSCRIPTION_SECONDS, limit: int = MAX_SUBSCRIBERS
    ) -> None:
        self.seconds = seconds
        self.limit = limit
        self._until: dict[Address, float] = {}

    def subscribe(self, transport: asyncio.DatagramTransport, addr: Address) -> None:
        """Subscribe (or renew) `addr` and confirm; a new address past `limit` is ignored."""
        now = time.monotonic()
        self._drop_expired(now)
        if addr not in self._until and len(self._until) >= self.limit:
            return
        self._until[addr] = now + self.seconds
        _send(transport, STREAM_SUBSCRIBED, addr)

    def notify(self, transport: asyncio.DatagramTransport) -> None:
        """Rows got their seq: tell every live subscriber (best effort)."""
        if not self._until:
            return
        self._drop_expired(time.monotonic())
        for addr in self._until:
            _send(transport, STREAM_SEQUENCED, addr)

    def _drop_expired(self, now: float) -> None:
        for addr in [a for a, until in self._until.items() if until < now]:
            del self._until[addr]


class StreamWakeups:
    """API side: keep this process's listener subscribed to every running worker, so that the
    outbox tailer is told when rows got their seq (`on_sequenced`). `trusted` says whether every
    running worker confirmed recently: only then may the tailer stop polling every few ms."""

    def __init__(
        self, store: Store, host: str, on_sequenced: Callable[[], None], *,
        refresh: float = 2.0, max_age: float = 30.0,
    ) -> None:
        self.store = store
        self.host = host
        self.on_sequenced = on_sequenced
        self.refresh = refresh
        self.max_age = timedelta(seconds=max_age)
        self.workers: list[Address] = []  # running workers' listeners, as last read
        self.deaf = False  # a running worker has no listener (it cannot tell us)
        self.confirmed: dict[Address, float] = {}  # worker -> when it last confirmed
        self._transport: asyncio.DatagramTransport | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> bool:
        """Bind the listener and start subscribing; False (polling only) when it cannot bind."""
        try:
            self._transport, _ = await listen(self.host, lambda _ids: None, self._on_word)
        except OSError as exc:
            log.warning("stream wake-up listener on %s not started (%s): polling only",
                        self.host, exc)
            return False
        self._task = asyncio.create_task(self._subscribe_loop(), name="stream-wakeups")
        return True

    @property
    def trusted(self) -> bool:
        """Every running worker (at least one) confirmed within three subscription rounds."""
        if not self.workers or self.deaf:
            return False
        oldest = time.monotonic() - 3 * self.refresh
        return all(self.confirmed.get(a, float("-inf")) >= oldest for a in self.workers)

    def _on_word(self, word: bytes, addr: Address) -> None:
        if word == STREAM_SEQUENCED:
            self.on_sequenced()
        elif word == STREAM_SUBSCRIBED:
            self.confirmed[addr] = time.monotonic()

    async def _subscribe_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.subscribe_once()
            except Exception as exc:  # the store is away: the tailer polls meanwhile
                log.debug("stream wake-ups not renewed: %s", exc)
                self.workers = []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.refresh)

    async def subscribe_once(self) -> None:
        async with self.store.read() as conn:
            found = await fleet.listener_addresses(conn, utcnow(), self.max_age)
        self.workers = [a for a in map(parse_address, found) if a is not None]
        self.deaf = len(self.workers) < len(found)
        self.confirmed = {a: t for a, t in self.confirmed.items() if a in self.workers}
        if self._transport is not None:
            for address in self.workers:
                _send(self._transport, STREAM_SUBSCRIBE, address)

    async def close(self) -> None:
        """Let a running round finish (cancelling it mid-query could strand its pooled
        connection while the store is being closed), then close the socket."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        if self._transport is not None:
            self._transport.close()


def _send(transport: asyncio.DatagramTransport, data: bytes, addr: Address) -> None:
    with contextlib.suppress(OSError):  # best effort, never an error for the sender
        transport.sendto(data, addr)
