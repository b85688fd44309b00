"""What `GET /metrics` reads from the store when scraped: queue depth and age, unsequenced
outbox events, the stream head, live workers, each account's reconciliation age. A handful of
indexed queries per scrape, none per request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.fleet import alive_workers
from apps.oms.store.tables import commands, outbox, reconcile_cursors, sequencer_state

UNFINISHED = ("queued", "running")


@dataclass
class StoreGauges:
    queue_depth: dict[str, int] = field(default_factory=dict)  # by status
    queue_oldest_age: dict[str, float] = field(default_factory=dict)  # seconds, by status
    unsequenced_events: int = 0
    unsequenced_oldest_age: float = 0.0
    stream_head_seq: int = 0
    workers_alive: int = 0
    # seconds since each account's newest reconciliation run (accounts never reconciled: absent)
    reconcile_age: dict[int, float] = field(default_factory=dict)


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - then).total_seconds())


async def read_gauges(
    conn: AsyncConnection, now: datetime, heartbeat_max_age: timedelta
) -> StoreGauges:
    gauges = StoreGauges()
    rows = await conn.execute(
        select(commands.c.status, func.count(), func.min(commands.c.created_at))
        .where(commands.c.status.in_(UNFINISHED))
        .group_by(commands.c.status)
    )
    for status in UNFINISHED:
        gauges.queue_depth[status] = 0
        gauges.queue_oldest_age[status] = 0.0
    for row in rows:
        status, count, oldest = row[0], row[1], row[2]
        gauges.queue_depth[status] = int(count)
        gauges.queue_oldest_age[status] = _age(now, oldest)
    unsequenced = (
        await conn.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.seq.is_(None))
        )
    ).one()
    count, oldest = unsequenced[0], unsequenced[1]
    gauges.unsequenced_events = int(count)
    gauges.unsequenced_oldest_age = _age(now, oldest)
    head = await conn.execute(select(func.max(sequencer_state.c.last_seq)))
    gauges.stream_head_seq = int(head.scalar() or 0)
    gauges.workers_alive = await alive_workers(conn, now, heartbeat_max_age)
    runs = await conn.execute(
        select(reconcile_cursors.c.account_id, func.max(reconcile_cursors.c.last_run_at))
        .where(reconcile_cursors.c.last_run_at.is_not(None))
        .group_by(reconcile_cursors.c.account_id)
    )
    gauges.reconcile_age = {int(row[0]): _age(now, row[1]) for row in runs}
    return gauges
