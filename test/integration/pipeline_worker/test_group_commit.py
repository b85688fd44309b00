"""Group commit (`apps/oms/service/execution/group.py`): the joined batches of several accounts that
are ready together are recorded in one transaction (one instant for all), each account still
fenced by its own lease; a failure in one account's part rolls the group back and every account
runs alone, so the others are recorded and the failing one is handled exactly as without groups.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from apps.oms.clock import utcnow
from apps.oms.metrics import GROUP_FALLBACKS
from apps.oms.service.execution import step
from apps.oms.service.execution.group import GroupCommit
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.store import leases, order_records, paper, queue
from apps.oms.store.paper_tables import paper_accounts, paper_balances
from apps.oms.store.tables import account_leases, commands
from apps.worker.venues import load_account

from .conftest import Harness
from .test_commands import assert_fold
from .test_joined import SYMBOL, market, venue_orders


async def ready(h: Harness, accounts: int, sends: int) -> dict[int, list[dict[str, Any]]]:
    """`accounts` paper accounts with `sends` queued market orders each, and their runtimes."""
    await h.price(SYMBOL, "50000")
    queued: dict[int, list[dict[str, Any]]] = {}
    for _ in range(accounts):
        acct = await h.account("hedge")
        queued[acct] = [await market(h, acct, "buy" if n % 2 else "sell") for n in range(sends)]
    async with h.store.transaction() as conn:  # one worker leases them all at once
        taken, _left = await leases.acquire(conn, owner="group-worker", now=utcnow(),
                                            lease_seconds=30, limit=1000,
                                            dialect=h.store.dialect)  # fmt: skip
    for lease in taken:
        if lease.account_id in queued:
            account = await load_account(h.store, lease.account_id)
            venue = h.venues.get(account)
            assert venue is not None
            h.runtimes[lease.account_id] = AccountRuntime(h.store, h.settings, "group-worker",
                                                          lease, account, venue)  # fmt: skip
    assert set(queued) <= set(h.runtimes)
    return queued


async def together(
    group: GroupCommit, runtimes: list[AccountRuntime]
) -> list[bool | BaseException]:
    """Every account task asks for its next step at the same moment."""
    stop = asyncio.Event()
    return await asyncio.gather(*(step.run_next(rt, stop, group) for rt in runtimes),
                                return_exceptions=True)  # fmt: skip


async def test_ready_accounts_commit_together(harness: Callable[..., Harness]) -> None:
    h = harness()
    queued = await ready(h, accounts=3, sends=2)
    runtimes = [await h.runtime(a) for a in queued]
    assert await together(GroupCommit(h.store), runtimes) == [True, True, True]
    finished = set()
    for acct, items in queued.items():
        for item in items:
            cmd = await h.command(item["command_id"])
            assert (cmd["status"], cmd["attempts"]) == ("completed", 1), cmd
            finished.add(cmd["finished_at"])
            order = await h.order(item["order_id"])
            assert order["status"] == "FILLED"
            assert await venue_orders(h, order["client_order_id"]) == 1
        await assert_fold(h, acct)
    assert len(finished) == 1  # one transaction, one instant, three accounts
    # the queues are empty: the next round finds nothing, in one group too
    assert await together(GroupCommit(h.store), runtimes) == [False, False, False]


async def test_per_account_order_holds_inside_a_group(
    harness: Callable[..., Harness],
) -> None:
    """An account's batch in a group still stops at its first command that is not a send."""
    h = harness()
    queued = await ready(h, accounts=2, sends=1)
    first, other = list(queued)
    resting = await h.send(first, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                           qty="0.001", price="40000")  # fmt: skip
    group = GroupCommit(h.store)
    runtimes = [await h.runtime(a) for a in queued]
    assert await together(group, runtimes) == [True, True]  # first: its market and the limit
    assert (await h.order(resting["order_id"]))["status"] == "SUBMITTED"  # resting
    before = await market(h, first)
    cancel = await h.send(first, "cancel_order", order_ids=[resting["order_id"]])
    after = await market(h, first)
    later = await market(h, other)
    assert await together(group, runtimes) == [True, True]
    assert [(await h.command(i["command_id"]))["status"] for i in (before, cancel, after)
            ] == ["completed", "queued", "queued"]  # first's batch stopped at the cancel
    assert (await h.command(later["command_id"]))["status"] == "completed"
    while await step.run_next(runtimes[0], asyncio.Event(), group):
        pass
    finished = [(await h.command(i["command_id"]))["finished_at"]
                for i in (resting, before, cancel, after)]
    assert finished == sorted(finished)  # acceptance order
    assert (await h.order(resting["order_id"]))["status"] == "CANCELED"
    assert (await h.order(after["order_id"]))["status"] == "FILLED"
    for acct in queued:
        await assert_fold(h, acct)


async def test_a_fenced_account_fails_alone(harness: Callable[..., Harness]) -> None:
    """Another worker took one account's lease: the group rolls back, the others are recorded
    alone, the fenced account's task gets `LeaseLost` and records nothing."""
    h = harness()
    queued = await ready(h, accounts=3, sends=2)
    a, b, c = list(queued)
    async with h.store.transaction() as conn:  # b's lease moved to another worker's epoch
        await conn.execute(update(account_leases).where(account_leases.c.account_id == b)
                           .values(owner="peer", lease_epoch=account_leases.c.lease_epoch + 1))
    rolled_back = GROUP_FALLBACKS._value.get()
    results = await together(GroupCommit(h.store), [await h.runtime(x) for x in (a, b, c)])
    assert (results[0], results[2]) == (True, True)
    assert isinstance(results[1], leases.LeaseLost)
    assert GROUP_FALLBACKS._value.get() == rolled_back + 1
    for acct in (a, c):
        for item in queued[acct]:
            assert (await h.command(item["command_id"]))["status"] == "completed"
        await assert_fold(h, acct)
    for item in queued[b]:
        cmd = await h.command(item["command_id"])
        assert (cmd["status"], cmd["attempts"] or 0) == ("queued", 0), cmd
        order = await h.order(item["order_id"])
        assert await venue_orders(h, order["client_order_id"]) == 0


async def test_an_error_in_one_part_costs_the_others_one_retry(
    harness: Callable[..., Harness],
) -> None:
    """A defect while placing one account's order rolls the group back (nothing of any account
    reached the venue: it is the same transaction); the other accounts are then recorded alone,
    and the failing account's batch is handled as without groups: the commands before the
    failing one recorded, the failing one counted as an attempt and retried."""
    h = harness()
    queued = await ready(h, accounts=3, sends=2)
    a, b, c = list(queued)
    venue: Any = (await h.runtime(b)).venue
    real, calls = venue.create_order, [0]

    async def broken_once_at_second(*args: Any, **kw: Any) -> Any:
        calls[0] += 1
        if calls[0] in (2, 4):  # b's second order, in the group and then alone
            raise RuntimeError("a defect while placing")
        return await real(*args, **kw)

    venue.create_order = broken_once_at_second
    try:
        results = await together(GroupCommit(h.store), [await h.runtime(x) for x in (a, b, c)])
    finally:
        venue.create_order = real
    assert results == [True, True, True]
    for acct in (a, c):
        for item in queued[acct]:
            cmd = await h.command(item["command_id"])
            assert (cmd["status"], cmd["attempts"]) == ("completed", 1), cmd
    first, second = [await h.command(i["command_id"]) for i in queued[b]]
    assert (first["status"], first["attempts"]) == ("completed", 1), first
    assert second["status"] in ("queued", "running"), second
    await h.drain(b, housekeeping=False)
    second = await h.command(queued[b][1]["command_id"])
    assert second["status"] == "completed", second
    order = await h.order(queued[b][1]["order_id"])
    assert order["status"] == "FILLED"
    assert await venue_orders(h, order["client_order_id"]) == 1  # placed exactly once
    for acct in queued:
        await assert_fold(h, acct)


@pytest.mark.parametrize("accounts", [1, 4])
async def test_group_answers_like_the_solo_path(
    harness: Callable[..., Harness], accounts: int
) -> None:
    """A lone account (a group of one) and a crowd both drain to the same books as the solo
    path would: every send filled once, positions the fold of their deals."""
    h = harness()
    queued = await ready(h, accounts=accounts, sends=5)
    group = GroupCommit(h.store)
    runtimes = [await h.runtime(a) for a in queued]

    async def drain(rt: AccountRuntime) -> None:
        while await step.run_next(rt, asyncio.Event(), group):
            pass

    await asyncio.gather(*(drain(rt) for rt in runtimes))
    for acct, items in queued.items():
        for item in items:
            assert (await h.order(item["order_id"]))["status"] == "FILLED"
        await assert_fold(h, acct)


async def test_finishes_of_a_batch_are_fenced_per_command(
    harness: Callable[..., Harness],
) -> None:
    """A batch writes its commands' finishes in one statement, each conditional on `running`
    under its own epoch: one command taken over by another epoch fences the whole write."""
    h = harness()
    queued = await ready(h, accounts=2, sends=1)
    rows: dict[int, list[dict[str, Any]]] = {}
    async with h.store.transaction() as conn:
        peeked = await queue.peek_batches(conn, dict.fromkeys(queued, 10))
        for acct, heads in peeked.items():
            rows[acct] = heads
        claimed = await queue.claim_many(
            conn, {a: (rows[a], h.runtimes[a].lease.epoch) for a in queued}, utcnow())
    finishes = [queue.Finish(c.command_id, c.epoch,
                             queue.finish_values(utcnow(), status="completed", result={"n": n}))
                for n, c in enumerate(c for cmds in claimed.values() for c in cmds)]
    stolen = finishes[1].command_id
    async with h.store.transaction() as conn:
        await conn.execute(update(commands).where(commands.c.id == stolen)
                           .values(lease_epoch=commands.c.lease_epoch + 1))
    with pytest.raises(queue.Fenced):
        async with h.store.transaction() as conn:
            await queue.finish_many(conn, finishes)
    for finish in finishes:  # rolled back: both still running
        assert (await h.command(finish.command_id))["status"] == "running"
    async with h.store.transaction() as conn:
        await queue.finish_many(conn, finishes[:1])
        await conn.execute(update(commands).where(commands.c.id == stolen)
                           .values(lease_epoch=commands.c.lease_epoch - 1))
    async with h.store.transaction() as conn:
        await queue.finish_many(conn, finishes[1:])
    for n, finish in enumerate(finishes):
        row = await h.command(finish.command_id)
        assert (row["status"], row["result"]) == ("completed", {"n": n}), row


async def test_one_update_writes_each_order_its_own_values(
    harness: Callable[..., Harness],
) -> None:
    """`update_orders`: different columns and values per order (None, Decimal, text) in one
    statement, each row getting exactly its own."""
    h = harness()
    queued = await ready(h, accounts=1, sends=3)
    ids = [item["order_id"] for items in queued.values() for item in items]
    async with h.store.transaction() as conn:
        await order_records.update_orders(conn, {
            ids[0]: {"status": "CANCELED", "filled_qty": Decimal("0")},
            ids[1]: {"exchange_order_id": "x-1", "filled_qty": Decimal("0.0005")},
            ids[2]: {"exchange_order_id": None, "status": "REJECTED"},
        })  # fmt: skip
    first, second, third = [await h.order(i) for i in ids]
    assert (first["status"], first["filled_qty"], first["exchange_order_id"]) == (
        "CANCELED", Decimal("0"), None)
    assert (second["status"], second["filled_qty"], second["exchange_order_id"]) == (
        "PENDING_SUBMIT", Decimal("0.0005"), "x-1")
    assert (third["status"], third["filled_qty"], third["exchange_order_id"]) == (
        "REJECTED", Decimal("0"), None)


async def test_an_account_with_a_large_last_batch_runs_alone(
    harness: Callable[..., Harness],
) -> None:
    """A large batch already shares its fixed cost: the account's next batch is not grouped
    (separate transactions overlap the worker's Python with the database's work)."""
    h = harness()
    queued = await ready(h, accounts=2, sends=3)
    group = GroupCommit(h.store, alone_from=3)
    runtimes = [await h.runtime(a) for a in queued]
    assert await together(group, runtimes) == [True, True]  # unknown before: grouped
    first = {(await h.command(items[0]["command_id"]))["finished_at"]
             for items in queued.values()}
    assert len(first) == 1
    later = {a: [await market(h, a) for _ in range(2)] for a in queued}
    assert await together(group, runtimes) == [True, True]  # 3 last time: each alone
    second = {(await h.command(items[0]["command_id"]))["finished_at"]
              for items in later.values()}
    assert len(second) == 2
    later = {a: [await market(h, a)] for a in queued}
    assert await together(group, runtimes) == [True, True]  # 2 last time: grouped again
    third = {(await h.command(items[0]["command_id"]))["finished_at"]
             for items in later.values()}
    assert len(third) == 1


async def test_a_failed_joined_flush_cannot_commit(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's paper venues share one joined overlay; a flush can run inside another
    account's venue call, whose error handling may swallow the error. The join then stays
    failed: the flush before the commit raises, and the transaction rolls back."""
    h = harness()
    await ready(h, accounts=1, sends=1)
    store = h.venues.paper_store
    broken = [True]
    real_write = paper.PaperStore._write_outcomes

    async def write(self: Any, conn: Any, changes: Any) -> None:
        if broken[0]:
            raise RuntimeError("an insert failed")
        await real_write(self, conn, changes)

    monkeypatch.setattr(paper.PaperStore, "_write_outcomes", write)
    async with h.store.transaction() as conn:
        with store.join(conn) as shared:
            with pytest.raises(RuntimeError, match="an insert failed"):
                await shared.flush()  # e.g. inside another account's create_order
            broken[0] = False
            with pytest.raises(RuntimeError, match="earlier flush"):
                await shared.flush()  # the one before the commit


async def paper_rows(h: Harness, account_id: int) -> tuple[int, dict[str, Decimal]]:
    """The account's stored paper version and balances."""
    async with h.store.read() as conn:
        version = (await conn.execute(select(paper_accounts.c.version).where(
            paper_accounts.c.account_id == account_id))).scalar_one()
        rows = await conn.execute(select(paper_balances.c.currency, paper_balances.c.total).where(
            paper_balances.c.account_id == account_id))
        return int(version), {str(c): Decimal(t) for c, t in rows}


async def primed(h: Harness, accounts: int) -> list[int]:
    """Hedge paper accounts whose paper rows exist: each had one swap market buy recorded
    alone (its USDT balance stored, no BTC balance)."""
    await h.price(SYMBOL, "50000")
    await h.price("BTC/USDT", "50000")
    made = []
    for _ in range(accounts):
        acct = await h.account("hedge")
        await market(h, acct)
        assert await h.drain(acct, housekeeping=False) == 1
        made.append(acct)
    return made


async def test_a_group_writes_each_paper_account_its_own_state(
    harness: Callable[..., Harness],
) -> None:
    """The paper accounts of a group are written in one statement each for the version bumps
    and for the balances (new currencies and changed ones): every account gets its own version
    (one bump per transaction) and balances that follow from its own fills."""
    h = harness()
    accounts = await primed(h, 3)
    qty = ["0.001", "0.003", "0.007"]
    queued = {acct: [await h.send(acct, "send_order", symbol="BTC/USDT", side=side,
                                  order_type="market", qty=qty[n])
                     for side in ("buy", "buy", "sell")[: n + 1]]
              for n, acct in enumerate(accounts)}  # fmt: skip
    before = {a: await paper_rows(h, a) for a in accounts}
    assert all("BTC" not in balances for _v, balances in before.values())  # BTC will be new
    runtimes = [await h.runtime(a) for a in accounts]
    assert await together(GroupCommit(h.store), runtimes) == [True, True, True]
    finished = set()
    for acct, items in queued.items():
        expected = dict(before[acct][1])
        for item in items:
            cmd = await h.command(item["command_id"])
            assert cmd["status"] == "completed", cmd
            finished.add(cmd["finished_at"])
            order = await h.order(item["order_id"])
            filled = Decimal(order["filled_qty"])
            sign = 1 if order["side"] == "buy" else -1
            expected["BTC"] = expected.get("BTC", Decimal(0)) + sign * filled
            expected["USDT"] -= sign * filled * Decimal(order["avg_fill_price"])
            expected[order["fee_currency"]] -= Decimal(order["fee"])
        version, balances = await paper_rows(h, acct)
        assert version == before[acct][0] + 1  # one bump per transaction
        assert balances == expected, (acct, balances, expected)
    assert len(finished) == 1  # one transaction


async def test_a_paper_account_moved_inside_the_group_rolls_the_group_back(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each account's version bump is conditional on its own stored version: one account moved
    by another writer fails the whole group's flush (nothing of it is written), and every
    account is then recorded alone."""
    h = harness()
    accounts = await primed(h, 3)
    queued = {acct: await market(h, acct) for acct in accounts}
    moved = accounts[1]
    real_flush, calls = paper.Joined.flush, [0]

    async def flush_after_a_move(self: Any) -> None:
        calls[0] += 1
        if calls[0] == 1:  # the group's flush: another writer moved `moved` meanwhile
            await self.conn.execute(update(paper_accounts).where(
                paper_accounts.c.account_id == moved).values(version=paper_accounts.c.version + 7))
        await real_flush(self)

    monkeypatch.setattr(paper.Joined, "flush", flush_after_a_move)
    rolled_back = GROUP_FALLBACKS._value.get()
    before = {a: (await paper_rows(h, a))[0] for a in accounts}
    results = await together(GroupCommit(h.store), [await h.runtime(a) for a in accounts])
    assert results == [True, True, True]
    assert GROUP_FALLBACKS._value.get() == rolled_back + 1
    finished = set()
    for acct, item in queued.items():
        cmd = await h.command(item["command_id"])
        assert (cmd["status"], cmd["attempts"]) == ("completed", 1), cmd
        finished.add(cmd["finished_at"])
        # the move was rolled back with the group; the account's own run bumped it once
        assert (await paper_rows(h, acct))[0] == before[acct] + 1
        await assert_fold(h, acct)
    assert len(finished) == 3  # each alone
