"""Pre-framed websocket sends: one socket write for several queued messages.

Fan-out sends the same event text to every subscriber. Through ASGI each message is one
`websocket.send`: the middlewares' send wrappers, the server building the frame, and one socket
write (one system call) per socket and message; at 10,000 subscribers and 5 events per command
that is 50,000 writes per command, and the write is most of the cost (docs/benchmarks.md → P5b).
A server-to-client frame is not masked, so its bytes are the same on every socket: the gateway
builds each event's frame once (`text_frame`), and a connection's send loop hands the frames
waiting in its queue to the server in one message, which writes them with one `transport.write`
once the socket is writable (the same flow control as a single message's send). A connection
with nothing queued and no send in progress skips even that: `write_now`, which the protocol
puts in the extension, writes the frames synchronously when the socket is writable.

The ASGI specification lets a server offer extensions in the scope; `PreframedProtocol` (the
uvicorn websocket protocol of `ccxt-oms api`) offers `FRAMES_EXTENSION` and takes a
`websocket.send` carrying `FRAMES` (the frames, a list of bytes) and `TEXTS` (the same messages
as text). A connection that negotiated a websocket extension (permessage-deflate transforms
every frame per connection) is not offered it: the extension leaves its scope at the accept. A
server without it (tests' in-process clients, another ASGI server) never sees such a message,
because the connection only sends it when the scope offers the extension.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, cast

from uvicorn._types import ASGISendEvent, WebSocketSendEvent
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

FRAMES_EXTENSION = "ccxt_oms.websocket.frames"
FRAMES = "ccxt_oms.frames"
TEXTS = "ccxt_oms.texts"
WRITE_NOW = "write_now"  # in the extension's dict: `PreframedProtocol.write_now`
WRITABLE = "writable"  # and the protocol's flow control: set while the socket takes writes
# what the base protocol is handed when pre-framed messages come at the wrong time, so that
# the app gets its usual error (a send before the accept or after the close)
_PLAIN: WebSocketSendEvent = {"type": "websocket.send", "bytes": None, "text": ""}


def text_frame(text: str) -> bytes:
    """The complete, unmasked text frame of `text` (RFC 6455 section 5.2), as a server sends it."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def offers_frames(scope: Any) -> bool:
    return FRAMES_EXTENSION in (scope.get("extensions") or {})


def direct_writer(scope: Any) -> tuple[Callable[[bytes], bool], asyncio.Event] | None:
    """The connection's `write_now` and its writable flag where the server offers them."""
    offered = (scope.get("extensions") or {}).get(FRAMES_EXTENSION) or {}
    if WRITE_NOW not in offered:
        return None
    return cast(Callable[[bytes], bool], offered[WRITE_NOW]), offered[WRITABLE]


class PreframedProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol (the sans-I/O one, uvicorn's default), plus
    `FRAMES_EXTENSION` (see the module docstring)."""

    async def run_asgi(self) -> None:
        self.scope["extensions"][FRAMES_EXTENSION] = {WRITE_NOW: self.write_now,
                                                      WRITABLE: self.writable}  # fmt: skip
        await super().run_asgi()

    def write_now(self, frames: bytes) -> bool:
        """Write complete frames at once, synchronously, when nothing stands in the way: the
        connection is open, negotiated no extension, and its socket is writable (its buffer
        under the high-water mark). False: nothing written; the caller sends them the usual
        way, which waits where this one may not. The fan-out's path for a socket that keeps
        up: no task to wake, no ASGI send chain, one system call."""
        if (self.disconnected or self.close_sent or not self.handshake_complete
                or self.initial_response is not None or not self.writable.is_set()
                or self.conn.state is not State.OPEN or self.conn.extensions
                or self.transport.is_closing()):  # fmt: skip
            return False
        self.transport.write(frames)
        return True

    async def send(self, message: ASGISendEvent) -> None:
        extended = cast(Mapping[str, Any], message)
        frames: list[bytes] | None = extended.get(FRAMES)
        if frames is None:
            await super().send(message)
            if message["type"] == "websocket.accept" and self.conn.extensions:
                # a negotiated extension (permessage-deflate) transforms every frame on this
                # connection: pre-built frames would be wrong, so they are not offered
                self.scope["extensions"].pop(FRAMES_EXTENSION, None)
            return
        await self.writable.wait()  # flow control, as every send of the base protocol
        if self.disconnected:
            raise ClientDisconnected()
        if not self.handshake_complete or self.close_sent or self.initial_response is not None:
            await super().send(_PLAIN)  # the base protocol's own error for this moment
            return
        if self.conn.state is not State.OPEN:
            raise ClientDisconnected()  # what the base protocol makes of `InvalidState`
        if self.conn.extensions:  # not offered then (`send`, accept): should it come anyway
            for text in extended[TEXTS]:
                self.conn.send_text(text.encode())
            self.transport.write(b"".join(self.conn.data_to_send()))
            return
        self.transport.write(b"".join(frames))
