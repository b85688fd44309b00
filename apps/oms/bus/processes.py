"""What a worker and an API process run on the bus when `bus.url` is set (docs/events-bus.md).

Wake-ups (`bus.wakeups`) are core NATS messages, best effort as the UDP datagrams they replace:
`<wake_prefix>.queued` (API → workers, the account ids as ASCII, `b"3,17"`) and
`<wake_prefix>.sequenced` (a worker numbered outbox rows: the publisher, and API processes that
tail the outbox, read at once). A lost one costs latency only; every reader keeps a timed poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

from nats.aio.msg import Msg

from apps.oms import wakeup
from apps.oms.bus.link import BusLink
from apps.oms.bus.publisher import Publisher
from apps.oms.config import BusSettings
from apps.oms.store.store import Store

QUEUED = "queued"
SEQUENCED = "sequenced"


def wake_subject(settings: BusSettings, word: str) -> str:
    return f"{settings.wake_prefix}.{word}"


class WorkerBus:
    """A worker's link: the publisher (one at a time over all workers), wake-ups in, and the
    `sequenced` word out after every numbering."""

    def __init__(self, settings: BusSettings, store: Store, worker_id: str,
                 on_wake: Callable[[list[int]], None]) -> None:  # fmt: skip
        self.settings = settings
        self.link = BusLink(settings, f"ccxt-oms worker {worker_id}")
        self.publisher = Publisher(store, self.link, worker_id) if settings.publish else None
        self.on_wake = on_wake
        self.link.on_connect.append(self._subscribe)
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def wakes_workers(self) -> bool:
        return self.settings.wakeups

    def start(self, stop: asyncio.Event) -> None:
        self.link.start()
        if self.publisher is not None:
            self._task = asyncio.create_task(self.publisher.run(stop), name="bus-publisher")

    async def _subscribe(self, link: BusLink) -> None:
        if self.settings.wakeups:
            await link.subscribe(wake_subject(self.settings, QUEUED), self._queued)
        if self.publisher is not None:
            await link.subscribe(wake_subject(self.settings, SEQUENCED), self._sequenced)

    async def _queued(self, msg: Msg) -> None:
        ids = wakeup.decode(msg.data)
        if ids:
            self.on_wake(ids)

    async def _sequenced(self, _msg: Msg) -> None:
        if self.publisher is not None:
            self.publisher.wake.set()

    def sequenced(self) -> None:
        """Rows got their seq here: wake the local publisher, tell every other reader."""
        if self.publisher is not None:
            self.publisher.wake.set()
        if not self.link.up:
            return
        task = asyncio.create_task(self.link.publish(wake_subject(self.settings, SEQUENCED), b""))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def close(self) -> None:
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
        await self.link.close()


class ApiBus:
    """An API process's link: wake-ups out (`queued`), and, when it tails the outbox, the
    `sequenced` word in."""

    def __init__(self, settings: BusSettings, on_sequenced: Callable[[], None]) -> None:
        self.settings = settings
        self.link = BusLink(settings, "ccxt-oms api", stream=settings.consume)
        self.on_sequenced = on_sequenced
        if not settings.consume:
            self.link.on_connect.append(self._subscribe)

    @classmethod
    def configured(cls, settings: BusSettings, on_sequenced: Callable[[], None]) -> ApiBus | None:
        """The process's link, None when no bus is configured."""
        return cls(settings, on_sequenced) if settings.enabled else None

    @staticmethod
    async def close_configured(bus: ApiBus | None) -> None:
        if bus is not None:
            await bus.close()

    def start(self) -> None:
        self.link.start()

    def told(self) -> bool:
        """Whether the tailer hears of numbered rows (the bus is up)."""
        return self.link.up

    async def _subscribe(self, link: BusLink) -> None:
        await link.subscribe(wake_subject(self.settings, SEQUENCED), self._sequenced)

    async def _sequenced(self, _msg: Msg) -> None:
        self.on_sequenced()

    async def wake(self, account_ids: Iterable[int]) -> None:
        ids = list(account_ids)
        if ids:
            await self.link.publish(wake_subject(self.settings, QUEUED), wakeup.encode(ids))

    async def close(self) -> None:
        await self.link.close()
