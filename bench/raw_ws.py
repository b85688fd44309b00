"""A websocket subscriber that costs a few microseconds per frame: a bare `asyncio.Protocol`.

Why it exists: the `websockets` client spends ~44 µs of CPU per socket and event (frame parsing,
UTF-8 decoding, its queue, the reader task's wake-up, then `json.loads`), so 10,000 of them need
0.44 s of CPU per event on the same cores as the gateway they measure (`bench.ws_client_cost`).
This one completes the HTTP upgrade, sends one text message (the subscribe), answers pings, and
for every later frame only splits it off by its header's length and stamps its arrival: no
unmasking (a server's frames are not masked), no UTF-8 or JSON decoding. Of an event it looks at
two things by a byte search: its `event` name and its `seq` (the outbox position, which the
benchmark joins to its order). Server frames are assumed unfragmented and uncompressed: the
handshake offers no extension, and the gateway sends each message as one frame.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's constant of the accept hash
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
SETUP_SECONDS = 120.0  # upgrade + first answer: generous, but a failure must not hang a run


def handshake(host: str, port: int, path: str, headers: dict[str, str]) -> tuple[bytes, bytes]:
    """The HTTP upgrade request and the `Sec-WebSocket-Accept` value its answer must carry."""
    key = base64.b64encode(os.urandom(16))
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key.decode()}",
             "Sec-WebSocket-Version: 13", *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
    accept = base64.b64encode(hashlib.sha1(key + GUID, usedforsecurity=False).digest())
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), accept


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final frame as a client must send it: masked (RFC 6455 §5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    return head + mask + masked


def next_frame(buf: bytes, pos: int) -> tuple[int, int, int] | None:
    """The frame of an unmasked stream starting at `pos`: (opcode, payload start, payload end),
    or None while it has not fully arrived."""
    have = len(buf) - pos
    if have < 2:
        return None
    n = buf[pos + 1] & 0x7F
    start = pos + 2
    if n == 126:
        if have < 4:
            return None
        n, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
    elif n == 127:
        if have < 10:
            return None
        n, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
    end = start + n
    return None if end > len(buf) else (buf[pos] & 0x0F, start, end)


def seq_of(buf: bytes, start: int, end: int) -> int | None:
    """The `"seq":N` member of a push, found by a byte search (the envelope puts it before the
    payload, so the first occurrence is the envelope's)."""
    at = buf.find(b'"seq":', start, end)
    if at < 0:
        return None
    stop = buf.find(b",", at + 6, end)
    digits = buf[at + 6 : stop]
    return int(digits) if digits.isdigit() else None


@dataclass
class Tally:
    """What all subscribers of one process saw: frames received, sockets closed, and the arrival
    times (CLOCK_MONOTONIC, one clock for every process of the machine) of the marked event by
    its `seq`."""

    marker: bytes
    frames: int = 0
    closed: int = 0
    arrivals: dict[int, list[float]] = field(default_factory=dict)


class Subscriber(asyncio.Protocol):
    """Upgrade, then after the server's first frame (the greeting) send `first_message`; the
    next frame (its answer) resolves `ready`. Every later frame is counted, and stamped when it
    carries `tally.marker`."""

    def __init__(self, request: bytes, accept: bytes, first_message: bytes, tally: Tally,
                 ready: asyncio.Future[None]) -> None:  # fmt: skip
        self.request, self.accept, self.first_message = request, accept, first_message
        self.tally, self.ready = tally, ready
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = False
        self.setup_frames = 0  # greeting, then the answer to `first_message`
        self.clock: Callable[[], float] = time.monotonic

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.tally.closed += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before subscribing: {exc}"))

    def data_received(self, data: bytes) -> None:
        now = self.clock()
        buf = self.buf + data if self.buf else data
        pos = 0
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not self._upgrade_accepted(buf[:end]):
                return
            self.upgraded, pos = True, end + 4
        pos = self._frames(buf, pos, now)
        self.buf = buf[pos:] if pos < len(buf) else b""

    def _frames(self, buf: bytes, pos: int, now: float) -> int:
        """Take the whole frames from `pos` on; returns where the first incomplete one starts."""
        tally = self.tally
        while (frame := next_frame(buf, pos)) is not None:
            opcode, start, pos = frame
            if opcode == TEXT:
                if self.setup_frames < 2:
                    self._setup_frame()
                    continue
                tally.frames += 1
                if buf.find(tally.marker, start, pos) >= 0:
                    seq = seq_of(buf, start, pos)
                    if seq is not None:
                        tally.arrivals.setdefault(seq, []).append(now)
            elif opcode == PING:
                self._write(client_frame(PONG, buf[start:pos]))
            elif opcode == CLOSE:
                self.close()
                return len(buf)
        return pos

    def _upgrade_accepted(self, head: bytes) -> bool:
        if head.startswith(b"HTTP/1.1 101") and self.accept in head:
            return True
        first = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"websocket upgrade refused: {first}"))
        if self.transport is not None:
            self.transport.close()
        return False

    def _setup_frame(self) -> None:
        self.setup_frames += 1
        if self.setup_frames == 1:
            self._write(client_frame(TEXT, self.first_message))
        elif not self.ready.done():
            self.ready.set_result(None)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def subscribe(host: str, port: int, path: str, headers: dict[str, str],
                    first_message: bytes, tally: Tally) -> Subscriber:  # fmt: skip
    """One connected subscriber whose first message has been answered."""
    loop = asyncio.get_running_loop()
    request, accept = handshake(host, port, path, headers)
    ready: asyncio.Future[None] = loop.create_future()
    _, protocol = await loop.create_connection(
        lambda: Subscriber(request, accept, first_message, tally, ready), host, port)
    await asyncio.wait_for(ready, SETUP_SECONDS)
    return protocol
