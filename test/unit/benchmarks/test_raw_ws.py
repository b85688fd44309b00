"""bench/raw_ws.py, the P5b benchmark's cheap subscriber: its frame splitting and masking, and
the protocol against a real `websockets` server (upgrade, subscribe, pings, frames of every
length form, frames split across reads)."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.server import ServerConnection, serve

from bench.raw_ws import (
    PING,
    TEXT,
    Subscriber,
    Tally,
    client_frame,
    handshake,
    next_frame,
    seq_of,
    subscribe,
)


def server_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes([0x80 | opcode, n]) + payload
    if n < 1 << 16:
        return bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big") + payload
    return bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big") + payload


def compact(message: object) -> str:
    """JSON as the gateway writes it (no spaces)."""
    return json.dumps(message, separators=(",", ":"))


def test_next_frame_reads_every_length_form_and_waits_for_the_rest() -> None:
    for size in (0, 125, 126, 65535, 65536, 70000):
        payload = bytes(size)
        stream = b"xx" + server_frame(TEXT, payload) + b"\x81"
        frame = next_frame(stream, 2)
        assert frame is not None
        opcode, start, end = frame
        assert (opcode, end - start, end) == (TEXT, size, len(stream) - 1)
        assert next_frame(stream, end) is None  # one byte of the next frame's header
        whole = server_frame(TEXT, payload)
        assert all(next_frame(whole[:cut], 0) is None for cut in (1, len(whole) - 1) if cut)


def test_client_frame_is_masked_and_unmasks_to_the_payload() -> None:
    for size in (3, 200, 70000):
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        frame = client_frame(TEXT, payload)
        assert frame[0] == 0x80 | TEXT
        assert frame[1] & 0x80
        n = frame[1] & 0x7F
        head = 2 if n < 126 else 4 if n == 126 else 10
        mask, body = frame[head : head + 4], frame[head + 4 :]
        assert bytes(b ^ mask[i % 4] for i, b in enumerate(body)) == payload


def test_seq_of_reads_the_envelopes_seq() -> None:
    text = b'{"id":null,"event":"order_accepted","seq":4711,"payload":{"seq":1}}'
    assert seq_of(text, 0, len(text)) == 4711
    assert seq_of(b'{"seq":null,"a":1}', 0, 18) is None
    assert seq_of(b'{"a":1}', 0, 7) is None


async def test_subscriber_against_a_websockets_server() -> None:
    """Greeting, subscribe (the server checks the key header and the message), then events of
    all three length forms, and a ping the server sees answered."""
    asked: list[object] = []
    pinged = asyncio.Event()
    go = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        assert ws.request.headers["x-api-key"] == "k-1"
        await ws.send(json.dumps({"event": "connected"}))
        asked.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"event": "subscribed"}))
        await go.wait()
        for seq, pad in ((1, 10), (2, 300), (3, 70000)):
            await ws.send(compact({"event": "order_accepted", "seq": seq, "pad": "x" * pad}))
        await ws.send(compact({"event": "order_filled", "seq": 4}))
        await asyncio.wait_for(await ws.ping(b"are you there"), 30)
        pinged.set()
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        tally = Tally(b'"event":"order_accepted"')
        message = json.dumps({"action": "subscribe"}).encode()
        sockets = [await subscribe("127.0.0.1", port, "/ws", {"x-api-key": "k-1"}, message,
                                   tally) for _ in range(3)]  # fmt: skip
        assert asked == [{"action": "subscribe"}] * 3
        go.set()
        await asyncio.wait_for(pinged.wait(), 30)
        for _ in range(300):
            if tally.frames == 12:
                break
            await asyncio.sleep(0.01)
        assert tally.frames == 12  # 4 events to each of 3 sockets; setup frames not counted
        assert sorted(tally.arrivals) == [1, 2, 3]
        assert all(len(times) == 3 for times in tally.arrivals.values())
        for sock in sockets:
            sock.close()


def test_subscriber_takes_a_stream_cut_anywhere() -> None:
    """The same bytes fed whole and one byte at a time give the same count and arrivals."""
    request, accept = handshake("127.0.0.1", 1, "/ws", {})
    events = [server_frame(TEXT, json.dumps({"event": "order_accepted", "seq": seq,
                                              "pad": "x" * pad}, separators=(",", ":")).encode())
              for seq, pad in ((7, 5), (8, 200), (9, 66000))]  # fmt: skip
    stream = (b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: " + accept
              + b"\r\n\r\n" + server_frame(TEXT, b'{"event":"connected"}')
              + server_frame(TEXT, b'{"event":"subscribed"}') + server_frame(PING, b"p")
              + b"".join(events) + server_frame(TEXT, b'{"event":"order_filled","seq":10}'))

    async def feed(step: int) -> Tally:
        tally = Tally(b'"event":"order_accepted"')
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        protocol = Subscriber(request, accept, b"{}", tally, ready)
        for at in range(0, len(stream), step):
            protocol.data_received(stream[at : at + step])
        assert ready.done()
        assert ready.exception() is None
        return tally

    for step in (len(stream), 1, 1000):
        tally = asyncio.run(feed(step))
        assert tally.frames == 4
        assert sorted(tally.arrivals) == [7, 8, 9]
