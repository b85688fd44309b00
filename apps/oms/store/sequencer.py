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

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Update, bindparam, case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store import direct
from apps.oms.store import outbox as outbox_rows
from apps.oms.store.outbox import NewEvent
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
    return await direct.fetch_one(conn, ANY_UNNUMBERED) is not None


async def assign(
    conn: AsyncConnection,
    now: datetime,
    *,
    batch: int = BATCH,
    own: Sequence[NewEvent] = (),
) -> int:
    """One sequencing round inside the caller's transaction; returns how many rows got a seq,
    or `SKIPPED` when another sequencer holds the state row.

    `own`: outbox rows (`outbox.event_row`) the caller's transaction writes now. Holding the
    state row, the round inserts them already numbered, after the committed rows it numbers
    (one row write each instead of an insert and a numbering update); skipped, or when older
    rows fill the round (some may still wait beyond it), it inserts them unnumbered and a later
    round numbers them in id order. Either way they are written with the commit."""
    # one round trip: the state row locked, then (in the same multi-statement query, so after
    # the lock) the unnumbered ids, which a skipped round ignores
    states, unnumbered = await direct.fetch_each(conn, [(STATE, {}), (UNNUMBERED, {"b_limit": batch})])
    ids = [int(r["id"]) for r in unnumbered]
    # skipped, or a backlog fills the round (older rows may still wait, and the caller's must
    # not be numbered before them): the caller's rows wait for a later round, in id order
    if not states or len(ids) >= batch:
        await outbox_rows.append_events(conn, list(own))
        own = ()
    if not states:
        return SKIPPED
    state = states[0]
    if not ids and not own:
        return 0
    first = int(state["last_seq"]) + 1
    runs = _runs(ids)
    for start in range(0, len(runs), RUNS_PER_STATEMENT):
        chunk = runs[start : start + RUNS_PER_STATEMENT]
        params: dict[str, int] = {}
        for k, (low, high) in enumerate(chunk):
            params |= {f"lo{k}": low, f"hi{k}": high, f"d{k}": first - low}
            first += high - low + 1
        await direct.later(conn, _numbering(len(chunk)), params)  # sent with the commit
    if own:  # numbered as they are inserted, after every row numbered above
        await outbox_rows.append_events(conn, [{**row, "seq": first + k} for k, row in enumerate(own)])
        first += len(own)
    # `last_id`: the highest id a numbering update reached (informational; rows inserted
    # numbered do not move it, their ids are not read back)
    await direct.later(conn, ADVANCE, {"last_seq": first - 1,
                                         "last_id": max(int(state["last_id"]), ids[-1] if ids else 0),
                                         "updated_at": now})  # fmt: skip
    return len(ids) + len(own)


def _runs(ids: list[int]) -> list[tuple[int, int]]:
    """Ascending ids as runs of consecutive ids (first, last): a multi-row insert's rows are
    usually one run, a round's rows a few."""
    runs: list[tuple[int, int]] = []
    for row_id in ids:
        if runs and row_id == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], row_id)
        else:
            runs.append((row_id, row_id))
    return runs


RUNS_PER_STATEMENT = 16  # a round of scattered rows takes several statements
_NUMBERING: dict[int, Update] = {}


def _numbering(count: int) -> Update:
    """`UPDATE outbox SET seq = CASE WHEN id BETWEEN :lo0 AND :hi0 THEN id + :d0 ... END` over
    those runs, built once per number of runs: every id of a run is one of the round's rows
    (the runs are cut where an id is missing), so the ranges name exactly those rows."""
    built = _NUMBERING.get(count)
    if built is None:
        ranges = [OB.id.between(bindparam(f"lo{k}"), bindparam(f"hi{k}")) for k in range(count)]
        seq = case(*((r, OB.id + bindparam(f"d{k}")) for k, r in enumerate(ranges)))
        built = _NUMBERING[count] = update(outbox).where(or_(*ranges)).values(seq=seq)
    return built
