"""Group commit (`apps/oms/service/execution/group.py`) on the send path (`sends.run_batch` with
a `GroupCommit`): the write-ahead and the record transactions of several ready accounts are
written in one transaction (one lease-hold statement, one instant for all), each account still
fenced by its own lease. A failure in one member (a lease lost, a defect in its body) rolls the
group back and every member runs alone: the others are recorded, the failing one is handled as
without groups, and no order reaches the venue twice. Per-account order never changes, and a
cancelled leader leaves no member waiting for an answer.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client.metrics import MetricWrapperBase
from sqlalchemy import select, update

from apps.oms.clock import utcnow
from apps.oms.metrics import GROUP_FALLBACKS, GROUP_SIZE
from apps.oms.service.execution import group as group_module
from apps.oms.service.execution import sends, step
from apps.oms.service.execution.group import GroupCommit
from apps.oms.service.execution.runtime import AccountRuntime, Recorder
from apps.oms.store import leases, order_records, queue
from apps.oms.store.leases import Lease
from apps.oms.store.tables import account_leases, positions
from apps.worker.venues import load_account

from .conftest import Harness
from .test_commands import assert_fold, events_of
from .test_send_batches import SYMBOL, market, venue_orders

OWNER = "group-worker"
Queued = dict[int, list[dict[str, Any]]]
Outcome = int | tuple[int, list[sends.Prepared]] | None


# --- helpers --------------------------------------------------------------------------------


async def ready(h: Harness, accounts: int, sends_each: int, mode: str = "hedge") -> Queued:
    """`accounts` paper accounts with `sends_each` queued market orders each (sides
    alternating), all leased by the test worker."""
    await h.price(SYMBOL, "50000")
    queued: Queued = {}
    for _ in range(accounts):
        acct = await h.account(mode)
        queued[acct] = [await market(h, acct, "sell" if n % 2 else "buy")
                        for n in range(sends_each)]  # fmt: skip
    await lease_all(h, list(queued))
    return queued


async def lease_all(h: Harness, account_ids: list[int]) -> list[AccountRuntime]:
    """One worker (`OWNER`) takes these accounts' leases at once (a new epoch each, whoever
    held them), as a worker's lease round does: the runtimes of a group share their owner."""
    now = utcnow()
    async with h.store.transaction() as conn:
        await conn.execute(update(account_leases).where(
            account_leases.c.account_id.in_(account_ids)).values(
            owner=OWNER, expires_at=now + timedelta(seconds=300), heartbeat_at=now,
            lease_epoch=account_leases.c.lease_epoch + 1))  # fmt: skip
        rows = await conn.execute(select(account_leases.c.account_id, account_leases.c.lease_epoch)
                                  .where(account_leases.c.account_id.in_(account_ids)))
        epochs = {int(r.account_id): int(r.lease_epoch) for r in rows}
    runtimes = []
    for account_id in account_ids:
        account = await load_account(h.store, account_id)
        venue = h.venues.get(account)
        assert venue is not None
        rt = AccountRuntime(h.store, h.settings, OWNER, Lease(account_id, epochs[account_id]),
                            account, venue)  # fmt: skip
        h.runtimes[account_id] = rt
        runtimes.append(rt)
    return runtimes


async def batches(
    group: GroupCommit | None, runtimes: list[AccountRuntime]
) -> list[int | BaseException | None]:
    """Every account task runs its batch of sends at the same moment, through `group`."""
    return await asyncio.gather(
        *(sends.run_batch(rt, rt.settings.batch_size, group) for rt in runtimes),
        return_exceptions=True)  # fmt: skip


def sample(metric: MetricWrapperBase, suffix: str) -> float:
    """The current value of the metric's sample named `<name><suffix>`."""
    (family,) = metric.collect()
    return next(s.value for s in family.samples if s.name == family.name + suffix)


def fallbacks() -> float:
    return sample(GROUP_FALLBACKS, "_total")


def group_sizes() -> tuple[float, float]:
    """How many groups were written so far, and how many members they had in all."""
    return sample(GROUP_SIZE, "_count"), sample(GROUP_SIZE, "_sum")


def places_together(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Each batch's venue call returns only once `count` batches placed theirs, so their record
    steps are asked for together (and form one group)."""
    real = sends.place
    placed = [0]
    everyone = asyncio.Event()

    async def gated(rt: AccountRuntime, prepared: list[sends.Prepared]) -> Any:
        answers = await real(rt, prepared)
        placed[0] += 1
        if placed[0] == count:
            everyone.set()
        await everyone.wait()
        return answers

    monkeypatch.setattr(sends, "place", gated)


def fail_in_body(
    monkeypatch: pytest.MonkeyPatch, name: str, account_id: int, times: int | None = None
) -> list[int]:
    """`sends.<name>` (`write_ahead_in` or `record_in`) raises for `account_id` (its first
    `times` calls; every call when None). Returns the accounts of every call, in order."""
    real: Callable[..., Awaitable[Any]] = getattr(sends, name)
    calls: list[int] = []
    failed = [0]

    async def broken(rec: Recorder, *args: Any) -> Any:
        calls.append(rec.rt.account_id)
        if rec.rt.account_id == account_id and (times is None or failed[0] < times):
            failed[0] += 1
            raise RuntimeError(f"a defect in {name}")
        return await real(rec, *args)

    monkeypatch.setattr(sends, name, broken)
    return calls


def runs_alone(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The accounts whose group did not commit and that ran their body alone, in order."""
    real = group_module.alone
    went: list[int] = []

    async def spy(rt: AccountRuntime, body: group_module.Body) -> Any:
        went.append(rt.account_id)
        return await real(rt, body)

    monkeypatch.setattr(group_module, "alone", spy)
    return went


async def take_lease(h: Harness, account_id: int) -> None:
    """Another worker took the account's lease (a new epoch under another owner)."""
    async with h.store.transaction() as conn:
        await conn.execute(update(account_leases).where(account_leases.c.account_id == account_id)
                           .values(owner="peer", lease_epoch=account_leases.c.lease_epoch + 1))


async def times_of(h: Harness, items: list[dict[str, Any]], column: str) -> list[datetime]:
    return [(await h.command(i["command_id"]))[column] for i in items]


async def booked_once(h: Harness, items: list[dict[str, Any]], attempts: int = 1) -> None:
    """Every send completed (after `attempts` claims), its order filled and on the venue
    once."""
    for item in items:
        cmd = await h.command(item["command_id"])
        assert cmd["status"] == "completed", cmd
        assert cmd["attempts"] == attempts, cmd
        order = await h.order(item["order_id"])
        assert order["status"] == "FILLED", order
        assert not order["outcome_unknown"]
        assert await venue_orders(h, order["client_order_id"]) == 1


async def book(h: Harness, account_id: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    """What the account's sends booked, without ids or times: the orders in acceptance order,
    the positions in opening order, and the events by name."""
    orders = []
    for item in items:
        o = await h.order(item["order_id"])
        orders.append((o["side"], o["qty"], o["status"], o["filled_qty"], o["avg_fill_price"],
                       o["fee"]))  # fmt: skip
    async with h.store.read() as conn:
        rows = (await conn.execute(select(positions).where(
            positions.c.account_id == account_id).order_by(positions.c.id))).mappings()
        held = [(r["symbol"], r["side"], r["qty"], r["avg_price"], r["realized_pnl"], r["fee"],
                 r["state"]) for r in rows]  # fmt: skip
    events = sorted(await events_of(h, account_id))
    return {"orders": orders, "positions": held, "events": events}


async def settle(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel what is left of `tasks` (a member left waiting) and wait for them to end."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# --- one transaction for the group -----------------------------------------------------------


async def test_ready_accounts_share_the_write_ahead_and_the_record(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three accounts asking together: one group writes all their write-aheads (one instant:
    every command's `started_at`), one group all their records (every `finished_at`)."""
    h = harness()
    queued = await ready(h, accounts=3, sends_each=2)
    places_together(monkeypatch, 3)
    groups, members = group_sizes()
    rolled_back = fallbacks()
    runtimes = [await h.runtime(a) for a in queued]
    assert await batches(GroupCommit(h.store), runtimes) == [2, 2, 2]
    everything = [item for items in queued.values() for item in items]
    assert len(set(await times_of(h, everything, "started_at"))) == 1
    assert len(set(await times_of(h, everything, "finished_at"))) == 1
    assert group_sizes() == (groups + 2, members + 6)  # two groups of three
    assert fallbacks() == rolled_back
    for acct, items in queued.items():
        await booked_once(h, items)
        await assert_fold(h, acct)
    # the queues are empty: the next round finds nothing, in one group too
    assert await batches(GroupCommit(h.store), runtimes) == [None, None, None]
    assert group_sizes() == (groups + 3, members + 9)


async def test_one_lease_hold_statement_for_every_member(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group holds all its members' lease rows in one statement (each under its own epoch),
    and no member holds its own: the write-ahead and the record are one transaction each. The
    write-ahead's group reads the rows with the queue heads; the record's sends its hold with
    its first statement (`hold_later`)."""
    h = harness()
    queued = await ready(h, accounts=3, sends_each=1)
    places_together(monkeypatch, 3)
    real_hold_all, real_hold = leases.hold_all_read, leases.hold
    held_together: list[list[Lease]] = []
    held_alone: list[int] = []

    def hold_all_read(held: list[Lease], *, owner: str, now: datetime) -> Any:
        held_together.append(sorted(held, key=lambda lease: lease.account_id))
        return real_hold_all(held, owner=owner, now=now)

    async def hold(conn: Any, lease: Lease, *, owner: str, now: datetime) -> None:
        held_alone.append(lease.account_id)
        await real_hold(conn, lease, owner=owner, now=now)

    real_later = leases.hold_later
    held_later: list[list[Lease]] = []

    async def hold_later(conn: Any, held: list[Lease], *, owner: str, now: datetime) -> None:
        held_later.append(sorted(held, key=lambda lease: lease.account_id))
        await real_later(conn, held, owner=owner, now=now)

    monkeypatch.setattr(leases, "hold_all_read", hold_all_read)
    monkeypatch.setattr(leases, "hold", hold)
    monkeypatch.setattr(leases, "hold_later", hold_later)
    runtimes = [await h.runtime(a) for a in queued]
    assert await batches(GroupCommit(h.store), runtimes) == [1, 1, 1]
    leased = sorted((rt.lease for rt in runtimes), key=lambda lease: lease.account_id)
    assert held_together == [leased]  # the write-ahead's group
    assert held_later == [leased]  # the record's
    assert held_alone == []
    for acct, items in queued.items():
        await booked_once(h, items)
        await assert_fold(h, acct)


async def test_the_queue_heads_come_with_the_lease_rows(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write-ahead group reads every member's queue head in its first round trip, with the
    lease rows (`run(peek=)`): no member reads its queue again."""
    h = harness()
    queued = await ready(h, accounts=3, sends_each=2)
    places_together(monkeypatch, 3)
    real_read = queue.peek_read
    asked: list[dict[int, int]] = []

    def peek_read(conn: Any, limits: dict[int, int]) -> Any:
        asked.append(dict(limits))
        return real_read(conn, limits)

    async def peek_batches(conn: Any, limits: dict[int, int]) -> Any:
        raise AssertionError(f"a member read its queue again: {limits}")

    monkeypatch.setattr(queue, "peek_read", peek_read)
    monkeypatch.setattr(queue, "peek_batches", peek_batches)
    runtimes = [await h.runtime(a) for a in queued]
    assert await batches(GroupCommit(h.store), runtimes) == [2, 2, 2]
    limit = runtimes[0].settings.batch_size
    assert asked == [dict.fromkeys(sorted(queued), limit)]  # once, for the whole group
    for acct, items in queued.items():
        await booked_once(h, items)
        await assert_fold(h, acct)


async def test_the_fronts_orders_are_locked_once_for_the_group(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the heads, the write-ahead group locks the orders of every member's front sends
    in one statement (with the members' re-check state, one round trip), not one per member."""
    h = harness()
    queued = await ready(h, accounts=3, sends_each=2)
    places_together(monkeypatch, 3)
    real_read = order_records.lock_orders_read
    locked: list[list[int]] = []

    def lock_orders_read(order_ids: list[int]) -> Any:
        locked.append(sorted(order_ids))
        return real_read(order_ids)

    monkeypatch.setattr(order_records, "lock_orders_read", lock_orders_read)
    runtimes = [await h.runtime(a) for a in queued]
    assert await batches(GroupCommit(h.store), runtimes) == [2, 2, 2]
    orders = [int(item["order_id"]) for items in queued.values() for item in items]
    assert locked == [sorted(orders)]
    for acct, items in queued.items():
        await booked_once(h, items)
        await assert_fold(h, acct)


@pytest.mark.parametrize("accounts", [1, 4])
async def test_a_group_books_exactly_as_each_account_alone(
    harness: Callable[..., Harness], accounts: int
) -> None:
    """Netting accounts with the same sends (a position opened, reduced, crossed through zero,
    reopened), in batches of two: drained concurrently through one group commit they book the
    same orders, positions and events as an account drained alone, each order placed once,
    positions the fold of their deals, and every account's commands finish in acceptance
    order."""
    h = harness(batch_size=2)
    await h.price(SYMBOL, "50000")
    script = [("buy", "0.003"), ("sell", "0.001"), ("sell", "0.004"), ("buy", "0.002"),
              ("sell", "0.001")]  # fmt: skip

    async def accept(acct: int) -> list[dict[str, Any]]:
        items = []
        for side, qty in script:
            item = await h.send(acct, "send_order", symbol=SYMBOL, side=side,
                                order_type="market", qty=qty)  # fmt: skip
            assert item["ok"], item
            items.append(item)
        return items

    solo = await h.account("netting")
    solo_items = await accept(solo)
    assert await h.drain(solo, housekeeping=False) == 3  # three batches
    expected = await book(h, solo, solo_items)
    queued = {acct: await accept(acct) for acct in [await h.account("netting")
                                                    for _ in range(accounts)]}  # fmt: skip
    group = GroupCommit(h.store)
    rolled_back = fallbacks()

    async def drain(rt: AccountRuntime) -> int:
        ran = 0
        while await step.run_next(rt, asyncio.Event(), group):
            ran += 1
        return ran

    runtimes = await lease_all(h, list(queued))
    assert await asyncio.gather(*(drain(rt) for rt in runtimes)) == [3] * accounts
    assert fallbacks() == rolled_back
    for acct, items in queued.items():
        assert await book(h, acct, items) == expected
        await booked_once(h, items)
        await assert_fold(h, acct)
        finished = await times_of(h, items, "finished_at")
        assert finished == sorted(finished)  # acceptance order


async def test_accounts_with_nothing_to_send_share_the_group_harmlessly(
    harness: Callable[..., Harness],
) -> None:
    """In one group: an account with no unfinished command (None), one whose queue starts with
    a cancel (0: its head goes the classic way, nothing claimed) and one with sends, which are
    taken; the group commits."""
    h = harness()
    acct, resting = await h.resting_buy(SYMBOL)
    cancel = await h.send(acct, "cancel_order", order_ids=[resting["order_id"]])
    behind = await market(h, acct)
    idle = await h.account("hedge")
    queued = await ready(h, accounts=1, sends_each=2)
    (busy,) = queued
    rolled_back = fallbacks()
    runtimes = await lease_all(h, [idle, acct, busy])
    assert await batches(GroupCommit(h.store), runtimes) == [None, 0, 2]
    assert fallbacks() == rolled_back
    for item in (cancel, behind):
        cmd = await h.command(item["command_id"])
        assert cmd["status"] == "queued", cmd
        assert not cmd["attempts"], cmd
    await booked_once(h, queued[busy])
    await h.drain(acct, housekeeping=False)
    assert (await h.order(resting["order_id"]))["status"] == "CANCELED"
    await booked_once(h, [behind])


async def test_per_account_order_holds_inside_a_group(
    harness: Callable[..., Harness],
) -> None:
    """An account's batch in a group still stops at its first command that is not a send, and
    its commands finish in acceptance order; the other member's batch is unaffected."""
    h = harness()
    queued = await ready(h, accounts=2, sends_each=1)
    first, other = list(queued)
    resting = await h.send(first, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                           qty="0.001", price="40000")  # fmt: skip
    group = GroupCommit(h.store)
    runtimes = [await h.runtime(a) for a in queued]

    async def together() -> list[bool]:
        return list(await asyncio.gather(*(step.run_next(rt, asyncio.Event(), group)
                                           for rt in runtimes)))  # fmt: skip

    assert await together() == [True, True]  # first: its market and the limit
    assert (await h.order(resting["order_id"]))["status"] == "SUBMITTED"  # resting
    before = await market(h, first)
    cancel = await h.send(first, "cancel_order", order_ids=[resting["order_id"]])
    after = await market(h, first)
    later = await market(h, other)
    assert await together() == [True, True]
    statuses = [(await h.command(i["command_id"]))["status"] for i in (before, cancel, after)]
    assert statuses == ["completed", "queued", "queued"]  # first's batch stopped at the cancel
    assert (await h.command(later["command_id"]))["status"] == "completed"
    while await step.run_next(runtimes[0], asyncio.Event(), group):
        pass
    items = [*queued[first], resting, before, cancel, after]
    finished = await times_of(h, items, "finished_at")
    assert finished == sorted(finished)  # acceptance order
    assert (await h.order(resting["order_id"]))["status"] == "CANCELED"
    await booked_once(h, [*queued[first], before, after, *queued[other], later])
    for acct in queued:
        await assert_fold(h, acct)


# --- fencing: each member keeps its own lease -----------------------------------------------


async def test_a_member_whose_lease_was_taken_is_fenced_and_the_others_record_alone(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker took one member's lease before the write-ahead: the group rolls back,
    every member runs alone; the fenced one gets `LeaseLost` and claims and places nothing,
    the others are written ahead, placed and recorded."""
    h = harness()
    queued = await ready(h, accounts=3, sends_each=2)
    a, b, c = list(queued)
    await take_lease(h, b)
    went_alone = runs_alone(monkeypatch)
    rolled_back = fallbacks()
    results = await batches(GroupCommit(h.store), [await h.runtime(x) for x in (a, b, c)])
    assert results[0] == 2
    assert results[2] == 2
    assert isinstance(results[1], leases.LeaseLost)
    assert fallbacks() == rolled_back + 1
    assert sorted(went_alone[:3]) == sorted([a, b, c])  # the write-ahead's group, rolled back
    for acct in (a, c):
        await booked_once(h, queued[acct])
        await assert_fold(h, acct)
    for item in queued[b]:
        cmd = await h.command(item["command_id"])
        assert cmd["status"] == "queued", cmd
        assert not cmd["attempts"], cmd
        order = await h.order(item["order_id"])
        assert order["status"] == "PENDING_SUBMIT"
        assert await venue_orders(h, order["client_order_id"]) == 0


async def test_a_lease_lost_before_the_record_leaves_that_members_orders_to_the_next_owner(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One member's lease is taken while the venue places its orders: the record group rolls
    back, the others are recorded alone, the fenced member gets `LeaseLost` and records
    nothing (its orders keep `outcome_unknown`). The next owner looks them up by client order
    id and books each once: no order reaches the venue twice."""
    h = harness()
    queued = await ready(h, accounts=3, sends_each=2)
    a, b, c = list(queued)
    real_place = sends.place

    async def place(rt: AccountRuntime, prepared: list[sends.Prepared]) -> Any:
        answers = await real_place(rt, prepared)
        if rt.account_id == b:
            await take_lease(h, b)
        return answers

    monkeypatch.setattr(sends, "place", place)
    rolled_back = fallbacks()
    results = await batches(GroupCommit(h.store), [await h.runtime(x) for x in (a, b, c)])
    monkeypatch.setattr(sends, "place", real_place)
    assert results[0] == 2
    assert results[2] == 2
    assert isinstance(results[1], leases.LeaseLost)
    assert fallbacks() == rolled_back + 1
    for acct in (a, c):
        await booked_once(h, queued[acct])
    for item in queued[b]:
        cmd = await h.command(item["command_id"])
        assert cmd["status"] == "running", cmd
        order = await h.order(item["order_id"])
        assert order["status"] == "PENDING_SUBMIT"
        assert order["outcome_unknown"]
        assert await venue_orders(h, order["client_order_id"]) == 1
    del h.runtimes[b]
    await h.runtime(b, owner="peer")
    await h.drain(b, housekeeping=False)
    for item in queued[b]:
        order = await h.order(item["order_id"])
        assert order["status"] == "FILLED"
        assert not order["outcome_unknown"]
        assert await venue_orders(h, order["client_order_id"]) == 1
        assert (await h.command(item["command_id"]))["status"] == "completed"
    for acct in queued:
        await assert_fold(h, acct)


# --- a failure in one member's body ---------------------------------------------------------


async def test_a_failed_write_ahead_of_one_member_costs_every_member_one_retry(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A defect in one member's write-ahead (once) rolls the group back, nothing of any member
    claimed; every member then runs alone and all are written ahead, placed once and recorded
    once: one attempt each, one completion event per command, one deal per order."""
    h = harness()
    queued = await ready(h, accounts=3, sends_each=2)
    a, b, c = list(queued)
    calls = fail_in_body(monkeypatch, "write_ahead_in", b, times=1)
    went_alone = runs_alone(monkeypatch)
    rolled_back = fallbacks()
    results = await batches(GroupCommit(h.store), [await h.runtime(x) for x in (a, b, c)])
    assert results == [2, 2, 2]
    assert fallbacks() == rolled_back + 1
    assert calls[:2] == sorted([a, b])  # the group ran its members in account order to b's
    assert sorted(calls[2:]) == sorted([a, b, c])  # then each alone
    assert sorted(went_alone[:3]) == sorted([a, b, c])
    for acct, items in queued.items():
        await booked_once(h, items)
        await assert_fold(h, acct)
        events = await events_of(h, acct)
        assert events.count("command_completed") == len(items)
        assert events.count("deal_created") == len(items)


async def test_a_member_whose_write_ahead_keeps_failing_goes_the_classic_way(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member whose batch always fails: its group rolls back, the others are recorded alone,
    and the failing member's head runs the classic way (one command at a time, its attempts
    counted): its queue still drains, in order, each order placed once."""
    h = harness()
    queued = await ready(h, accounts=3, sends_each=2)
    a, b, c = list(queued)
    fail_in_body(monkeypatch, "write_ahead_in", b)
    group = GroupCommit(h.store)
    rolled_back = fallbacks()
    runtimes = [await h.runtime(x) for x in (a, b, c)]
    assert await batches(group, runtimes) == [2, 0, 2]
    assert fallbacks() == rolled_back + 1
    for acct in (a, c):
        await booked_once(h, queued[acct])
    for item in queued[b]:
        cmd = await h.command(item["command_id"])
        assert cmd["status"] == "queued", cmd
        assert not cmd["attempts"], cmd
    ran = 0
    while await step.run_next(runtimes[1], asyncio.Event(), group):
        ran += 1
    assert ran == 2  # one command at a time
    await booked_once(h, queued[b])
    finished = await times_of(h, queued[b], "finished_at")
    assert finished == sorted(finished)
    for acct in queued:
        await assert_fold(h, acct)


async def test_a_failed_record_of_one_member_leaves_only_its_orders_to_the_lookup(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A defect in one member's record (every time) rolls the record group back; the others
    are then recorded alone, and the failing member's placed orders keep `outcome_unknown`:
    its next steps look them up by client order id and book each once, never sending again."""
    h = harness()
    queued = await ready(h, accounts=3, sends_each=2)
    a, b, c = list(queued)
    places_together(monkeypatch, 3)
    fail_in_body(monkeypatch, "record_in", b)
    went_alone = runs_alone(monkeypatch)
    rolled_back = fallbacks()
    runtimes = [await h.runtime(x) for x in (a, b, c)]
    assert await batches(GroupCommit(h.store), runtimes) == [2, 2, 2]
    assert fallbacks() == rolled_back + 1  # the record's group (the write-ahead's committed)
    assert sorted(went_alone) == sorted([a, b, c])
    for acct in (a, c):
        await booked_once(h, queued[acct])
    for item in queued[b]:
        cmd = await h.command(item["command_id"])
        assert cmd["status"] == "running", cmd
        order = await h.order(item["order_id"])
        assert order["outcome_unknown"]
        assert await venue_orders(h, order["client_order_id"]) == 1
    monkeypatch.undo()
    await h.drain(b, housekeeping=False)
    await booked_once(h, queued[b], attempts=2)  # the batch's claim, then the lookup's
    for acct in queued:
        await assert_fold(h, acct)


# --- a cancelled leader ------------------------------------------------------------------------


async def test_a_leader_cancelled_while_gathering_leaves_no_member_waiting(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader is cancelled (process exit) while members wait for it to take them: every
    member gets its answer (run alone) and its batch is recorded on its own."""
    h = harness()
    queued = await ready(h, accounts=3, sends_each=1)
    went_alone = runs_alone(monkeypatch)
    group = GroupCommit(h.store)
    runtimes = [await h.runtime(a) for a in queued]
    tasks = [asyncio.create_task(sends.run_batch(rt, rt.settings.batch_size, group))
             for rt in runtimes]  # fmt: skip
    try:
        await asyncio.sleep(0)  # the members ask and wait; the first one starts the leader
        leader = group._leader
        assert leader is not None
        await asyncio.sleep(0)  # the leader's first step: it yields once for the others to join
        coro = leader.get_coro()
        assert inspect.iscoroutine(coro)
        assert inspect.getcoroutinestate(coro) == inspect.CORO_SUSPENDED
        assert len(group._waiting) == len(queued)  # nobody taken yet
        leader.cancel()
        await asyncio.gather(leader, return_exceptions=True)
        for _ in range(3):
            await asyncio.sleep(0)
        assert sorted(went_alone) == sorted(queued)  # nobody left waiting for an answer
        assert await asyncio.gather(*tasks) == [1, 1, 1]
    finally:
        await settle(tasks)
    for acct, items in queued.items():
        await booked_once(h, items)
        await assert_fold(h, acct)


async def test_a_leader_cancelled_inside_its_transaction_leaves_no_member_waiting(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader is cancelled (process exit) while it writes a group: its transaction rolls
    back, and every member of that group is cancelled as a crash would leave it (whether a
    group being committed committed is unknown, so none of them runs its stage again) instead
    of waiting for ever; the next holder's batches then book every send once."""
    h = harness()
    queued = await ready(h, accounts=3, sends_each=1)
    real = sends.write_ahead_in
    inside, never = asyncio.Event(), asyncio.Event()

    async def stuck_once(rec: Recorder, *args: Any) -> Outcome:
        if not inside.is_set():  # the group's first body: the leader is in its transaction
            inside.set()
            await never.wait()
        return await real(rec, *args)

    monkeypatch.setattr(sends, "write_ahead_in", stuck_once)
    went_alone = runs_alone(monkeypatch)
    group = GroupCommit(h.store)
    runtimes = [await h.runtime(a) for a in queued]
    tasks = [asyncio.create_task(sends.run_batch(rt, rt.settings.batch_size, group))
             for rt in runtimes]  # fmt: skip
    try:
        await inside.wait()
        leader = group._leader
        assert leader is not None
        leader.cancel()
        answers = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(a, asyncio.CancelledError) for a in answers), answers
        assert went_alone == []  # nobody ran its stage again
    finally:
        await settle(tasks)
    # the rolled-back group claimed nothing: the next holder's batches take every send
    after = [await sends.run_batch(rt, rt.settings.batch_size) for rt in runtimes]
    assert after == [1, 1, 1]
    for acct, items in queued.items():
        await booked_once(h, items)
        await assert_fold(h, acct)
