"""Worker registrations and heartbeats, and queue depth: what readiness and fleet status read."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.tables import commands, workers


async def register_worker(
    conn: AsyncConnection,
    *,
    worker_id: str,
    hostname: str,
    pid: int,
    now: datetime,
    wake_addr: str | None = None,
) -> None:
    """Insert the worker's row, or refresh it when an earlier attempt committed it (a commit
    whose answer was lost: the worker retries its registration)."""
    values = {"hostname": hostname, "pid": pid, "status": "running", "heartbeat_at": now,
              "wake_addr": wake_addr}  # fmt: skip
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
    return [str(addr) for addr in result.scalars()]


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
    return [None if addr is None else str(addr) for addr in result.scalars()]


async def queue_depth(conn: AsyncConnection) -> int:
    result = await conn.execute(
        select(func.count()).select_from(commands).where(commands.c.status == "queued")
    )
    return int(result.scalar_one())
