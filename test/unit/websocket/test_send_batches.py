"""A connection's delivery (apps/api/ws/connection.py): a message for a connection with nothing
queued and no send in progress is written at once when the socket takes it (the events of one
tailer read in one write); otherwise it waits in the queue, and what waits goes out together as
one pre-framed send (at most 64 messages, or 64 KiB past the first), in order, with each
message's frame whether the caller built it or not; where the server does not offer
pre-framing, one send per message as before. The socket here is a recording ASGI peer: the
connection's decisions are what is under test (the protocol's writes are tested over real
sockets in test/api/test_preframed_protocol.py)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from apps.api.ws.connection import (
    BATCH_BYTES,
    BATCH_MESSAGES,
    FLUSH,
    Connection,
    Subscription,
)
from apps.api.ws.hub import PreparedRun
from apps.api.ws.preframed import FRAMES, FRAMES_EXTENSION, TEXTS, WRITABLE, WRITE_NOW, text_frame
from apps.oms.service.stream import AccountScope
from apps.oms.store.stream import StreamEvent


class RecordingSocket:
    def __init__(self, offered: bool, direct: bool = False) -> None:
        self.flag = asyncio.Event()  # the protocol's writable flag
        self.flag.set()
        extension = {WRITE_NOW: self.write_now, WRITABLE: self.flag} if direct else {"": None}
        self.scope: dict[str, Any] = {"extensions": {FRAMES_EXTENSION: extension}
                                      if offered else {}}  # fmt: skip
        self.sent: list[Any] = []
        self.written: list[bytes] = []  # direct writes
        self.writable = True
        self.fills_up = False  # a write that leaves the buffer over its high-water mark

    def write_now(self, frames: bytes) -> bool:
        if self.writable:
            self.written.append(frames)
            if self.fills_up:
                self.flag.clear()
        return self.writable

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def send_text(self, text: str) -> None:
        self.sent.append(text)


async def _run(conn: Connection) -> None:
    loop = asyncio.create_task(conn.send_loop())
    for _ in range(1_000):  # the loop's turns until the queue is drained (no timing involved)
        await asyncio.sleep(0)
        if conn.queue.empty():
            break
    await asyncio.sleep(0)
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)


def _connection(offered: bool, direct: bool = False) -> tuple[Connection, RecordingSocket]:
    ws = RecordingSocket(offered, direct)
    return Connection(cast(Any, ws), cast(Any, None), 1_000, 5.0), ws


async def test_what_waits_goes_out_together_in_order() -> None:
    conn, ws = _connection(offered=True)
    texts = [f'{{"n":{n}}}' for n in range(100)]
    for n, text in enumerate(texts):  # every other one with the frame its caller built
        conn.push_text(text, text_frame(text) if n % 2 else None)
    await _run(conn)
    assert [len(m[TEXTS]) for m in ws.sent] == [BATCH_MESSAGES, 100 - BATCH_MESSAGES]
    assert [t for m in ws.sent for t in m[TEXTS]] == texts
    assert [f for m in ws.sent for f in m[FRAMES]] == [text_frame(t) for t in texts]
    assert all(m["type"] == "websocket.send" for m in ws.sent)
    assert conn.sending_since is None


async def test_a_batch_stops_at_its_byte_bound() -> None:
    conn, ws = _connection(offered=True)
    huge = "h" * (2 * BATCH_BYTES)
    big = "x" * (BATCH_BYTES - 10)  # its frame: 4 bytes of header, so 6 short of the bound
    texts = [huge, "a", big, "b", "c", "d"]
    for text in texts:
        conn.push_text(text)
    await _run(conn)
    # a message over the bound goes alone; then "a" (3 bytes framed), the big one and "b"
    # reach the bound exactly; what follows is the next batch
    assert [m[TEXTS] for m in ws.sent] == [[huge], ["a", big, "b"], ["c", "d"]]


async def test_without_the_extension_each_message_is_its_own_send() -> None:
    conn, ws = _connection(offered=False)
    texts = ["one", "two", "three"]
    for text in texts:
        conn.push_text(text, text_frame(text))
    await _run(conn)
    assert ws.sent == texts


def _event(seq: int, account_id: int) -> StreamEvent:
    return StreamEvent(seq, account_id, "order", "order_filled", None, f'{{"seq":{seq}}}')


def _live(conn: Connection, account_id: int) -> None:
    scope = AccountScope(account_id, frozenset({"order"}), None, True)
    conn.subscriptions[account_id] = Subscription(scope, after_seq=0)
    conn.live = True


async def test_a_connection_that_keeps_up_is_written_at_once() -> None:
    conn, ws = _connection(offered=True, direct=True)
    _live(conn, 7)
    run = [_event(seq, 7 if seq != 2 else 8) for seq in (1, 2, 3)]
    prepared = [(e, f"text{e.seq}", text_frame(f"text{e.seq}")) for e in run]
    conn.offer_all(PreparedRun(prepared))
    # the two events of account 7 in one write; account 8's is not admitted
    assert ws.written == [text_frame("text1") + text_frame("text3")]
    assert conn.queue.empty()
    assert ws.sent == []
    assert conn.cursor == 3
    conn.offer_all(PreparedRun(prepared))  # already delivered: nothing again
    assert len(ws.written) == 1


async def test_connections_admitting_the_same_events_share_one_joined_write() -> None:
    """A write holds its bytes until the socket takes them: thousands of sockets must hold one
    object, not a copy each."""
    run_events = [_event(seq, 7 if seq != 2 else 8) for seq in (1, 2, 3)]
    run = PreparedRun([(e, f"text{e.seq}", text_frame(f"text{e.seq}")) for e in run_events])
    sockets = []
    for account_ids in ((7,), (7,), (7, 8), (7, 8)):
        conn, ws = _connection(offered=True, direct=True)
        for account_id in account_ids:
            _live(conn, account_id)
        conn.offer_all(run)
        sockets.append(ws)
    first, second, both, both_again = (ws.written for ws in sockets)
    assert first == second == [text_frame("text1") + text_frame("text3")]
    assert first[0] is second[0]
    assert both == both_again == [text_frame("text1") + text_frame("text2") + text_frame("text3")]
    assert both[0] is both_again[0]


async def test_a_socket_that_does_not_take_it_gets_it_in_order_through_the_queue() -> None:
    conn, ws = _connection(offered=True, direct=True)
    ws.writable = False
    conn.push_text("first")
    ws.writable = True
    conn.push_text("second")  # behind "first" in the queue, not around it
    assert ws.written == []
    await _run(conn)
    assert [m[TEXTS] for m in ws.sent] == [["first", "second"]]
    conn.push_text("third")  # the queue drained: directly again
    assert ws.written == [text_frame("third")]


async def test_a_direct_write_that_fills_the_buffer_leaves_a_send_in_view_of_the_timeout() -> None:
    """A peer that stopped reading must meet the send timeout even when nothing more comes:
    the write that filled its buffer queues a send of nothing, which waits for the drain."""
    conn, ws = _connection(offered=True, direct=True)
    ws.fills_up = True
    conn.push_text("big")
    assert ws.written == [text_frame("big")]
    assert list(conn.queue._queue) == [FLUSH]  # type: ignore[attr-defined]
    await _run(conn)
    assert ws.sent == [{"type": "websocket.send", FRAMES: [b""], TEXTS: []}]
