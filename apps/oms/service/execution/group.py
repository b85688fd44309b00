"""Group commit: the record transactions of a worker's accounts that are ready at the same
moment, written in one transaction.

At a steady 100 commands/s over ten accounts each account's batch of sends holds one or two, so
a transaction's fixed cost (begin, lease hold, event numbering, commit) would be paid per
command, twice per send (its write-ahead and its record). Account tasks that have such a step
ready together share one transaction instead:

- A task asks `GroupCommit.run(rt, body)`, where `body` is its step's work inside a record
  transaction (`body(recorder)`, e.g. `sends.write_ahead_in`). Requests made while a group is
  being written wait for it and form the next group (no timer: the group grows with the load
  and costs no latency when the worker is quiet).
- A group holds every member's lease row in one statement (fencing stays per account: with
  the queue heads when its members asked for them, else sent with the bodies' first statement,
  `leases.hold_later`), runs
  each member's body in account order with a recorder of its own on the one connection, writes
  everyone's held rows, finishes and events together (`flush_all`), numbers the events once and
  commits once; then every member's after-commit hooks run.
- If anything fails (a lease lost, a defect in one body, a deadlock, the store gone), the whole
  transaction rolls back and every member runs its body alone in a transaction of its own,
  with its own error handling: an error costs one retry, and per-account order never changes
  (an account has at most one step in flight: its task awaits the answer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from apps.oms.clock import utcnow
from apps.oms.metrics import GROUP_FALLBACKS, GROUP_SIZE, SEND_STAGE
from apps.oms.service.execution.runtime import (
    AccountRuntime,
    Recorder,
    flush_all,
    number_events,
    numbering_read_at,
)
from apps.oms.store import direct, leases, queue
from apps.oms.store.boundary import Connection
from apps.oms.store.queue import Peeked
from apps.oms.store.store import Store

log = logging.getLogger("apps.worker")
Body = Callable[[Recorder], Awaitable[Any]]
#: what a group reads once for every member that asked it to peek at its queue, after the
#: queue heads (`run(load=)`): given the heads by account and a memo shared by the group,
#: answers what each account's body wants by account (found in its memo under `QUEUE_FRONT`)
Load = Callable[[Connection, dict[int, list[Peeked]], dict[Any, Any]], Awaitable[dict[int, Any]]]
#: the recorder memo's key of the queue head a member asked the group to read (`run(peek=)`)
QUEUE_HEAD = "group.queue_head"
#: the recorder memo's key of what the group's `load` answered for the member's account
QUEUE_FRONT = "group.queue_front"


class _Alone:
    """The member's answer when its group did not commit: run the body alone."""


ALONE = _Alone()


@dataclass(slots=True)
class _Member:
    rt: AccountRuntime
    body: Body
    answer: asyncio.Future[Any]
    asked: float = field(default_factory=time.perf_counter)
    result: Any = field(default=None)
    peek: int | None = None  # read this many of the queue's head with the lease rows
    load: Load | None = None  # then read this for every such member at once


async def alone(rt: AccountRuntime, body: Body) -> Any:
    """`body` in a record transaction of the account's own."""
    async with rt.record() as rec:
        return await body(rec)


class GroupCommit:
    """One per worker process (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._waiting: list[_Member] = []
        self._writing: list[_Member] = []  # the group being written
        self._leader: asyncio.Task[None] | None = None

    async def run(
        self, rt: AccountRuntime, body: Body, peek: int | None = None, load: Load | None = None
    ) -> Any:
        """`body`'s answer, its writes committed together with the other ready accounts'.
        `peek`: the group's first round trip also reads this many of the account's oldest
        unfinished commands, for `body` to find in its recorder's memo (`QUEUE_HEAD`; absent
        when the body runs alone). `load`: then what the bodies read next from those heads
        (the sends' orders, locked), read once for every member that gave the same `load`
        (`QUEUE_FRONT`): one round trip for the group instead of one per member."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Member(rt, body, answer, peek=peek, load=load))
        if self._leader is None or self._leader.done():
            self._leader = asyncio.create_task(self._lead(), name="group-commit")
            self._leader.add_done_callback(self._leader_done)
        result = await answer
        if isinstance(result, _Alone):
            return await alone(rt, body)
        return result

    async def _lead(self) -> None:
        """Write groups until nobody waits; requests made meanwhile form the next group."""
        while self._waiting:
            await asyncio.sleep(0)  # account tasks woken together join the same group
            self._writing, self._waiting = self._waiting, []
            await self._group([m for m in self._writing if not m.answer.done()])
            self._writing = []

    def _leader_done(self, task: asyncio.Task[None]) -> None:
        """Nobody is left waiting when the leader ends, however it ends (cancelled at process
        exit, before its first step too). A member not yet taken runs alone. A member of the
        group being written is cancelled, as a crash there would leave it: whether that
        group's commit happened is unknown, and what follows a crash (outcome-unknown orders
        looked up by client order id) is safe either way, where running the record again
        would not be."""
        if task is not self._leader:  # it ended its work and a new leader took the next group
            return
        writing, self._writing = self._writing, []
        waiting, self._waiting = self._waiting, []
        for member in writing:
            if not member.answer.done():
                member.answer.cancel()
        for member in waiting:
            _answer(member, ALONE)

    async def _group(self, members: list[_Member]) -> None:
        if not members:
            return
        GROUP_SIZE.observe(len(members))
        started = time.perf_counter()
        waited = SEND_STAGE.labels("group_wait")
        for member in members:
            waited.observe(started - member.asked)
        try:
            await self._record(sorted(members, key=lambda m: m.rt.account_id))
            SEND_STAGE.labels("group_tx").observe(time.perf_counter() - started)
        except Exception as exc:  # rolled back: each member runs alone
            GROUP_FALLBACKS.inc()
            log.info("group commit of %d accounts rolled back (%s: %s); each runs alone",
                     len(members), type(exc).__name__, exc)  # fmt: skip
            for member in members:
                _answer(member, ALONE)
            return
        for member in members:
            _answer(member, member.result)

    async def _record(self, members: list[_Member]) -> None:
        """One transaction: every lease row held in one statement (with the queue heads the
        members asked for, in the same round trip, and then their fronts' orders; else with the
        bodies' first statement), each member's body on its own recorder,
        everyone's writes and events flushed together, one numbering, one commit."""
        async with self.store.transaction() as conn:
            held = [m.rt.lease for m in members]
            owner = members[0].rt.owner
            limits = {m.rt.account_id: m.peek for m in members if m.peek is not None}
            heads: dict[int, list[Peeked]] = {}
            if limits:  # the lease rows and the queue heads, in one round trip
                found = await direct.fetch_each(conn, [
                    leases.hold_all_read(held, owner=owner, now=utcnow()),
                    queue.peek_read(conn, limits)])  # fmt: skip
                leases.held_or_lost(held, found[0])
                heads = queue.peeked(limits, found[1])
            else:  # the lease rows locked with the bodies' first statement
                await leases.hold_later(conn, held, owner=owner, now=utcnow())
            now = utcnow()  # one instant for all, after the lease rows were locked
            recorders = [Recorder(conn, m.rt, now) for m in members]
            fronts = await _load_fronts(conn, members, heads)
            for recorder in recorders:
                account_id = recorder.rt.account_id
                if account_id in heads:
                    recorder.memo[QUEUE_HEAD] = heads[account_id]
                if account_id in fronts:
                    front, shared = fronts[account_id]
                    recorder.memo[QUEUE_FRONT] = front
                    recorder.memo.update(shared)
            for member, recorder in zip(members, recorders, strict=True):
                member.result = await member.body(recorder)
            events = await flush_all(recorders)
            read_at = numbering_read_at(len(events))
            numbered = await number_events(conn, events, now)
        for recorder in recorders:
            recorder.committed()
        members[0].rt.on_numbered(numbered, read_at)


async def _load_fronts(
    conn: Connection, members: list[_Member], heads: dict[int, list[Peeked]]
) -> dict[int, tuple[Any, dict[Any, Any]]]:
    """Each `load` of the members that peeked, once for all of them: by account, what it
    answered and the memo it shared."""
    loads: dict[Load, list[int]] = {}
    for m in members:
        if m.load is not None and m.rt.account_id in heads:
            loads.setdefault(m.load, []).append(m.rt.account_id)
    fronts: dict[int, tuple[Any, dict[Any, Any]]] = {}
    for load, account_ids in loads.items():
        shared: dict[Any, Any] = {}
        found = await load(conn, {a: heads[a] for a in account_ids}, shared)
        fronts.update({a: (found[a], shared) for a in account_ids if a in found})
    return fronts


def _answer(member: _Member, result: Any) -> None:
    if not member.answer.done():
        member.answer.set_result(result)
