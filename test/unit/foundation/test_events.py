"""The outbox's events are a closed set (`apps/oms/domain/events.py`): one `Event` per
`EventType`, the same set documented in docs/websocket.md and the AsyncAPI document, and the
wire views have exactly their payload types' keys."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import apps
from apps.api import asyncapi
from apps.oms.domain import events
from apps.oms.domain.enums import OrderStatus
from apps.oms.domain.events import EventType
from apps.oms.service import views
from apps.oms.service.execution.order_state import STATUS_EVENTS
from apps.oms.service.execution.runtime import COMMAND_EVENTS

DOCS = Path(apps.__file__).parent.parent / "docs" / "websocket.md"
ROW = re.compile(r"^\| `(\w+)` \| (\w+) \| `([^`]*)` \|$", re.M)
SOCKET_PUSHES = {"subscription_revoked", "ticker_updated", "orderbook_updated", "trades_updated",
                 "ohlcv_updated"}  # fmt: skip


def test_one_event_per_type_in_order() -> None:
    assert [e.name for e in events.EVENTS] == list(EventType)
    assert set(events.BY_NAME) == set(EventType)
    assert all(e.namespace in ("position", "risk", "system") for e in events.EVENTS)


def test_the_docs_table_lists_every_event_with_its_namespace_and_payload() -> None:
    documented = [(name, ns, payload) for name, ns, payload in ROW.findall(DOCS.read_text())]
    assert documented == [
        (e.name.value, e.namespace, asyncapi.payload_text(e.payload)) for e in events.EVENTS
    ]


def test_the_asyncapi_document_has_every_outbox_event_and_only_socket_pushes_besides() -> None:
    listed = {name for _, names, _ in asyncapi.EVENTS for name in names}
    assert listed - SOCKET_PUSHES == {e.value for e in EventType}
    pushes = asyncapi.document()["channels"]["/ws"]["subscribe"]["message"]["oneOf"]
    assert {p["name"] for p in pushes} == listed
    filled = next(p for p in pushes if p["name"] == "order_filled")
    assert filled["payload"]["properties"]["payload"] == {"$ref": "#/components/schemas/OrderOut"}


def test_status_command_and_alert_events_are_typed() -> None:
    assert {s.value for s in STATUS_EVENTS} == {
        s.value for s in OrderStatus if s not in (OrderStatus.PENDING_SUBMIT,)}
    assert set(COMMAND_EVENTS) == {"completed", "failed"}
    assert events.ALERTS == {"position_overfill": events.POSITION_OVERFILL}


def _keys(payload: type) -> list[str]:
    return list(payload.__annotations__)


def test_views_have_exactly_their_payload_types_keys_in_wire_order() -> None:
    at = datetime(2024, 1, 2, tzinfo=UTC)
    row = {"id": 7, "qty": Decimal("1.50"), "created_at": at, "post_only": 0}
    assert list(views.order_view(row)) == _keys(events.OrderView)
    assert list(views.deal_view(row)) == _keys(events.DealView)
    assert list(views.position_view(row)) == _keys(events.PositionView)
    assert list(views.command_view(row)) == _keys(events.CommandView)
    order = views.order_view(row)
    assert (order["qty"], order["created_at"], order["post_only"]) == ("1.5", "2024-01-02T00:00:00Z",
                                                                     False)
