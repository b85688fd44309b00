"""What the outbox retains, as a resume and the bus publisher read it (`stream.retained`): both
bounds in one statement, so the sequencer's first numbering can never look like events purged
(read apart, a resume from 0 was refused `resync_required` in the bus e2e test), and a resume is
refused only from before what retention kept."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from apps.oms.clock import utcnow
from apps.oms.errors import OmsError
from apps.oms.service.stream import resume_start
from apps.oms.store import sequencer, stream
from apps.oms.store.migrate import upgrade_async
from apps.oms.store.outbox import NewEvent, append_events
from apps.oms.store.store import Store
from apps.oms.store.tables import outbox


def _events(n: int) -> list[NewEvent]:
    return [{"account_id": None, "namespace": "system", "event": "account_owner_changed",
             "strategy_id": None, "payload": {"i": i}, "created_at": utcnow()}
            for i in range(n)]  # fmt: skip


async def _append_and_number(store: Store, n: int) -> None:
    async with store.transaction() as conn:
        await append_events(conn, _events(n))
    async with store.transaction() as conn:
        await sequencer.ensure_state(conn, utcnow())
        assert await sequencer.assign(conn, utcnow()) == n


async def _refused(store: Store, since_seq: int) -> bool:
    """Whether a resume from `since_seq` is refused; any refusal but `resync_required` raises."""
    try:
        await resume_start(store, since_seq)
    except OmsError as exc:
        if exc.code != "resync_required":
            raise
        return True
    return False


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
async def test_the_retained_bounds_and_the_resumes_they_allow(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"empty_{backend}_url")  # an outbox of its own, from empty
    await upgrade_async(url)
    store = Store.from_url(url)
    try:
        async with store.read() as conn:
            assert await stream.retained(conn) == (None, 0)  # nothing yet
        assert not await _refused(store, 0)
        await _append_and_number(store, 3)
        async with store.read() as conn:
            assert await stream.retained(conn) == (1, 3)
        assert [await _refused(store, s) for s in (0, 2, 3)] == [False, False, False]
        async with store.transaction() as conn:  # retention purges the first two
            await conn.execute(delete(outbox).where(outbox.c.seq <= 2))
        async with store.read() as conn:
            assert await stream.retained(conn) == (3, 3)
        assert [await _refused(store, s) for s in (0, 1, 2, 3)] == [True, True, False, False]
        async with store.transaction() as conn:  # and then everything
            await conn.execute(delete(outbox))
        async with store.read() as conn:
            assert await stream.retained(conn) == (None, 3)
        assert [await _refused(store, s) for s in (0, 2, 3)] == [True, True, False]
    finally:
        await store.close()
