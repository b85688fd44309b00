"""The request faults of a served venue, as ASGI middleware in front of every dialect: a delay,
a refusal rendered the dialect's way (nothing executed), or a lost answer (executed, then the
answer held past the client's timeout or the connection closed without one).

The admin surface (`/admin/…`) and the websockets pass untouched."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apps.paper.wire.fault_gate import SERVING, FaultGate
from apps.paper.wire.fault_plan import DROP
from apps.paper.wire.fault_replies import Render, Reply


class FaultMiddleware:
    def __init__(self, app: ASGIApp, gate: FaultGate, render: Render) -> None:
        self.app = app
        self.gate = gate
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith("/admin"):
            await self.app(scope, receive, send)
            return
        faults = self.gate.request(str(scope["method"]), str(scope["path"]))
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.refusal is not None:
            await _send_reply(send, self.render(faults.refusal, self.gate.clock()))
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        token = SERVING.set(True)
        try:
            await self.app(scope, receive, send if faults.lost is None else hold)
        finally:
            SERVING.reset(token)
        if faults.lost is None:
            return
        if faults.lost == DROP and await _drop_connection(receive):
            return
        await asyncio.sleep(faults.lost_ms / 1000)
        with contextlib.suppress(Exception):  # the client has most likely gone by now
            for message in held:
                await send(message)


async def _send_reply(send: Send, reply: Reply) -> None:
    body = reply.body.encode()
    headers = [(b"content-type", reply.media_type.encode()),
               (b"content-length", str(len(body)).encode()),
               *((k.encode(), v.encode()) for k, v in reply.headers.items())]  # fmt: skip
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drop_connection(receive: Receive) -> bool:
    """Close the request's connection without an answer, as a venue's gateway that fails after
    executing does: the client sees the server disconnect. ASGI has no message for it: this
    reaches the server's transport through its request cycle (uvicorn's), and says False when
    it cannot, for the caller to hold the answer instead."""
    cycle: Any = getattr(receive, "__self__", None)
    transport: Any = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return False
    transport.abort()
    await asyncio.sleep(0)  # the server sees the connection lost (no 500 is then written)
    return True
