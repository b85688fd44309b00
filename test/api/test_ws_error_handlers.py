"""The API's error handlers on an accepted websocket: it cannot take an HTTP response (the
server refuses one after the accept, and the client saw the socket drop without a close frame),
so it is closed with a code and a reason: 1013 when the store is unreachable, 1011 for another
store error. (Other exceptions of a websocket never reach the handlers: Starlette's last-resort
handler serves HTTP only; `/ws` closes those itself, apps/api/ws/endpoint.py.)
An HTTP request keeps its JSON answer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
import websockets
from fastapi import FastAPI, WebSocket

from apps.api.errors import install_error_handlers
from apps.api.ws.preframed import PreframedProtocol
from apps.oms.store.boundary import IntegrityError, OperationalError


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.websocket("/outage")
    async def outage(ws: WebSocket) -> None:
        await ws.accept()
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("store away"))

    @app.websocket("/integrity")
    async def integrity(ws: WebSocket) -> None:  # a store error that is no outage
        await ws.accept()
        raise IntegrityError("INSERT", {}, ValueError("duplicate"))

    @app.get("/outage")
    async def http_outage() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("store away"))

    return app


async def _served() -> AsyncIterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(_app(), host="127.0.0.1", port=port,
                                           log_level="critical", ws=PreframedProtocol))  # fmt: skip
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@pytest.mark.parametrize(("path", "code", "reason"), [
    ("/outage", 1013, "the store is unreachable; retry shortly"),
    ("/integrity", 1011, "internal error; see the server log"),
])  # fmt: skip
async def test_an_accepted_websocket_is_closed_with_a_code_and_a_reason(
    path: str, code: int, reason: str
) -> None:
    async for url in _served():
        async with websockets.connect(url + path) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (code, reason)


async def test_an_http_request_keeps_its_json_answer() -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/outage")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "store_unavailable"
