"""How a worker hears about new work and tells others about numbered events: its UDP wake-up
listener, the API processes subscribed to its sequencer rounds, the events bus when configured
(`apps/oms/wakeup.py`, `apps/oms/bus/processes.py`), and the kicks that cut a loop's poll
pause short. Nothing depends on delivery: without any of them the loops poll as before."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from apps.oms import wakeup
from apps.oms.bus.processes import WorkerBus
from apps.oms.config import Settings
from apps.oms.store.store import Store

log = logging.getLogger("apps.worker")


class Kick:
    """Cuts a polling loop's pause short: set by wake-ups, or by work that needs the loop now."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def pause(self, seconds: float) -> bool:
        """Sleep up to `seconds`, less if kicked (then clear the kick); True if kicked."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        kicked = self._event.is_set()
        self._event.clear()
        return kicked


class WakeUps:
    """The worker's wake-up channels in and out. Incoming wake-ups name accounts that got
    queued commands and go to `on_wake`; after a numbering, `tell_tailers` lets the API
    processes' outbox tailers read at once."""

    def __init__(
        self, settings: Settings, store: Store, worker_id: str,
        on_wake: Callable[[list[int]], None],
    ) -> None:  # fmt: skip
        self.host = settings.worker.wake_host
        self.on_wake = on_wake
        self.listener: asyncio.DatagramTransport | None = None
        # API processes told when the sequencer numbered rows (apps/oms/wakeup.py)
        self.stream_subscribers = wakeup.StreamSubscribers()
        # the events bus (bus.url): publisher, wake-ups (apps/oms/bus/processes.py)
        self.bus = (WorkerBus(settings.bus, store, worker_id, on_wake)
                    if settings.bus.enabled else None)  # fmt: skip

    @property
    def listening(self) -> bool:
        """The UDP listener runs: the API wakes account tasks on every accept."""
        return self.listener is not None

    @property
    def wake_sequencer(self) -> bool:
        """Accepts announce their rows to the sequencer (UDP or the bus)."""
        return self.listening or (self.bus is not None and self.bus.wakes_workers)

    async def listen(self) -> str | None:
        """Bind the UDP wake-up listener; None (polling only) when off or the bind fails."""
        if not self.host:
            return None
        try:
            self.listener, addr = await wakeup.listen(self.host, self.on_wake, self.on_word)
        except OSError as exc:
            log.warning("wake-up listener on %s not started (%s): polling only", self.host, exc)
            return None
        return addr

    def on_word(self, word: bytes, addr: wakeup.Address) -> None:
        """An API process subscribes its outbox tailer to this worker's sequencer rounds."""
        if word == wakeup.STREAM_SUBSCRIBE and self.listener is not None:
            self.stream_subscribers.subscribe(self.listener, addr)

    def start(self, stop: asyncio.Event) -> None:
        """Connect the events bus, when configured (the listener is bound before registering)."""
        if self.bus is not None:
            self.bus.start(stop)

    def tell_tailers(self) -> None:
        """Rows got their seq: the subscribed API tailers read now (stream wake-ups)."""
        if self.listener is not None:
            self.stream_subscribers.notify(self.listener)
        if self.bus is not None:
            self.bus.sequenced()

    def close_listener(self) -> None:
        if self.listener is not None:
            self.listener.close()

    async def close(self) -> None:
        if self.bus is not None:
            await self.bus.close()
        self.close_listener()
