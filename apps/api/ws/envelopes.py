"""Wire envelopes of websocket.md: responses, errors, pushes; JSON text built once per event."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from apps.oms.domain.money import to_plain
from apps.oms.store.stream import StreamEvent


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return to_plain(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=_default, ensure_ascii=False)


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


def push(
    namespace: str,
    event: str,
    seq: int | None,
    account_id: int | None,
    payload: Any,
    *,
    action: str = "event",
) -> dict[str, Any]:
    return {
        "id": None,
        "ok": True,
        "type": "ws_event",
        "namespace": namespace,
        "action": action,
        "event": event,
        "seq": seq,
        "account_id": account_id,
        "payload": payload,
    }


_NULL_PAYLOAD_END = ',"payload":null}'


def event_text(event: StreamEvent) -> str:
    """The push of one outbox event, serialised once and sent as is to every subscriber: the
    envelope with the payload's stored JSON text spliced in as its last member (the same JSON
    value as encoding the decoded payload, without decoding it)."""
    head = dumps(push(event.namespace, event.event, event.seq, event.account_id, None))
    if not head.endswith(_NULL_PAYLOAD_END):  # `push` keeps `payload` last; never otherwise
        raise AssertionError("the push envelope must end with its payload")
    return head[: -len("null}")] + event.payload_text + "}"


def greeting(server_time: str, version: str) -> dict[str, Any]:
    return {
        "id": "server-hello",
        "ok": True,
        "type": "ws_event",
        "event": "connected",
        "payload": {"server_time": server_time, "version": version},
    }
