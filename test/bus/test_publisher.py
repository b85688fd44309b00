"""The bus publisher and the bus-fed websocket hub in process, on a real nats-server and a real
SQLite store (docs/events-bus.md): the publisher continues from the stream, a re-publish is a
duplicate and never a second message, a bus that is down at start delays publication only; the
hub fills a gap from the store, drops repeats, and reads the store itself when the bus lags."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats as nats_client
import pytest

from apps.api.ws.bus_hub import BusStreamHub
from apps.oms.bus import message
from apps.oms.bus.link import BusLink
from apps.oms.bus.publisher import Publisher
from apps.oms.clock import utcnow
from apps.oms.config import BusSettings, Settings
from apps.oms.store import sequencer, stream
from apps.oms.store.migrate import upgrade
from apps.oms.store.outbox import append_events
from apps.oms.store.store import Store
from apps.oms.store.stream import StreamEvent
from test.outbox_rows import raw_event

from .nats_server import NatsServer

STREAM = "OMS_T"


@pytest.fixture
def fresh_sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'oms.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture
async def store(fresh_sqlite_url: str) -> AsyncIterator[Store]:
    opened = Store.from_url(fresh_sqlite_url)
    async with opened.transaction() as conn:
        await sequencer.ensure_state(conn, utcnow())
    yield opened
    await opened.close()


async def add_events(store: Store, n: int) -> None:
    async with store.transaction() as conn:
        await append_events(conn, [raw_event(account_id=None, namespace="system", event="tick",
                                            payload={"i": i, "qty": "0.1"}) for i in range(n)])
    async with store.transaction() as conn:
        await sequencer.assign(conn, utcnow())


async def outbox(store: Store) -> list[StreamEvent]:
    async with store.read() as conn:
        return await stream.tail(conn, 0, 10_000)


async def stream_seqs(url: str) -> list[tuple[int, str]]:
    nc = await nats_client.connect(url)
    try:
        js = nc.jetstream()
        state = (await js.stream_info(STREAM)).state
        msgs = [await js.get_msg(STREAM, s) for s in range(state.first_seq, state.last_seq + 1)]
        return [(m.seq, (m.headers or {})["Nats-Msg-Id"]) for m in msgs]
    finally:
        await nc.close()


async def connected(server: NatsServer, lease_seconds: float = 1) -> BusLink:
    link = BusLink(BusSettings(url=server.url, stream=STREAM, lease_seconds=lease_seconds), "test")
    link.start()
    await asyncio.wait_for(link.connected.wait(), 120)
    return link


async def eventually(check: object, what: str) -> None:
    deadline = time.monotonic() + 120
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_a_republish_is_a_duplicate_and_publication_continues_from_the_stream(
        store: Store, nats: NatsServer) -> None:
    link = await connected(nats)
    try:
        await add_events(store, 5)
        await Publisher(store, link, "first").round()
        assert await stream_seqs(nats.url) == [(s, str(s)) for s in range(1, 6)]
        await add_events(store, 3)
        # a publisher that crashed before it saw its acknowledgements publishes 2.. again
        stale = Publisher(store, link, "stale")
        stale.next_seq, stale.chained = 2, True
        assert await stale.publish_batch() == 7
        # a new one starts from the stream, not from memory: nothing left to publish
        fresh = Publisher(store, link, "fresh")
        await fresh.sync()
        assert fresh.next_seq == 9
        assert await stream_seqs(nats.url) == [(e.seq, str(e.seq)) for e in await outbox(store)]
    finally:
        await link.close()


async def test_a_standby_takes_the_lease_from_a_holder_gone_from_the_bus_not_from_a_stalled_one(
        store: Store, nats: NatsServer) -> None:
    # the lease expires after 300 s, longer than `eventually` waits: only the probe hands over
    link_a, link_b = await connected(nats, 300), await connected(nats, 300)
    stalled = await nats_client.connect(nats.url)
    try:
        await add_events(store, 3)
        a, b = Publisher(store, link_a, "a"), Publisher(store, link_b, "b")
        await a.listen()
        await b.listen()
        await a.round()
        assert a.published == 3
        await b.round()
        assert b.lease.revision is None  # a standby
        b.probed_at = float("-inf")
        await b.round()
        assert b.lease.revision is None  # a answers
        # "a" stalls: its subject is still listened to, nothing answers; then it is killed
        await stalled.subscribe(message.presence_subject("oms.wake", "a"))
        await stalled.flush()
        await link_a.close()
        b.probed_at = float("-inf")
        await b.round()
        assert b.lease.revision is None  # there but slow: the lease's expiry decides
        await stalled.close()
        await add_events(store, 2)

        async def took_over() -> bool:
            await b.round()
            return b.published == 5

        await eventually(took_over, "the standby did not take over from a holder gone")
        assert await stream_seqs(nats.url) == [(s, str(s)) for s in range(1, 6)]
    finally:
        await link_b.close()
        await link_a.close()
        if not stalled.is_closed:
            await stalled.close()


async def test_a_bus_down_at_start_delays_publication_only(store: Store, tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "late-nats")  # not started yet
    link = BusLink(BusSettings(url=server.url, stream=STREAM, lease_seconds=1), "test")
    link.start()
    publisher = Publisher(store, link, "p")
    stop = asyncio.Event()
    running = asyncio.create_task(publisher.run(stop))
    try:
        await add_events(store, 4)
        await asyncio.sleep(0.5)
        assert not link.connected.is_set()
        server.start()
        await add_events(store, 2)

        async def all_published() -> bool:
            return publisher.published == 6

        await eventually(all_published, "the publisher did not catch up")
        assert await stream_seqs(server.url) == [(s, str(s)) for s in range(1, 7)]
    finally:
        stop.set()
        await running
        await link.close()
        server.stop()


async def test_the_bus_hub_fills_gaps_from_the_store_and_drops_repeats(store: Store) -> None:
    await add_events(store, 6)
    events = await outbox(store)
    settings = Settings(bus=BusSettings(url="nats://127.0.0.1:1", consume=True))
    hub = BusStreamHub(store, settings, None, BusLink(settings.bus, "unused"))
    hub.last_seq = 2
    filled = await hub.fill([events[4], events[1], events[5]])  # 5, a repeat of 2, 6
    assert [e.seq for e in filled] == [3, 4, 5, 6]
    assert filled == events[2:]
    assert hub.from_store == 2
    # the bus silent while the store moved on: the second look reads the store itself
    hub.last_seq = 0
    await hub._look_at_store()
    assert hub.last_seq == 0
    await hub._look_at_store()
    assert hub.last_seq == 6
