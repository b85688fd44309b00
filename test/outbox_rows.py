"""Outbox rows of made-up events for tests of the outbox machinery itself (sequencer, tailers,
the bus), which the gateway's typed `outbox.event_row` would refuse: it takes only the event
types of `apps/oms/domain/events.py`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.clock import utcnow
from apps.oms.store.outbox import NewEvent, append_events


def raw_event(
    *, account_id: int | None, namespace: str, event: str, payload: Mapping[str, object]
) -> NewEvent:
    return {"account_id": account_id, "namespace": namespace, "event": event, "strategy_id": None,
            "payload": payload, "created_at": utcnow()}  # fmt: skip


async def append_raw(conn: AsyncConnection, **fields: Any) -> None:
    """Append one made-up event (keyword arguments of `raw_event`)."""
    await append_events(conn, [raw_event(**fields)])
