"""Worker registrations and heartbeats, and queue depth: what readiness and fleet status read."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.tables import account_leases, commands, workers


async def register_worker(
    conn: AsyncConnection,
    *,
    worker_id: str,
    hostname: str,
    pid: int,
    now: datetime,
    wake_addr: str | None = None,
    liveness: str | None = None,
) -> None:
    """Insert the worker's row, or refresh it when an earlier attempt committed it (a commit
    whose answer was lost: the worker retries its registration). `liveness`: the lock it holds
    (store/liveness.py), None when peers must go by its heartbeats alone."""
    values = {"hostname": hostname, "pid": pid, "status": "running", "heartbeat_at": now,
              "wake_addr": wake_addr, "liveness": liveness}  # fmt: skip
    refreshed = await conn.execute(update(workers).where(workers.c.id == worker_id)
                                   .values(values))  # fmt: skip
    if refreshed.rowcount == 0:
        await conn.execute(insert(workers).values(id=worker_id, started_at=now, **values))


async def heartbeat(conn: AsyncConnection, worker_id: str, now: datetime) -> None:
    await conn.execute(update(workers).where(workers.c.id == worker_id).values(heartbeat_at=now))


async def mark_stopped(conn: AsyncConnection, worker_id: str, now: datetime) -> None:
    await conn.execute(
        update(workers).where(workers.c.id == worker_id).values(status="stopped", heartbeat_at=now)
    )


async def alive_workers(conn: AsyncConnection, now: datetime, max_age: timedelta) -> int:
    result = await conn.execute(
        select(func.count())
        .select_from(workers)
        .where(workers.c.status == "running", workers.c.heartbeat_at >= now - max_age)
    )
    return int(result.scalar_one())


async def wake_addresses(conn: AsyncConnection, now: datetime, max_age: timedelta) -> list[str]:
    """`host:port` of the wake-up listeners of running workers with a recent heartbeat."""
    result = await conn.execute(
        select(workers.c.wake_addr).where(
            workers.c.status == "running",
            workers.c.heartbeat_at >= now - max_age,
            workers.c.wake_addr.is_not(None),
        )
    )
    return [str(row[0]) for row in result]


async def listener_addresses(
    conn: AsyncConnection, now: datetime, max_age: timedelta
) -> list[str | None]:
    """The wake-up listener (`host:port`, None: none) of every running worker with a recent
    heartbeat."""
    result = await conn.execute(
        select(workers.c.wake_addr).where(
            workers.c.status == "running", workers.c.heartbeat_at >= now - max_age
        )
    )
    return [None if row[0] is None else str(row[0]) for row in result]


async def queue_depth(conn: AsyncConnection) -> int:
    result = await conn.execute(
        select(func.count()).select_from(commands).where(commands.c.status == "queued")
    )
    return int(result.scalar_one())


# --- fleet status (GET /dispatcher/status) ----------------------------------------------------


async def fleet_workers(conn: AsyncConnection, since: datetime) -> list[dict[str, Any]]:
    """Workers registered as running, and those with a heartbeat since `since` (recently
    stopped), with the number of account leases each owns."""
    held = (
        select(account_leases.c.owner, func.count().label("leases"))
        .where(account_leases.c.owner.is_not(None))
        .group_by(account_leases.c.owner)
        .subquery()
    )
    rows = await conn.execute(
        select(workers, func.coalesce(held.c.leases, 0).label("leases_held"))
        .outerjoin(held, held.c.owner == workers.c.id)
        .where(or_(workers.c.status == "running", workers.c.heartbeat_at >= since))
        .order_by(workers.c.started_at, workers.c.id)
    )
    return [dict(r) for r in rows.mappings()]


async def queue_by_account(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Unfinished commands per account and status, with the oldest one's `created_at` and the
    account's lease owner."""
    rows = await conn.execute(
        select(commands.c.account_id, commands.c.status, func.count().label("count"),
               func.min(commands.c.created_at).label("oldest"), account_leases.c.owner)
        .outerjoin(account_leases, account_leases.c.account_id == commands.c.account_id)
        .where(commands.c.status.in_(("queued", "running")))
        .group_by(commands.c.account_id, commands.c.status, account_leases.c.owner)
        .order_by(commands.c.account_id)
    )  # fmt: skip
    return [dict(r) for r in rows.mappings()]


async def recent_timings(
    conn: AsyncConnection, limit: int
) -> list[tuple[datetime, datetime | None, datetime]]:
    """(created, started, finished) of the newest `limit` finished commands."""
    rows = await conn.execute(
        select(commands.c.created_at, commands.c.started_at, commands.c.finished_at)
        .where(commands.c.status.in_(("completed", "failed")),
               commands.c.finished_at.is_not(None))
        .order_by(commands.c.id.desc())
        .limit(limit)
    )  # fmt: skip
    return [(r[0], r[1], r[2]) for r in rows]
