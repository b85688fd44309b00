"""Wake-ups: a real in-process `Worker` that polls only once an hour still executes commands
queued through the acceptance service, because the API side's `WakeSender` (wired as the
store's `on_queued` hook, as `create_app` does) sends it a UDP datagram. Also the datagram codec,
and that a worker with wake-ups off publishes no address.

No speed is asserted: the deadline is generous (a minute), and without a wake-up nothing would
look for the command within the hour."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from apps.oms.config import Settings
from apps.oms.store.store import Store
from apps.oms.store.tables import workers
from apps.oms.wakeup import WakeSender, decode, encode, listen, parse_address
from apps.worker.main import Worker

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


async def start(store: Store, wake_host: str) -> tuple[asyncio.Task[None], asyncio.Event, str]:
    settings = Settings(worker=worker_settings(
        poll_min_ms=SLOW_POLL_MS, poll_max_ms=SLOW_POLL_MS, lease_seconds=3600,
        heartbeat_seconds=3600, wake_host=wake_host))
    worker = Worker(settings, store)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))

    async def registered() -> bool:
        async with store.read() as conn:
            return bool((await conn.execute(select(workers.c.id).where(
                workers.c.id == worker.worker_id))).first())

    await eventually(registered, GENEROUS)
    return task, stop, worker.worker_id


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
            item = await h.send(account, "send_order", symbol="BTC/USDT", side=side,
                                order_type="market", qty="0.001")
            assert item["ok"], item

            async def done(command_id: int = item["command_id"]) -> bool:
                return (await h.command(command_id))["status"] == "completed"

            await eventually(done, GENEROUS)
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
