"""Outbox sequencing: give committed outbox rows a dense, monotonic `seq` in visibility order.

Algorithm (docs/worker.md → Sequencer): one transaction locks the `sequencer_state` row
`outbox` (`FOR UPDATE SKIP LOCKED`: a second sequencer skips the round instead of waiting),
reads the rows that are visible and still have `seq IS NULL` in id order, numbers them
`last_seq + 1 …` and stores the new `last_seq`. Only committed rows are visible (READ COMMITTED;
SQLite has a single writer), so a row is numbered only after it committed; a row that commits
late (a lower id after higher ones) is simply numbered in a later round, i.e. in the order it
became visible. Rolled-back ids never appear, so holes in ids never block the stream and no
timeout is needed. Numbers are assigned by one locked transaction at a time, so they commit in
increasing order and a reader tailing `seq > n` can never miss one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.tables import outbox, sequencer_state

NAME = "outbox"
BATCH = 1000  # rows one round numbers at most
SKIPPED = -1  # `assign`: another sequencer holds the state row (its round may miss new rows)
S = sequencer_state.c
OB = outbox.c
# a round's statements, built once (see the note in `store/queue.py`); SQLite renders no
# FOR UPDATE: its BEGIN IMMEDIATE has already serialised the whole write transaction
STATE = select(S.last_seq, S.last_id).where(S.name == NAME).with_for_update(skip_locked=True)
ANY_UNNUMBERED = select(OB.id).where(OB.seq.is_(None)).limit(1)
UNNUMBERED = select(OB.id).where(OB.seq.is_(None)).order_by(OB.id).limit(bindparam("b_limit"))
ADVANCE = update(sequencer_state).where(S.name == NAME)


async def ensure_state(conn: AsyncConnection, now: datetime) -> None:
    """Create the `outbox` sequencer row once (a concurrent creator is fine)."""
    exists = (await conn.execute(select(S.name).where(S.name == NAME))).first()
    if exists is None:
        try:
            async with conn.begin_nested():
                await conn.execute(
                    insert(sequencer_state).values(name=NAME, last_seq=0, last_id=0, updated_at=now)
                )
        except IntegrityError:
            pass


async def pending(conn: AsyncConnection) -> bool:
    """Whether any visible outbox row still waits for its seq (a plain read, no lock)."""
    return (await conn.execute(ANY_UNNUMBERED)).first() is not None


async def assign(conn: AsyncConnection, now: datetime, *, batch: int = BATCH) -> int:
    """One sequencing round inside the caller's transaction; returns how many rows got a seq,
    or `SKIPPED` when another sequencer holds the state row."""
    state = (await conn.execute(STATE)).first()
    if state is None:
        return SKIPPED
    ids = [int(i) for i in (await conn.execute(UNNUMBERED, {"b_limit": batch})).scalars()]
    if not ids:
        return 0
    first = int(state.last_seq) + 1
    numbering = {row_id: first + n for n, row_id in enumerate(ids)}
    await conn.execute(
        update(outbox).where(OB.id.in_(ids)).values(seq=case(numbering, value=OB.id))
    )
    await conn.execute(ADVANCE, {"last_seq": first + len(ids) - 1,
                                 "last_id": max(int(state.last_id), ids[-1]), "updated_at": now})
    return len(ids)
