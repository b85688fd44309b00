"""Wake-ups: a real in-process `Worker` that polls only once an hour still executes commands
queued through the acceptance service, because the API side's `WakeSender` (wired as the
store's `on_queued` hook, as `create_app` does) sends it a UDP datagram. Stream wake-ups the
other way: an API outbox tailer that would poll only once an hour still follows the events,
because the worker's sequencer (itself backing off to an hour) tells it. Also the datagram
codec, subscriptions' limits and expiry, and that a worker with wake-ups off publishes no
address and makes the tailer poll.

No speed is asserted: the deadline is generous (a minute), and without a wake-up nothing would
look for the command within the hour."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from apps.api.ws import hub as hub_module
from apps.api.ws.hub import StreamHub
from apps.oms import wakeup
from apps.oms.config import Settings
from apps.oms.service.read_model import ReadModel
from apps.oms.store.store import Store
from apps.oms.store.tables import outbox, workers
from apps.oms.wakeup import (
    StreamSubscribers,
    StreamWakeups,
    WakeSender,
    decode,
    encode,
    listen,
    parse_address,
)
from apps.worker.main import Worker
from apps.worker.wakeups import Kick

from .conftest import Harness, eventually, worker_settings

SLOW_POLL_MS = 3_600_000  # without a wake-up, an idle worker would look again only in an hour
GENEROUS = 60.0  # seconds: a deadline for a loaded machine, far below the hour of a poll


def test_codec() -> None:
    assert encode([17, 3, 3]) == b"3,17"
    assert decode(b"3,17") == [3, 17]
    assert decode(b"\xff\xfe") == []
    assert decode(b"3,x,-4,") == [3]
    assert parse_address("127.0.0.1:4567") == ("127.0.0.1", 4567)
    assert parse_address("no-port") is None
    assert parse_address(None) is None


async def test_listener_on_every_interface_publishes_a_reachable_address() -> None:
    """Bound to 0.0.0.0 (a container), the listener publishes its host name's address, and a
    datagram sent there arrives."""
    got: asyncio.Queue[list[int]] = asyncio.Queue()
    transport, published = await listen("0.0.0.0", got.put_nowait)
    try:
        address = parse_address(published)
        assert address is not None
        assert address[0] != "0.0.0.0"
        loop = asyncio.get_running_loop()
        sender, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                        remote_addr=address)
        sender.sendto(encode([7, 3]))
        assert await asyncio.wait_for(got.get(), 5) == [3, 7]
        sender.close()
    finally:
        transport.close()


class Recorded(asyncio.DatagramTransport):
    """A datagram transport that keeps what it was asked to send (no network)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[bytes, wakeup.Address]] = []

    def sendto(self, data: bytes, addr: object = None) -> None:  # type: ignore[override]
        assert isinstance(addr, tuple)
        self.sent.append((bytes(data), addr))


def test_stream_words_are_not_account_ids() -> None:
    for word in wakeup.STREAM_WORDS:
        assert decode(word) == []


def test_subscriptions_are_confirmed_limited_and_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(wakeup.time, "monotonic", lambda: clock[0])
    transport = Recorded()
    subscribers = StreamSubscribers(seconds=10, limit=2)
    a, b, c = ("127.0.0.1", 1), ("127.0.0.1", 2), ("127.0.0.1", 3)
    subscribers.subscribe(transport, a)
    subscribers.subscribe(transport, b)
    subscribers.subscribe(transport, c)  # past the limit: ignored, not confirmed
    assert transport.sent == [(wakeup.STREAM_SUBSCRIBED, a), (wakeup.STREAM_SUBSCRIBED, b)]
    transport.sent.clear()
    subscribers.notify(transport)
    assert sorted(transport.sent) == [(wakeup.STREAM_SEQUENCED, a), (wakeup.STREAM_SEQUENCED, b)]
    clock[0] = 108.0
    subscribers.subscribe(transport, a)  # renewed: lives until 118
    transport.sent.clear()
    clock[0] = 112.0  # b expired at 110
    subscribers.notify(transport)
    assert transport.sent == [(wakeup.STREAM_SEQUENCED, a)]
    subscribers.subscribe(transport, c)  # room again
    transport.sent.clear()
    subscribers.notify(transport)
    assert sorted(transport.sent) == [(wakeup.STREAM_SEQUENCED, a), (wakeup.STREAM_SEQUENCED, c)]


async def start(
    store: Store, wake_host: str, poll_min_ms: float = SLOW_POLL_MS,
    prepare: Callable[[Worker], None] = lambda _worker: None,
) -> tuple[asyncio.Task[None], asyncio.Event, str]:
    settings = Settings(worker=worker_settings(
        poll_min_ms=poll_min_ms, poll_max_ms=SLOW_POLL_MS, lease_seconds=3600,
        heartbeat_seconds=3600, wake_host=wake_host))
    worker = Worker(settings, store)
    prepare(worker)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))

    async def registered() -> bool:
        async with store.read() as conn:
            return bool((await conn.execute(select(workers.c.id).where(
                workers.c.id == worker.worker_id))).first())

    await eventually(registered, GENEROUS)
    return task, stop, worker.worker_id


async def send_and_complete(h: Harness, account: int, side: str) -> None:
    """A market send through the acceptance service, then wait until the worker completed it."""
    item = await h.send(account, "send_order", symbol="BTC/USDT", side=side,
                        order_type="market", qty="0.001")
    assert item["ok"], item

    async def done() -> bool:
        return (await h.command(item["command_id"]))["status"] == "completed"

    await eventually(done, GENEROUS)


async def test_queued_command_wakes_an_idle_worker(fresh_store: Store) -> None:
    h = Harness(fresh_store)
    account = await h.account("netting")
    await h.price("BTC/USDT", "50000")
    task, stop, worker_id = await start(fresh_store, "127.0.0.1")
    sender = WakeSender(fresh_store)
    fresh_store.on_queued = sender.wake
    try:
        async with fresh_store.read() as conn:
            addr = (await conn.execute(select(workers.c.wake_addr).where(
                workers.c.id == worker_id))).scalar()
        assert parse_address(addr) is not None
        # three in a row: the first wakes the lease loop (no account task yet), the next ones
        # the account's task, which waits an hour between looks
        for side in ("buy", "sell", "buy"):
            await send_and_complete(h, account, side)
    finally:
        stop.set()
        await asyncio.wait_for(task, GENEROUS)  # the stop also cuts the hour-long pauses short
        await sender.close()


async def test_wake_ups_off_publishes_no_address(fresh_store: Store) -> None:
    task, stop, worker_id = await start(fresh_store, "")
    try:
        async with fresh_store.read() as conn:
            addr = (await conn.execute(select(workers.c.wake_addr).where(
                workers.c.id == worker_id))).scalar()
        assert addr is None
        sender = WakeSender(fresh_store)
        await sender.wake([1, 2])  # nobody to tell: a no-op, never an error
        await sender.close()
    finally:
        stop.set()
        await asyncio.wait_for(task, GENEROUS)


async def all_numbered(store: Store) -> bool:
    async with store.read() as conn:
        return (await conn.execute(select(outbox.c.id).where(outbox.c.seq.is_(None)))).first() is None


async def last_seq(store: Store) -> int:
    async with store.read() as conn:
        return int((await conn.execute(select(func.max(outbox.c.seq)))).scalar() or 0)


async def test_sequenced_rows_wake_a_tailer_that_polls_once_an_hour(
    fresh_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tailer's backstop poll is an hour once every running worker confirmed its
    subscription, and the worker's sequencer backs off to an hour too: both only move because
    the accept wakes the worker and the worker's sequencer tells the tailer."""
    monkeypatch.setattr(hub_module, "POLL_TOLD_SECONDS", 3600.0)
    h = Harness(fresh_store)
    account = await h.account("hedge")
    await h.price("BTC/USDT", "50000")
    # `poll_min_ms` is the sequencer's busy cadence (a round every few ms while rows come);
    # woken, the tasks' and the sequencer's idle backoffs start at half of `poll_max_ms`
    task, stop, _ = await start(fresh_store, "127.0.0.1", poll_min_ms=2)
    sender = WakeSender(fresh_store)
    fresh_store.on_queued = sender.wake
    hub = StreamHub(fresh_store, Settings(), ReadModel(fresh_store))
    told = StreamWakeups(fresh_store, "127.0.0.1", hub.wake.set, refresh=0.2, max_age=3600)
    try:
        assert await told.start()
        hub.told = lambda: told.trusted

        async def trusted() -> bool:
            return told.trusted

        await eventually(trusted, GENEROUS)
        await hub.start()
        for side in ("buy", "sell"):
            await send_and_complete(h, account, side)
            # with the batch's commit (or by the sequencer, had the numbering been skipped)
            await eventually(lambda: all_numbered(fresh_store), GENEROUS)
            target = await last_seq(fresh_store)

            async def followed(target: int = target) -> bool:
                assert hub.read_model is not None
                return hub.read_model.seq >= target and told.trusted

            await eventually(followed, GENEROUS)
        assert hub.read_model is not None
        # the model followed the tail: both hedge positions are open in it
        assert len(hub.read_model.books["positions"].by_account.get(account, {})) == 2
    finally:
        await hub.stop()
        await told.close()
        stop.set()
        await asyncio.wait_for(task, GENEROUS)
        await sender.close()


async def test_an_accept_s_events_are_numbered_with_its_execution(fresh_store: Store) -> None:
    """An accept wakes the account's task here; its record transaction numbers the accept's
    events with its own, so the sequencer, kicked by the same wake-up, runs no round of its
    own (it would otherwise run one per accept: a plain read and four locked statements). The
    sequencer's wait for that numbering is an hour here, so nothing depends on timing."""
    h = Harness(fresh_store)
    account = await h.account("hedge")
    await h.price("BTC/USDT", "50000")
    rounds: list[int] = []  # what each sequencer round numbered
    workers_: list[Worker] = []
    pausing: set[Kick] = set()  # the kicks whose loops are in their pause

    def prepare(worker: Worker) -> None:
        workers_.append(worker)
        sequencer = worker.sequencer
        sequencer.coverage.grace = 3600.0
        kick = sequencer.kick
        real, real_pause = sequencer.round, kick.pause

        async def counted(*, probe: bool) -> int:
            rounds.append(await real(probe=probe))
            return rounds[-1]

        async def pause(seconds: float) -> bool:
            pausing.add(kick)
            try:
                return await real_pause(seconds)
            finally:
                pausing.discard(kick)

        sequencer.round = counted  # type: ignore[method-assign]
        kick.pause = pause  # type: ignore[method-assign]

    # a busy cadence of a few ms: a streak of rounds ends soon with a round that finds nothing
    task, stop, _ = await start(fresh_store, "127.0.0.1", poll_min_ms=2, prepare=prepare)
    sender = WakeSender(fresh_store)
    fresh_store.on_queued = sender.wake
    try:
        await send_and_complete(h, account, "buy")  # the lease loop takes the account

        worker = workers_[0]

        async def quiet() -> bool:  # all numbered, the sequencer waits, no kick left over
            kick = worker.sequencer.kick
            return (await all_numbered(fresh_store) and kick in pausing and not kick.is_set()
                    and worker.sequencer.coverage.deferrable)  # fmt: skip

        await eventually(quiet, GENEROUS)
        before = len(rounds)
        for side in ("sell", "buy", "sell"):  # the account's task is running now
            await send_and_complete(h, account, side)
            await eventually(lambda: all_numbered(fresh_store), GENEROUS)
        assert rounds[before:] == []
    finally:
        stop.set()
        await asyncio.wait_for(task, GENEROUS)
        await sender.close()


async def test_a_worker_without_a_listener_makes_the_tailer_poll(fresh_store: Store) -> None:
    """A running worker with wake-ups off cannot tell anyone: the API side does not trust."""
    task, stop, _ = await start(fresh_store, "")
    told = StreamWakeups(fresh_store, "127.0.0.1", lambda: None, refresh=0.2, max_age=3600)
    try:
        assert await told.start()
        await told.subscribe_once()
        assert told.deaf
        assert not told.trusted
    finally:
        await told.close()
        stop.set()
        await asyncio.wait_for(task, GENEROUS)
