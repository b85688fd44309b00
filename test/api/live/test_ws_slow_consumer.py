"""A client that stops reading is dropped with close code 1013 and a reason; a fast client on
the same stream receives every event meanwhile (the tailer never waits for a client). No speed
is asserted (generous deadlines; the fan-out's speed is measured in bench/).

The slow client starts reading once the server has dropped it: TCP delivers the close frame only
behind the bytes queued before it, and only to a peer that reads, so a client that kept not
reading through the whole fast phase could outlast the server's grace for the close (seen once
under two suites on a slow machine: EOF without a close frame)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import urlparse

import pytest
import websockets

from test.api.live.conftest import Stack, connect
from test.outbox_rows import append_raw

pytestmark = pytest.mark.mysql
EVENTS = 120
BLOB = "x" * 100_000  # 12 MB in total: more than the socket buffers of a client that stops reading


def small_buffer_socket(url: str) -> socket.socket:
    parsed = urlparse(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parsed.hostname or "127.0.0.1", parsed.port or 80))
    return sock


async def read_to_the_end(ws: Any) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), 60)


async def test_slow_consumer_dropped_without_slowing_others(stack: Stack) -> None:
    fast = await connect(stack, stack.trader_key)
    slow = await connect(stack, stack.trader_key, max_queue=1, compression=None,
                         sock=small_buffer_socket(stack.ws_url()))
    for client in (fast, slow):
        reply = await client.request("subscribe", {"account_ids": [stack.account_id],
                                                   "with_snapshot": False})
        assert reply["ok"]
    port = slow.ws.local_address[1]
    hub = stack.app.state.stream_hub
    (dropped,) = [c for c in hub.connections if c.ws.client.port == port]  # server side

    async def fast_phase() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        for first in range(0, EVENTS, 10):  # a steady stream, as commits arrive
            async with stack.store.transaction() as conn:
                for n in range(first, first + 10):
                    await append_raw(conn, account_id=stack.account_id, namespace="position",
                                     event="bulk_test", payload={"n": n, "blob": BLOB})
            # the producer follows the fast client (never more than one batch ahead of it), so
            # the fast client's fate does not depend on how quickly this loaded machine lets it
            # read; the slow client, which reads nothing, still falls 12 MB behind
            last = first + 9
            got += await fast.until(
                lambda m, last=last: m["event"] == "bulk_test" and m["payload"]["n"] == last,
                wait=120)
        return got

    async def slow_side() -> websockets.ConnectionClosed:
        await asyncio.wait_for(dropped.closed.wait(), 600)  # the server gave up on it
        assert dropped.close_code == 1013
        with pytest.raises(websockets.ConnectionClosed) as info:
            await drain()  # now read: the close frame waits behind what was queued before it
        return info.value

    async def drain() -> None:
        while True:
            await asyncio.wait_for(slow.ws.recv(), 60)

    got, closed = await asyncio.gather(fast_phase(), slow_side())
    numbers = [m["payload"]["n"] for m in got if m["event"] == "bulk_test"]
    assert numbers == list(range(EVENTS))  # every event, in order, whatever the slow client did
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1013
    assert closed.rcvd.reason.startswith("slow consumer")
    assert (await fast.request("ping"))["event"] == "pong"
    await fast.ws.close()


async def test_send_waiting_past_the_timeout_drops_a_client_whose_queue_has_room(
    stack: Stack,
) -> None:
    """A burst smaller than the send queue (40 events against 50) to a client that does not
    read: the queue never fills, so what drops it is its send outlasting the send timeout (1 s
    on this stack), noticed by the hub's watch of the sends in progress."""
    slow = await connect(stack, stack.trader_key, max_queue=1, compression=None,
                         sock=small_buffer_socket(stack.ws_url()))
    reply = await slow.request("subscribe", {"account_ids": [stack.account_id],
                                             "with_snapshot": False})
    assert reply["ok"]
    port = slow.ws.local_address[1]
    (dropped,) = [c for c in stack.app.state.stream_hub.connections if c.ws.client.port == port]
    async with stack.store.transaction() as conn:
        for n in range(40):  # 4 MB: more than the socket buffers hold for a peer that reads none
            await append_raw(conn, account_id=stack.account_id, namespace="position",
                             event="bulk_test", payload={"n": n, "blob": BLOB})
    await asyncio.wait_for(dropped.closed.wait(), 600)
    assert dropped.close_code == 1013
    assert dropped.close_reason == "slow consumer: a send took over 1s"
    assert dropped.queue.qsize() < dropped.queue_size
    with pytest.raises(websockets.ConnectionClosed) as info:
        await read_to_the_end(slow.ws)  # the close frame waits behind what was queued before it
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1013
