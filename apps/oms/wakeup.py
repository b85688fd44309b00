"""Wake-ups from API processes to workers: one best-effort UDP datagram per accepted batch naming
the accounts that got work, so an idle worker claims at once instead of at its next poll.

Nothing depends on delivery. A lost, late or forged datagram only changes *when* a worker looks
at the queue (it keeps polling every `poll_max_ms` regardless); it never carries a command. The
payload is the account ids as ASCII (`b"3,17"`); anything else is ignored. Workers listen on
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


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, on_wake: Callable[[list[int]], None]) -> None:
        self.on_wake = on_wake

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        ids = decode(data)
        if ids:
            self.on_wake(ids)


async def listen(
    host: str, on_wake: Callable[[list[int]], None]
) -> tuple[asyncio.DatagramTransport, str]:
    """Bind a UDP listener on `host` (ephemeral port); returns it and the `host:port` to
    publish. Bound to every interface (`0.0.0.0`, e.g. in a container), it publishes the
    address its own host name resolves to."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Listener(on_wake), local_addr=(host, 0), family=socket.AF_INET
    )
    bound_host, port = transport.get_extra_info("sockname")[:2]
    if bound_host == "0.0.0.0":  # noqa: S104 - compared, not bound here
        bound_host = socket.gethostbyname(socket.gethostname())
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
