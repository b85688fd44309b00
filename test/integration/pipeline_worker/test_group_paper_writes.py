"""A group commit writes the paper venue's change of all its accounts in a fixed number of
statements (`apps/oms/store/paper.py`, `_Writes`): one version bump for every account, one
UPDATE each of their balances and positions, whatever the number of accounts; each account's
rows hold its own values; a version that moved fails the whole write."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, update

from apps.oms.service.worker.group import GroupCommit
from apps.oms.store import paper
from apps.oms.store.paper import PaperStore, VersionConflict
from apps.oms.store.paper_tables import paper_accounts

from .conftest import Harness
from .test_group_commit import ready, together
from .test_joined import market

PAPER_WRITE = re.compile(r"^(UPDATE|INSERT INTO) (paper_\w+)")


async def test_a_group_writes_every_accounts_paper_change_in_one_statement_each(
    harness: Any,
) -> None:
    h: Harness = harness()
    await ready(h, accounts=3, sends=1)
    group = GroupCommit(h.store)
    # the first group creates the paper accounts and their positions
    assert await together(group, list(h.runtimes.values())) == [True] * 3
    buys = {}  # each account a different number of buys: crossed rows would show
    for n, account_id in enumerate(sorted(h.runtimes), start=1):
        buys[account_id] = n
        for _ in range(n):
            await market(h, account_id, "buy")
    seen: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if found := PAPER_WRITE.match(statement):
            seen[f"{found[1]} {found[2]}"] += 1

    event.listen(h.store.engine.sync_engine, "before_cursor_execute", count)
    try:
        assert await together(group, list(h.runtimes.values())) == [True] * 3
    finally:
        event.remove(h.store.engine.sync_engine, "before_cursor_execute", count)
    assert seen == {  # three accounts, one statement of each kind (one of each per account before)
        "UPDATE paper_accounts": 1, "UPDATE paper_balances": 1, "UPDATE paper_positions": 1,
        "INSERT INTO paper_orders": 1, "INSERT INTO paper_fills": 1,
    }, seen
    # every account's rows hold its own state: a store that never saw them reads what the
    # worker's venue computed, at the version of two bumps
    cached = h.venues.paper_store._states
    for account_id in h.runtimes:
        state, version = await PaperStore(h.store.engine).load(account_id)
        assert (version, state) == cached[account_id]
        assert version == 2
        # the first group's sell and these buys of 0.001 each
        assert [p.qty for p in state.positions.values()] == [
            Decimal("0.001") * (buys[account_id] - 1)]


async def test_a_version_that_moved_fails_every_accounts_write(harness: Any) -> None:
    h: Harness = harness()
    await ready(h, accounts=2, sends=1)
    assert await together(GroupCommit(h.store), list(h.runtimes.values())) == [True, True]
    store = PaperStore(h.store.engine)
    first, second = sorted(h.runtimes)
    writes = paper._Writes()
    for account_id in (first, second):
        state, version = await store.load(account_id)
        writes.add(state, version, state, paper._Pending(version, state, state, now_ms=1))
    async with h.store.transaction() as conn:  # another writer moved the second account
        await conn.execute(update(paper_accounts).where(paper_accounts.c.account_id == second)
                           .values(version=paper_accounts.c.version + 1))  # fmt: skip
    with pytest.raises(VersionConflict, match=str(second)):
        async with h.store.transaction() as conn:
            await writes.write(conn)
    _, version = await PaperStore(h.store.engine).load(first)
    assert version == 1  # rolled back with the rest
