"""Wire envelopes of websocket.md: responses, errors, pushes; JSON text built once per event."""

from __future__ import annotations

from typing import Any

from apps.oms.service.event_wire import dumps, event_text, push

__all__ = ["dumps", "error", "event_text", "greeting", "push", "response"]


def response(
    request: dict[str, Any], event: str, payload: Any, *, ok: bool = True
) -> dict[str, Any]:
    return {
        "id": request.get("id"),
        "ok": ok,
        "type": "ws_response",
        "namespace": request.get("namespace"),
        "action": request.get("action"),
        "event": event,
        "payload": payload,
    }


def error(
    request: dict[str, Any], code: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = {"code": code, "message": message, "details": details or {}}
    return response(request, "error", body, ok=False)


def greeting(server_time: str, version: str) -> dict[str, Any]:
    return {
        "id": "server-hello",
        "ok": True,
        "type": "ws_event",
        "event": "connected",
        "payload": {"server_time": server_time, "version": version},
    }
