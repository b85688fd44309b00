"""Outbox rows: written in the same transaction as the change they describe; `seq` comes later."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NotRequired, TypedDict

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.clock import utcnow
from apps.oms.domain.events import Event, P
from apps.oms.store import direct
from apps.oms.store.tables import outbox

INSERT = insert(outbox)


class NewEvent(TypedDict):
    """An outbox row to append (`seq` only when the appender numbers it: `sequencer.assign`);
    built by `event_row` from one of the event types of `domain/events.py` and its payload."""

    account_id: int | None
    namespace: str
    event: str
    strategy_id: int | None
    payload: Mapping[str, object]  # the event's payload type (`Event.payload`)
    created_at: datetime
    seq: NotRequired[int]


def event_row(
    event: Event[P],
    payload: P,
    *,
    account_id: int | None,
    strategy_id: int | None = None,
    created_at: datetime | None = None,
) -> NewEvent:
    """An outbox row of `event` (its namespace is the event's); `created_at` defaults to now
    (a record transaction passes its own instant, which every row it writes shares)."""
    return {
        "account_id": account_id,
        "namespace": event.namespace,
        "event": event.name.value,
        "strategy_id": strategy_id,
        "payload": payload,
        "created_at": utcnow() if created_at is None else created_at,
    }


async def append_events(conn: AsyncConnection, rows: list[NewEvent]) -> None:
    """Append events (rows of `event_row`) in one statement, ids in list order; the sequencer
    gives them a dense `seq` once they have committed."""
    if rows:  # held back to the next statement or the commit (`direct.later_rows`)
        await direct.later_rows(conn, INSERT, rows)

