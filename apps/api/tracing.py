"""ASGI middleware giving every request a trace id (header `x-trace-id` in and out, logged)."""

from __future__ import annotations

import itertools
import os
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apps.oms.observability import trace_id_var

_VALID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class _TraceIds:
    """32 hex characters, unique: a random per-process prefix and a counter (a `uuid4` per
    request cost an `os.urandom` call and a UUID object; ~2 % of a read's CPU). A forked child
    draws its own prefix."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


new_trace_id = _TraceIds().next


class TraceIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-trace-id", b"").decode("latin-1")
        trace_id = incoming if _VALID.match(incoming) else new_trace_id()
        trace_id_var.set(trace_id)

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-trace-id"]
                headers.append((b"x-trace-id", trace_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_trace)
