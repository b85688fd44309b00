"""Outbox sequencing: dense seq over committed rows only, in visibility order, with concurrent
writers, rolled-back ids (holes) and a transaction that commits late."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import delete, func, select

from apps.oms.clock import utcnow
from apps.oms.store import sequencer
from apps.oms.store.store import Store
from apps.oms.store.tables import outbox, sequencer_state
from test.outbox_rows import append_raw, raw_event


class Rollback(Exception):
    pass


async def sequence_all(store: Store) -> None:
    async with store.transaction() as conn:
        await sequencer.ensure_state(conn, utcnow())
    while True:
        async with store.transaction() as conn:
            if not await sequencer.assign(conn, utcnow()):
                return


async def check_dense(store: Store) -> list[tuple[int, int]]:
    async with store.read() as conn:
        rows = [(int(r.id), r.seq) for r in await conn.execute(
            select(outbox.c.id, outbox.c.seq).order_by(outbox.c.seq))]
    seqs = [s for _, s in rows]
    assert None not in seqs
    assert seqs == list(range(1, len(seqs) + 1))
    return [(i, int(s)) for i, s in rows]


async def test_concurrent_writers_and_rollbacks_give_dense_seq(store: Store) -> None:
    rng = random.Random(7)
    stop = asyncio.Event()
    committed: list[str] = []

    async def writer(n: int) -> None:
        for k in range(15):
            tag = f"w{n}-{k}-{rng.random()}"
            try:
                async with store.transaction() as conn:
                    await append_raw(conn, account_id=None, namespace="system",
                                       event="test", payload={"tag": tag})
                    await asyncio.sleep(rng.random() / 200)
                    if rng.random() < 0.25:
                        raise Rollback
            except Rollback:
                continue
            committed.append(tag)

    async def sequencing() -> None:
        while not stop.is_set():
            async with store.transaction() as conn:
                await sequencer.ensure_state(conn, utcnow())
                await sequencer.assign(conn, utcnow())
            await asyncio.sleep(0.001)

    seq_task = asyncio.create_task(sequencing())
    await asyncio.gather(*(writer(n) for n in range(4 if store.dialect == "mysql" else 2)))
    stop.set()
    await seq_task
    await sequence_all(store)
    await check_dense(store)
    async with store.read() as conn:
        tags = {r[0]["tag"] for r in await conn.execute(
            select(outbox.c.payload).where(outbox.c.event == "test"))}
    assert set(committed) <= tags
    assert not {t for t in tags if t.startswith("w")} - set(committed)


# MariaDB only: SQLite has one writer, so a transaction cannot commit after a later one there
@pytest.mark.parametrize("store_url", ["mysql"], indirect=True)
async def test_late_commit_gets_a_later_seq(store: Store) -> None:
    await sequence_all(store)
    async with store.transaction() as conn:
        await append_raw(conn, account_id=None, namespace="system", event="early", payload={})
    async with store.transaction() as slow:
        await append_raw(slow, account_id=None, namespace="system", event="slow", payload={})
        async with store.transaction() as conn:
            await append_raw(conn, account_id=None, namespace="system", event="fast",
                               payload={})
        await sequence_all(store)  # "slow" is not visible yet: it must not block or be skipped
    await sequence_all(store)
    async with store.read() as conn:
        order = [r[0] for r in await conn.execute(
            select(outbox.c.event).where(outbox.c.event.in_(("early", "slow", "fast")))
            .order_by(outbox.c.seq))]
        max_seq = (await conn.execute(select(func.max(outbox.c.seq)))).scalar()
    assert order == ["early", "fast", "slow"]
    rows = await check_dense(store)
    assert rows[-1][1] == max_seq


async def test_a_round_over_scattered_rows_numbers_them_in_id_order(store: Store) -> None:
    """Rows whose ids have many holes (more runs of consecutive ids than one numbering
    statement takes) get dense numbers in id order, in one round."""
    await sequence_all(store)
    async with store.transaction() as conn:
        for n in range(3 * sequencer.RUNS_PER_STATEMENT * 2):
            await append_raw(conn, account_id=None, namespace="system", event=f"s{n}",
                               payload={})  # fmt: skip
    async with store.transaction() as conn:
        await conn.execute(delete(outbox).where(outbox.c.seq.is_(None), outbox.c.event.in_(
            [f"s{n}" for n in range(0, 3 * sequencer.RUNS_PER_STATEMENT * 2, 2)])))  # fmt: skip
        before = (await conn.execute(select(func.max(outbox.c.seq)))).scalar() or 0
        numbered = await sequencer.assign(conn, utcnow())
    assert numbered == 3 * sequencer.RUNS_PER_STATEMENT
    async with store.read() as conn:
        rows = (await conn.execute(select(outbox.c.id, outbox.c.seq)
                                   .where(outbox.c.seq > before).order_by(outbox.c.id))).all()
    assert [r.seq for r in rows] == list(range(before + 1, before + 1 + numbered))
    assert len(sequencer._runs([r.id for r in rows])) > sequencer.RUNS_PER_STATEMENT
    await check_dense(store)


def own_rows(*names: str) -> list[dict[str, object]]:
    return [raw_event(account_id=None, namespace="system", event=n, payload={"n": n})
            for n in names]  # fmt: skip


async def test_a_round_inserts_its_own_rows_numbered_after_the_committed_ones(
    store: Store,
) -> None:
    """`assign(own=…)`: the committed unnumbered rows first (id order), then the caller's own
    rows in their order, inserted with their numbers; the stream stays dense."""
    await sequence_all(store)
    async with store.transaction() as conn:
        for name in ("c1", "c2"):
            await append_raw(conn, account_id=None, namespace="system", event=name, payload={})
    async with store.transaction() as conn:
        before = (await conn.execute(select(func.max(outbox.c.seq)))).scalar() or 0
        numbered = await sequencer.assign(conn, utcnow(), own=own_rows("o1", "o2", "o3"))
    assert numbered == 5
    async with store.read() as conn:
        rows = (await conn.execute(select(outbox.c.event, outbox.c.seq, outbox.c.payload)
                                   .where(outbox.c.seq > before).order_by(outbox.c.seq))).all()
        last = (await conn.execute(select(sequencer_state.c.last_seq))).scalar()
    assert [(r.event, r.seq - before) for r in rows] == [
        ("c1", 1), ("c2", 2), ("o1", 3), ("o2", 4), ("o3", 5)]  # fmt: skip
    assert rows[-1].payload == {"n": "o3"}
    assert last == before + 5
    await check_dense(store)


# MariaDB only: SQLite's single writer never lets two rounds hold the state row at once
@pytest.mark.parametrize("store_url", ["mysql"], indirect=True)
async def test_a_skipped_round_writes_its_own_rows_unnumbered(store: Store) -> None:
    """Another round holds the state row: the caller's rows are still written (with its
    commit), unnumbered, and the next round numbers them."""
    await sequence_all(store)
    async with store.transaction() as holder:
        assert await sequencer.assign(holder, utcnow()) == 0  # holds the state row
        async with store.transaction() as conn:
            got = await sequencer.assign(conn, utcnow(), own=own_rows("k1", "k2"))
            assert got == sequencer.SKIPPED
    async with store.read() as conn:
        waiting = (await conn.execute(select(outbox.c.event).where(outbox.c.seq.is_(None))
                                      .order_by(outbox.c.id))).scalars().all()
    assert waiting == ["k1", "k2"]
    await sequence_all(store)
    await check_dense(store)


async def test_own_rows_wait_behind_a_backlog_that_fills_the_round(store: Store) -> None:
    """When older committed rows fill a round (more may wait beyond it), the caller's rows are
    inserted unnumbered, so no row of theirs is numbered before an older one."""
    await sequence_all(store)
    async with store.transaction() as conn:
        for n in range(3):
            await append_raw(conn, account_id=None, namespace="system", event=f"b{n}",
                               payload={})  # fmt: skip
    async with store.transaction() as conn:
        numbered = await sequencer.assign(conn, utcnow(), batch=2, own=own_rows("late"))
    assert numbered == 2
    await sequence_all(store)
    async with store.read() as conn:
        order = (await conn.execute(select(outbox.c.event).where(
            outbox.c.event.in_(("b0", "b1", "b2", "late"))).order_by(outbox.c.seq))).scalars().all()
    assert order == ["b0", "b1", "b2", "late"]
    await check_dense(store)
