"""The push message of one outbox event, as JSON text built once: the websocket sends it to its
subscribers and the events bus carries it unchanged (docs/websocket.md, docs/events-bus.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal, TypedDict

from apps.oms.domain.money import to_plain
from apps.oms.store.stream import StreamEvent


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return to_plain(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(message: Mapping[str, object]) -> str:
    return json.dumps(message, separators=(",", ":"), default=_default, ensure_ascii=False)


class Push(TypedDict):
    """A push message: `payload` last (`event_head` relies on it)."""

    id: None
    ok: bool
    type: Literal["ws_event"]
    namespace: str
    action: str
    event: str
    seq: int | None
    account_id: int | None
    payload: Any  # the event's payload type (`domain/events.py`), or a socket push's body


def push(
    namespace: str,
    event: str,
    seq: int | None,
    account_id: int | None,
    payload: Any,
    *,
    action: str = "event",
) -> Push:
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


def event_head(namespace: str, event: str, seq: int, account_id: int | None) -> str:
    """An event's push text up to the payload: `event_text` is this, the payload, then `}`."""
    head = dumps(push(namespace, event, seq, account_id, None))
    if not head.endswith(_NULL_PAYLOAD_END):  # `push` keeps `payload` last; never otherwise
        raise AssertionError("the push envelope must end with its payload")
    return head[: -len("null}")]


def event_text(event: StreamEvent) -> str:
    """The push of one outbox event, serialised once and sent as is to every subscriber: the
    envelope with the payload's stored JSON text spliced in as its last member (the same JSON
    value as encoding the decoded payload, without decoding it)."""
    return event_head(event.namespace, event.event, event.seq, event.account_id) + (
        event.payload_text + "}"
    )
