"""The bus publisher's position in the store: the `sequencer_state` row `bus` holds the last
`seq` the publisher saw acknowledged by JetStream (written at most once a second), so any process
can tell the publication lag without asking the bus."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.tables import sequencer_state

NAME = "bus"
S = sequencer_state.c


async def record_published(conn: AsyncConnection, seq: int, now: datetime) -> None:
    """Remember that every event up to `seq` is on the bus (never moves backwards)."""
    done = await conn.execute(
        update(sequencer_state).where(S.name == NAME, S.last_seq < seq)
        .values(last_seq=seq, updated_at=now)
    )
    if done.rowcount:
        return
    if (await conn.execute(select(S.name).where(S.name == NAME))).first() is not None:
        return
    try:
        async with conn.begin_nested():
            await conn.execute(sequencer_state.insert().values(
                name=NAME, last_seq=seq, last_id=0, updated_at=now))
    except IntegrityError:  # a concurrent first write
        pass


async def published_seq(conn: AsyncConnection) -> int:
    """The last `seq` known to be on the bus (0 before the first publication)."""
    value = (await conn.execute(select(S.last_seq).where(S.name == NAME))).scalar()
    return int(value or 0)
