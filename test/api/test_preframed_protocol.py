"""The pre-framed websocket send (apps/api/ws/preframed.py) over a real uvicorn server and a real
`websockets` client: several messages in one write arrive as separate messages, in order, with
and without permessage-deflate (where it is negotiated the extension leaves the scope at the
accept, and frames sent anyway go out one text at a time); frames are RFC 6455's; a send after
the peer closed fails as the base protocol's does."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn
import websockets

from apps.api.ws.preframed import (
    FRAMES,
    FRAMES_EXTENSION,
    TEXTS,
    PreframedProtocol,
    direct_writer,
    offers_frames,
    text_frame,
)

TEXTS_SENT = ["first", "é" * 70, "x" * 126, "y" * 65_536, '{"event":"order_filled"}']


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Seen = dict[str, Any]
App = Callable[[dict[str, Any], Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]],
               Awaitable[None]]


def _app(seen: Seen) -> App:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        seen["offered_at_connect"] = offers_frames(scope)
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        seen["offered"] = offers_frames(scope)  # what the app goes by
        # sent even where not offered: the protocol then sends the texts one by one
        frames = [text_frame(t) for t in TEXTS_SENT]
        await send({"type": "websocket.send", FRAMES: frames, TEXTS: TEXTS_SENT})
        await send({"type": "websocket.send", "text": "plain"})
        direct = direct_writer(scope)  # the synchronous path, where offered
        seen["direct"] = None if direct is None else direct[0](text_frame("direct"))
        await receive()  # the client's close
        for kind, late in (("plain", {"type": "websocket.send", "text": "late"}),
                           ("framed", {"type": "websocket.send", FRAMES: [text_frame("late")],
                                       TEXTS: ["late"]})):  # fmt: skip
            try:
                await send(late)
                seen[kind] = None
            except Exception as exc:  # the test compares what each raises
                seen[kind] = type(exc).__name__
    return app


async def _serve(seen: Seen, deflate: bool) -> AsyncIterator[str]:
    port = _port()
    server = uvicorn.Server(uvicorn.Config(
        _app(seen), host="127.0.0.1", port=port, log_level="warning", lifespan="off",
        ws=PreframedProtocol, ws_per_message_deflate=deflate,
    ))  # fmt: skip
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await serving


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "permessage-deflate"])
async def test_one_write_of_several_frames_arrives_as_separate_messages(deflate: bool) -> None:
    seen: Seen = {}
    async for url in _serve(seen, deflate):
        compression = "deflate" if deflate else None
        async with websockets.connect(url, compression=compression) as client:
            got = [await client.recv() for _ in range(len(TEXTS_SENT) + 1 + (not deflate))]
            negotiated = [type(e).__name__ for e in client.protocol.extensions]
        for _ in range(200):  # the app's late send runs after the close
            if "framed" in seen:
                break
            await asyncio.sleep(0.01)
    assert got == [*TEXTS_SENT, "plain", *(["direct"] if not deflate else [])]
    assert seen["direct"] is (None if deflate else True)
    assert negotiated == (["PerMessageDeflate"] if deflate else [])
    assert seen["offered_at_connect"] is True
    assert seen["offered"] is not deflate  # a compressed connection is not offered pre-framing
    assert seen["framed"] == seen["plain"] is not None  # a late send fails as a plain one does


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 100_000])
def test_text_frame_is_rfc_6455s_unmasked_text_frame(size: int) -> None:
    payload = ("ü" * size).encode()[:size] if size % 2 == 0 else b"a" * size
    n = len(payload)
    if n < 126:
        header = bytes([0x81, n])
    elif n < 65_536:
        header = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x81, 127]) + n.to_bytes(8, "big")
    assert text_frame(payload.decode()) == header + payload  # FIN + text; a server never masks


def test_the_extension_is_only_seen_where_offered() -> None:
    assert offers_frames({"extensions": {FRAMES_EXTENSION: {}}}) is True
    assert offers_frames({"extensions": {"websocket.http.response": {}}}) is False
    assert offers_frames({"extensions": None}) is False
    assert offers_frames({}) is False
