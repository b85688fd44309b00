"""One NATS connection per process, opened in the background: a process starts and runs while the
bus is away (publication waits, nothing else does); once connected the client reconnects by
itself for ever. The JetStream stream is created (or its settings updated) on every connect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from apps.oms.config import BusSettings

log = logging.getLogger("apps.bus")
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 2.0
DUPLICATE_WINDOW_SECONDS = 120.0

OnConnect = Callable[["BusLink"], Awaitable[None]]


def stream_config(settings: BusSettings) -> StreamConfig:
    return StreamConfig(
        name=settings.stream,
        subjects=[f"{settings.subject_prefix}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=settings.max_age_days * 86400,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        num_replicas=settings.replicas,
    )


async def ensure_stream(js: JetStreamContext, settings: BusSettings) -> None:
    config = stream_config(settings)
    try:
        await js.stream_info(settings.stream)
    except NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)


class BusLink:
    """The connection, `connected` once the first connect succeeded (and the stream exists);
    `on_connect` callbacks run after the first connect (subscriptions survive reconnects)."""

    def __init__(self, settings: BusSettings, name: str, *, stream: bool = True) -> None:
        self.settings = settings
        self.name = name
        self.stream = stream
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0  # bumped on every reconnect (consumers re-subscribe from their seq)
        self.reconnected = asyncio.Event()
        self.on_connect: list[OnConnect] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect_loop(), name=f"bus-{self.name}")

    @property
    def up(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def _connect_loop(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                nc = await nats.connect(
                    servers=self.settings.servers, name=self.name, connect_timeout=2,
                    allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                    error_cb=self._error, disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected,
                )
                self.nc, self.js = nc, nc.jetstream()
                if self.stream:
                    await ensure_stream(self.js, self.settings)
                break
            except Exception as exc:
                log.warning("bus %s not reachable (%s: %s); retrying in %.1f s",
                            self.settings.url, type(exc).__name__, exc, delay)
                await self._close_quietly()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        log.info("bus connected (%s)", self.settings.url)
        self.connected.set()
        for callback in self.on_connect:
            await callback(self)

    async def _error(self, exc: Exception) -> None:
        log.debug("bus: %s", exc)

    async def _disconnected(self) -> None:
        log.warning("bus disconnected; reconnecting")

    async def _reconnected(self) -> None:
        self.reconnects += 1
        self.reconnected.set()
        log.info("bus reconnected")

    async def subscribe(self, subject: str, callback: Callable[[Msg], Awaitable[None]]) -> None:
        assert self.nc is not None  # noqa: S101 - only called once connected
        await self.nc.subscribe(subject, cb=callback)

    async def publish(self, subject: str, data: bytes) -> None:
        """Core NATS, best effort (wake-ups): never raises, nothing when not connected."""
        if self.nc is None or not self.nc.is_connected:
            return
        with contextlib.suppress(Exception):
            await self.nc.publish(subject, data)

    async def _close_quietly(self) -> None:
        nc, self.nc, self.js = self.nc, None, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._close_quietly()
