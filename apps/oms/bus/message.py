"""Subject scheme and message format of the events bus (docs/events-bus.md).

One message per sequenced outbox event, on `<prefix>.<account_id | none>.<namespace>.<event>`;
the body is the websocket's push message of that event (`event_wire.event_text`), byte for
byte; the headers repeat what a consumer filters on, so that it never has to decode the body.
`Nats-Msg-Id` is the event's `seq` (JetStream deduplicates a re-publish) and the stream's own
sequence equals `seq` (the publisher makes it so and checks every acknowledgement).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from apps.oms.service.event_wire import event_head, event_text
from apps.oms.store.stream import StreamEvent

MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
SEQ = "Oms-Seq"
ACCOUNT = "Oms-Account-Id"
STRATEGY = "Oms-Strategy-Id"
NAMESPACE = "Oms-Namespace"
EVENT = "Oms-Event"
NO_ACCOUNT = "none"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class MalformedMessage(ValueError):
    """A message on the events subjects that this format does not describe."""


def token(text: str) -> str:
    """A subject token: names made of letters, digits, `_` and `-` stay as they are."""
    return _UNSAFE.sub("_", text) or "_"


def subject(prefix: str, event: StreamEvent) -> str:
    account = NO_ACCOUNT if event.account_id is None else str(event.account_id)
    return f"{prefix}.{account}.{token(event.namespace)}.{token(event.event)}"


def presence_subject(wake_prefix: str, owner: str) -> str:
    """Where a publisher answers whether it is on the bus (its lease's probes)."""
    return f"{wake_prefix}.publisher.{token(owner)}"


def headers(event: StreamEvent) -> dict[str, str]:
    return {
        MSG_ID: str(event.seq),
        SEQ: str(event.seq),
        ACCOUNT: "" if event.account_id is None else str(event.account_id),
        STRATEGY: "" if event.strategy_id is None else str(event.strategy_id),
        NAMESPACE: event.namespace,
        EVENT: event.event,
    }


def body(event: StreamEvent) -> bytes:
    return event_text(event).encode()


def _optional_int(text: str | None) -> int | None:
    return int(text) if text else None


def decode(found: Mapping[str, str] | None, data: bytes) -> StreamEvent:
    """The event a bus message carries (the payload's JSON text cut out of the body, never
    decoded); `MalformedMessage` when headers and body disagree."""
    if not found:
        raise MalformedMessage("no headers")
    try:
        seq = int(found[SEQ])
        event = StreamEvent(seq, _optional_int(found.get(ACCOUNT)), found[NAMESPACE],
                            found[EVENT], _optional_int(found.get(STRATEGY)), "")
        text = data.decode()
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage(f"bad headers or body: {exc}") from exc
    head = event_head(event.namespace, event.event, seq, event.account_id)
    if not (text.startswith(head) and text.endswith("}")):
        raise MalformedMessage(f"body of seq {seq} does not match its headers")
    return StreamEvent(seq, event.account_id, event.namespace, event.event, event.strategy_id,
                       text[len(head):-1])
