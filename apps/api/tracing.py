"""ASGI middleware giving every request a trace id (header `x-trace-id` in and out, logged)."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apps.oms.observability import trace_id_var

_VALID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class TraceIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-trace-id", b"").decode("latin-1")
        trace_id = incoming if _VALID.match(incoming) else uuid.uuid4().hex
        trace_id_var.set(trace_id)

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-trace-id"]
                headers.append((b"x-trace-id", trace_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_trace)
