"""Group commit: the joined batches of a worker's paper accounts, recorded in one transaction.

At a steady 100 commands/s over ten accounts each account's batch holds one or two commands,
so a batch's fixed cost (begin, lease hold, peek, order locks, claim, outbox flush, commit) is
paid per command (docs/benchmarks-history.md -> Fifth round). Here the account tasks that have a batch
ready at the same moment share one transaction:

- An account task asks `GroupCommit.run_batch` instead of running its batch itself. Requests
  made while a group is being recorded wait for it and form the next group (no timer: the
  group grows with the load and costs no latency when the worker is quiet).
- A group of several accounts is loaded, decided and written once, in account order, on one
  connection: every lease row locked and checked in one statement (fencing stays per account),
  every queue head, the orders of its leading sends and the re-check's account state and
  limits read in one statement each (two round trips: `direct.fetch_each`), every account's
  sends claimed in one (held: `direct.later`, sent with the venue's reads); then each
  account's sends are placed as in a solo batch (`joined.place_joined`) with its own recorder,
  on the venues joined once (the worker's paper venues share one store: one price snapshot,
  one client-id read, one insert of new paper orders and one of fills), the same instant
  (`now`) for all. The recorders are flushed together (everyone's events, venue orders, raw
  payloads, order updates and finishes in one statement each), the transaction commits once,
  then every account's after-commit hooks run.
- If anything in the group fails (one account's lease lost, a venue error, a deadlock, the
  store gone), the whole transaction rolls back and every member runs its batch alone, on the
  solo path with its error handling (`joined.run_batch`: bisection, attempt counting, fencing
  errors raised in that account's own task). An error costs one retry; per-account order never
  changes, because an account has at most one batch in flight (its task awaits the answer).
- A group of one is recorded by the leader too: while it is, the requests of other accounts
  gather for the next group (that is what makes groups form at all). An account whose last
  batch was large (`ALONE_FROM` commands or more) runs
  its next batch alone too: its fixed cost is already shared by many commands, and separate
  transactions let the worker's Python run while the database works on another account's.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from apps.oms.clock import utcnow
from apps.oms.metrics import GROUP_FALLBACKS, GROUP_SIZE
from apps.oms.ports import JoinableVenuePort
from apps.oms.service.execution import joined
from apps.oms.service.execution.runtime import (
    AccountRuntime,
    Recorder,
    flush_all,
    number_events,
    numbering_read_at,
)
from apps.oms.store import direct, leases, queue
from apps.oms.store.store import Store

log = logging.getLogger("apps.worker")


#: an account whose last batch held this many commands or more runs its next one alone: a
#: group's gain is the fixed cost of small batches, while separate transactions of large
#: batches overlap the worker's Python with the database's work (P1 measured slower grouped)
ALONE_FROM = 8


class _Alone:
    """The member's answer when its group did not commit: run the batch alone."""


ALONE = _Alone()


@dataclass(slots=True)
class _Member:
    rt: AccountRuntime
    venue: JoinableVenuePort
    limit: int
    answer: asyncio.Future[int | _Alone | None]
    result: int | None = None


class GroupCommit:
    """One per worker process (see the module docstring)."""

    def __init__(self, store: Store, alone_from: int = ALONE_FROM) -> None:
        self.store = store
        self.alone_from = alone_from
        self._waiting: list[_Member] = []
        self._leader: asyncio.Task[None] | None = None
        self._last: dict[int, int] = {}  # commands in each account's last batch

    async def run_batch(
        self, rt: AccountRuntime, venue: JoinableVenuePort, limit: int
    ) -> int | None:
        """As `joined.run_batch`, recorded together with the other accounts' ready batches;
        an account whose last batch was large runs alone (its fixed cost is already shared)."""
        if self._last.get(rt.account_id, 0) >= self.alone_from:
            return self._note(rt, await joined.run_batch(rt, venue, limit))
        answer: asyncio.Future[int | _Alone | None] = asyncio.get_running_loop().create_future()
        # a grouped batch is small: a deep queue goes alone from its next batch on, and one
        # group's all-or-nothing transaction stays bounded (accounts x ALONE_FROM commands)
        self._waiting.append(_Member(rt, venue, min(limit, self.alone_from), answer))
        if self._leader is None or self._leader.done():
            self._leader = asyncio.create_task(self._lead(), name="group-commit")
        result = await answer
        if isinstance(result, _Alone):
            result = await joined.run_batch(rt, venue, limit)
        return self._note(rt, result)

    def _note(self, rt: AccountRuntime, result: int | None) -> int | None:
        self._last[rt.account_id] = result or 0
        return result

    async def _lead(self) -> None:
        """Record groups until nobody waits; requests made meanwhile form the next group."""
        try:
            while self._waiting:
                await asyncio.sleep(0)  # account tasks woken together join the same group
                members, self._waiting = self._waiting, []
                await self._group(members)
        finally:  # cancelled (process exit): nobody is left waiting for an answer
            members, self._waiting = self._waiting, []
            for member in members:
                _answer(member, ALONE)

    async def _group(self, members: list[_Member]) -> None:
        try:
            await self._commit([m for m in members if not m.answer.done()])
        finally:
            for member in members:  # a no-op for the answered; ALONE if cancelled meanwhile
                _answer(member, ALONE)

    async def _commit(self, members: list[_Member]) -> None:
        if not members:
            return
        GROUP_SIZE.observe(len(members))
        try:
            await self._record(sorted(members, key=lambda m: m.rt.account_id))
        except Exception as exc:  # rolled back: each member runs its batch alone
            GROUP_FALLBACKS.inc()
            log.info(
                "group commit of %d accounts rolled back (%s: %s); each runs alone",
                len(members),
                type(exc).__name__,
                exc,
            )
            for member in members:
                _answer(member, ALONE)
            return
        for member in members:
            _answer(member, member.result)

    async def _record(self, members: list[_Member]) -> None:
        """One transaction: load every account's batch at once (lease rows, queue heads, orders,
        risk state: one statement each), claim every account's sends in one statement, place
        each account's in account order, write everyone's events in one insert, commit once."""
        async with self.store.transaction() as conn:
            held = [m.rt.lease for m in members]
            limits = {m.rt.account_id: m.limit for m in members}
            # one round trip: every lease row locked (fencing), then every queue's head
            rows, heads = await direct.fetch_each(conn, [
                leases.hold_all_read(held, owner=members[0].rt.owner, now=utcnow()),
                queue.peek_read(conn, limits)])  # fmt: skip
            leases.held_or_lost(held, rows)
            memo: dict[Any, Any] = {}  # what each send's re-check reads, for all at once
            # one round trip: the fronts' orders locked, and the accounts' re-check state
            loaded = await joined.load_fronts(conn, queue.peeked(limits, heads), memo)
            now = utcnow()  # one instant for all, after the queue read (never before acceptance)
            sends = {m.rt.account_id: loaded[m.rt.account_id].sends() for m in members}
            for member in members:
                chosen = sends[member.rt.account_id]
                member.result = chosen if chosen is None else len(chosen)
            claimed = await queue.claim_many(
                conn, {m.rt.account_id: (sends[m.rt.account_id] or [], m.rt.lease.epoch)
                       for m in members}, now)  # fmt: skip
            recorders = [Recorder(conn, m.rt, now, memo=memo) for m in members]
            with ExitStack() as venues:
                # every account's venue joined to this transaction; the paper venues of a
                # worker share one store, hence one join: one price snapshot, one flush
                joins = {m.rt.account_id: venues.enter_context(m.venue.join(conn))
                         for m in members if claimed.get(m.rt.account_id)}  # fmt: skip
                distinct = list({id(j): j for j in joins.values()}.values())
                for shared in distinct:
                    mine = [a for a, j in joins.items() if j is shared]
                    await shared.prepare(
                        mine, {a: joined.client_ids(claimed[a], loaded[a].orders) for a in mine},
                        sorted({str(c.payload["symbol"]) for a in mine for c in claimed[a]
                                if isinstance(c.payload.get("symbol"), str)}))  # fmt: skip
                for member, recorder in zip(members, recorders, strict=True):
                    account_id = member.rt.account_id
                    if account_id in joins:
                        await joined.place_joined(recorder, member.venue, claimed[account_id],
                                                  loaded[account_id].orders, joined.Progress())
                for shared in distinct:
                    await shared.flush()
            events = await flush_all(recorders)
            read_at = numbering_read_at(len(events))
            numbered = await number_events(conn, events, now)
        for recorder in recorders:
            recorder.committed()
        members[0].rt.on_numbered(numbered, read_at)
        for shared in distinct:
            shared.publish()


def _answer(member: _Member, result: int | _Alone | None) -> None:
    if not member.answer.done():
        member.answer.set_result(result)
