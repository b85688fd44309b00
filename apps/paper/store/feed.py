"""The paper price scheduler's row: which worker drives the price source (a lease fenced by
`lease_epoch`, like account leases), the source chosen through the API and what it is doing.

One row (`id = 1`). A worker takes the lease when it is free, expired, already its own or held
by a worker without a recent heartbeat (`leases.live_workers`); every round that moves prices
locks the row with `hold()` in the same transaction as the prices, so two schedulers can never
both write a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.leases import live_workers, lock
from apps.paper.store.tables import paper_price_feed

F = paper_price_feed.c
FEED_ID = 1


class FeedLost(Exception):
    """The scheduler lease is no longer this worker's: stop moving prices."""


@dataclass(frozen=True, slots=True)
class FeedRow:
    owner: str | None
    lease_epoch: int
    expires_at: datetime | None
    source: str | None  # chosen through the API; None: the configured source
    speed: Decimal | None
    at_end: str | None
    active_source: str | None  # what the scheduler runs
    state: str
    message: str | None
    position: int  # replay: ticks done in this lap
    ticks: int  # steps stored since the source started
    last_update_at: datetime | None
    changed_at: datetime | None


async def ensure(conn: AsyncConnection) -> None:
    """Create the row if it is missing (concurrent creators: one wins, the others no-op).

    Read first: the scheduler asks every round (about once a second per worker), and an
    `INSERT IGNORE` of the existing row is a duplicate-key warning on MySQL, which asyncmy
    fetches with a second round trip (`SHOW WARNINGS`) and logs at WARNING level, a line per
    second in every worker's log."""
    if (await conn.execute(select(F.id).where(F.id == FEED_ID))).first() is not None:
        return
    await conn.execute(
        insert(paper_price_feed)
        .prefix_with("IGNORE", dialect="mysql")
        .prefix_with("OR IGNORE", dialect="sqlite")
        .values(id=FEED_ID, lease_epoch=0, state="idle", position=0, ticks=0)
    )


async def read(conn: AsyncConnection) -> FeedRow | None:
    row = (await conn.execute(select(paper_price_feed).where(F.id == FEED_ID))).mappings().first()
    if row is None:
        return None
    return FeedRow(**{k: v for k, v in row.items() if k != "id"})


async def take(
    conn: AsyncConnection, *, owner: str, now: datetime, seconds: float, dead_after: float,
    dialect: str,
) -> int | None:  # fmt: skip
    """Take or renew the scheduler lease; its epoch when this worker holds it, else None. The
    epoch grows only when the lease changes hands."""
    await ensure(conn)
    row = (await conn.execute(lock(select(F.owner, F.lease_epoch, F.expires_at)
                                   .where(F.id == FEED_ID), dialect))).one()  # fmt: skip
    ours = row.owner == owner and row.expires_at is not None and row.expires_at >= now
    if not ours:
        free = or_(F.owner.is_(None), F.expires_at.is_(None), F.expires_at < now,
                   F.owner.not_in(live_workers(now, dead_after)))  # fmt: skip
        done = await conn.execute(
            update(paper_price_feed).where(F.id == FEED_ID, free)
            .values(owner=owner, lease_epoch=F.lease_epoch + 1,
                    expires_at=now + timedelta(seconds=seconds))
        )  # fmt: skip
        if done.rowcount != 1:
            return None
        return int(row.lease_epoch) + 1
    await conn.execute(update(paper_price_feed).where(F.id == FEED_ID)
                       .values(expires_at=now + timedelta(seconds=seconds)))  # fmt: skip
    return int(row.lease_epoch)


async def hold(
    conn: AsyncConnection, *, owner: str, epoch: int, now: datetime, dialect: str,
    renew_seconds: float | None = None,
) -> FeedRow:  # fmt: skip
    """Lock the row for this transaction; FeedLost unless the lease is still ours. With
    `renew_seconds` the lease is also extended from `now`: a scheduler that keeps stepping
    keeps its lease, however long its lease rounds are delayed."""
    query = select(F.id).where(F.id == FEED_ID, F.owner == owner, F.lease_epoch == epoch,
                               F.expires_at >= now)  # fmt: skip
    if (await conn.execute(lock(query, dialect))).first() is None:
        raise FeedLost(f"paper price scheduler lease epoch {epoch} lost")
    if renew_seconds is not None:
        await conn.execute(update(paper_price_feed).where(F.id == FEED_ID)
                           .values(expires_at=now + timedelta(seconds=renew_seconds)))  # fmt: skip
    found = await read(conn)
    assert found is not None  # noqa: S101 - locked just above
    return found


async def report(conn: AsyncConnection, *, owner: str, epoch: int, **values: Any) -> None:
    """Write the scheduler's status (only while it holds the lease)."""
    await conn.execute(
        update(paper_price_feed)
        .where(F.id == FEED_ID, F.owner == owner, F.lease_epoch == epoch)
        .values(**values)
    )


async def choose(
    conn: AsyncConnection, *, source: str | None, speed: Decimal | None, at_end: str | None,
    now: datetime,
) -> None:  # fmt: skip
    """Record the source chosen through the API (None: back to the configured one); the
    scheduler (re)starts it from the beginning at its next round, even when it is the source
    already running (a replay starts over)."""
    await ensure(conn)
    await conn.execute(update(paper_price_feed).where(F.id == FEED_ID)
                       .values(source=source, speed=speed, at_end=at_end, changed_at=now,
                               active_source=None, position=0, ticks=0,
                               state="switching", message=None))  # fmt: skip


async def release(conn: AsyncConnection, *, owner: str) -> None:
    """Give the lease back (worker stopping): another worker takes it at its next round."""
    await conn.execute(update(paper_price_feed).where(F.id == FEED_ID, F.owner == owner)
                       .values(owner=None, expires_at=None))  # fmt: skip
