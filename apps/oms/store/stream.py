"""Outbox reads for the websocket stream: tail by `seq`, replay a range for resume, retention
bounds, and the consistent-snapshot read used by `subscribe` with `with_snapshot`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, bindparam, func, select, text, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store import direct
from apps.oms.store.engine import reading
from apps.oms.store.store import Store
from apps.oms.store.tables import outbox, sequencer_state

OB = outbox.c
# the payload as its stored JSON text: the tailer reads every event of every account, and
# decoding each one was 18 % of an API process's samples under P1 (docs/benchmarks-history.md →
# Nineteenth round); a push splices the text (`envelopes.event_text`) and the read model scans
# it for ids (`read_model.touched`), so nothing on the tail's path decodes it
PAYLOAD_TEXT = type_coerce(OB.payload, Text()).label("payload")
COLUMNS = (OB.seq, OB.account_id, OB.namespace, OB.event, OB.strategy_id, PAYLOAD_TEXT)
# the tailer's poll, many times a second in every API process: built once
TAIL = select(*COLUMNS).where(OB.seq > bindparam("b_after")).order_by(OB.seq).limit(
    bindparam("b_limit"))
LAST_SEQ = select(sequencer_state.c.last_seq).where(sequencer_state.c.name == "outbox")


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One sequenced outbox row, its payload as the JSON text the store holds."""

    seq: int
    account_id: int | None
    namespace: str
    event: str
    strategy_id: int | None
    payload_text: str


def _event(row: Mapping[Any, Any]) -> StreamEvent:
    account_id, strategy_id = row["account_id"], row["strategy_id"]
    return StreamEvent(
        int(row["seq"]),
        None if account_id is None else int(account_id),
        str(row["namespace"]),
        str(row["event"]),
        None if strategy_id is None else int(strategy_id),
        _text(row["payload"]),
    )


def _text(value: Any) -> str:
    """The stored JSON text (a driver may hand LONGTEXT over as bytes)."""
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


async def tail(conn: AsyncConnection, after_seq: int, limit: int = 1000) -> list[StreamEvent]:
    """Sequenced rows after `after_seq`, in `seq` order (the tailer's poll)."""
    found = await direct.fetch(conn, TAIL, {"b_after": after_seq, "b_limit": limit})
    return [_event(r) for r in found]


async def replay(
    conn: AsyncConnection,
    after_seq: int,
    upto_seq: int,
    account_ids: Sequence[int],
    limit: int = 500,
) -> list[StreamEvent]:
    """Rows of `account_ids` with `after_seq < seq <= upto_seq` (a resume or catch-up page)."""
    query = (
        select(*COLUMNS)
        .where(OB.seq > after_seq, OB.seq <= upto_seq, OB.account_id.in_(sorted(account_ids)))
        .order_by(OB.seq)
        .limit(limit)
    )
    return [_event(r) for r in (await conn.execute(query)).mappings()]


async def last_seq(conn: AsyncConnection) -> int:
    """The highest assigned `seq` (0 before the first event)."""
    value = (await conn.execute(LAST_SEQ)).scalar()
    return int(value or 0)


#: both bounds of what the outbox retains, in one statement (`retained`)
RETAINED = select(select(func.min(OB.seq)).scalar_subquery(), LAST_SEQ.scalar_subquery())


async def retained(conn: AsyncConnection) -> tuple[int | None, int]:
    """(the oldest retained `seq`, None when the outbox holds no sequenced row; the highest
    assigned `seq`, 0 before the first event), read in one statement so that both come from
    one snapshot. Read apart, the sequencer's first numbering committed between the two reads
    showed no sequenced row and a last `seq` past 0: what retention leaves once it purged
    everything, so a resume from 0 was refused (`resync_required`) and a fresh bus stream
    would have started after events it never got."""
    row = (await conn.execute(RETAINED)).one()
    oldest: int | None = row[0]
    last: int | None = row[1]
    return (None if oldest is None else int(oldest)), int(last or 0)


async def has_unsequenced(conn: AsyncConnection, account_ids: Sequence[int]) -> bool:
    """Whether committed rows of these accounts still wait for their `seq`."""
    query = (
        select(OB.id)
        .where(OB.seq.is_(None), OB.account_id.in_(sorted(account_ids)))
        .limit(1)
    )
    return (await conn.execute(query)).first() is not None


NEXT_TRANSACTION_SNAPSHOT = text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


@asynccontextmanager
async def consistent_read(store: Store) -> AsyncIterator[AsyncConnection]:
    """A read transaction whose statements all see one snapshot.

    Dialect branch: MySQL/MariaDB pools run READ COMMITTED (a fresh snapshot per statement), so
    this transaction runs REPEATABLE READ (`SET TRANSACTION`: the next transaction only, nothing
    to restore when the connection goes back; a connection the server dropped fails on it as on
    any statement, and SQLAlchemy drops it from the pool); SQLite transactions are snapshots
    already.
    """
    await store.drop_stale_pools()
    async with reading(store.engine) as conn, conn.begin():
        if store.dialect == "mysql":
            await conn.execute(NEXT_TRANSACTION_SNAPSHOT)
        yield conn
