"""The account's queued sends, the same way for every venue: write ahead, place, record.

1. **Write ahead** (one transaction under the lease): the sends at the front of the account's
   queue (up to `worker.batch_size`, stopping at the first other command and at a send whose
   order's outcome is already unknown) are claimed, re-checked, and those that may go get their
   venue-order row and the `outcome_unknown` flag. Once this commits, a crash anywhere later
   is resolved by looking the orders up on the venue by client order id, never by sending again.
2. **Place** (no transaction open): the orders go to the venue through the port, in queue order,
   all in one call where the venue takes a batch (`BatchVenuePort.place_orders`), each with the
   venue timeout.
3. **Record** (one transaction under the lease): each answer is booked (`adopt`), each refusal
   rejects its order, and the commands finish. An order whose answer did not come (a timeout, a
   network error, a failed record) keeps `outcome_unknown` and its command stays `running`: the
   next step takes it the classic way (`send.resolve_unknown`, a lookup by client order id).

Three transactions per batch however many sends it holds, and one venue call where the venue
takes batches: the cost per send falls with the batch, whatever the venue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from itertools import takewhile
from typing import Any

from apps.oms.domain.closing import venue_position_side
from apps.oms.domain.enums import OrderStatus, Side
from apps.oms.domain.errors import DomainError
from apps.oms.domain.good_till_date import is_due
from apps.oms.domain.orders import mark_outcome_unknown
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.metrics import SEND_STAGE
from apps.oms.ports import NewOrder, SendWindowPassed, Structure, place_orders, send_deadline
from apps.oms.service.execution import dispatch, venue_oco
from apps.oms.service.execution.group import QUEUE_FRONT, QUEUE_HEAD, GroupCommit, alone
from apps.oms.service.execution.held import is_held
from apps.oms.service.execution.order_state import state_of, write_order
from apps.oms.service.execution.recheck import recheck, recheck_state, remember
from apps.oms.service.execution.results import adopt, finish, reject
from apps.oms.service.execution.runtime import AccountRuntime, Recorder, epoch_ms
from apps.oms.service.execution.send import (
    NOT_SENT,
    UNKNOWN,
    expire_unsent,
    risk_reject,
    venue_code,
    venue_params,
)
from apps.oms.service.risk_snapshot import reads_counters
from apps.oms.store import direct, leases, order_records, queue
from apps.oms.store import risk as risk_store
from apps.oms.store.boundary import Connection, OperationalError
from apps.oms.store.order_rows import OrderRow
from apps.oms.store.queue import Claimed, Peeked

log = logging.getLogger("apps.worker")
SENDS = frozenset({"send_order", "close_position"})
TRANSIENT_PAUSE = 0.05  # after a store error (deadlock, lock wait) before the batch is retried


@dataclass(slots=True)
class Loaded:
    """What a batch starts from: the account's oldest unfinished commands and their orders'
    rows, locked (read for several accounts at once by a group commit: `load`)."""

    peeked: list[Peeked]
    orders: dict[int, OrderRow]

    def sends(self) -> list[Peeked] | None:
        """The commands this path runs now: the sends at the front of the queue whose orders
        have no unknown outcome. None when the queue is empty; [] when its head is not one."""
        if not self.peeked:
            return None
        return list(takewhile(self._runnable, takewhile(_is_send, self.peeked)))

    def _runnable(self, row: Peeked) -> bool:
        order_id = row["order_id"]
        order = None if order_id is None else self.orders.get(order_id)
        if order is None or not _known(order):
            return False
        if venue_oco.asks_venue_oco(row["payload"] or {}):  # both legs in one request, alone
            return False
        # acceptance cancels a queued send together with its order (`cancel_queued`); one it
        # cancelled after the queue was read shows in the order row, locked after that read:
        # the batch stops before it (the next read of the queue no longer lists it)
        return not (row["status"] == "queued" and order["status"] != OrderStatus.PENDING_SUBMIT)


async def load(conn: Connection, limits: dict[int, int]) -> dict[int, Loaded]:
    """The batches' starting points of several accounts in two statements: the queues' heads,
    then the orders of the sends at their fronts, locked."""
    return await load_fronts(conn, await queue.peek_batches(conn, limits))


async def load_fronts(
    conn: Connection, peeked: dict[int, list[Peeked]], memo: dict[Any, Any] | None = None
) -> dict[int, Loaded]:
    """The orders of the sends at the queues' fronts (`peeked`), locked; with `memo` (a
    group commit), in the same round trip the re-check state of every account whose queue
    starts with a send (`recheck.preload`)."""
    wanted = [order_id for rows in peeked.values() for r in takewhile(_is_send, rows)
              if (order_id := r["order_id"]) is not None]  # fmt: skip
    starting = sorted(a for a, rows in peeked.items() if rows and _is_send(rows[0]))
    if memo is None or not wanted:
        rows = await order_records.lock_orders(conn, wanted)
    else:
        locked, states = await direct.fetch_each(conn, [
            order_records.lock_orders_read(wanted), risk_store.recheck_read(starting)])  # fmt: skip
        rows = order_records.by_id(locked)
        remember(memo, risk_store.recheck_states_of(starting, states))
    return {account_id: Loaded(heads, rows) for account_id, heads in peeked.items()}


def _is_send(row: Peeked) -> bool:
    return row["command_type"] in SENDS and row["order_id"] is not None


def _known(order: OrderRow | None) -> bool:
    """An order whose placement outcome is unknown (an earlier write-ahead attempt) is resolved
    by lookup on the classic path; a missing order row fails there too; an order the gateway
    holds is armed there (`send._prepare`), never sent."""
    return order is not None and not order["outcome_unknown"] and not is_held(order)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A send written ahead: its claimed command and its order row as written."""

    cmd: Claimed
    row: OrderRow
    not_after_ms: int  # its send deadline (`ports.send_deadline`)
    position_side: str | None = None  # a hedge account's venue position side


async def run_batch(
    rt: AccountRuntime, limit: int, group: GroupCommit | None = None
) -> int | None:
    """Run up to `limit` sends at the front of the account's queue. Returns how many were
    taken: 0 when the oldest unfinished command is not one for this path (the caller runs it
    the classic way), None when the account has no unfinished command. With a `group`, the
    write-ahead and the record transactions are shared with the worker's other ready
    accounts."""

    async def ahead(rec: Recorder) -> int | tuple[int, list[Prepared]] | None:
        # the queue's head and its sends' orders, read by the group for all its members
        # (absent when run alone)
        return await write_ahead_in(rec, limit, rec.memo.pop(QUEUE_HEAD, None),
                                    rec.memo.pop(QUEUE_FRONT, None))  # fmt: skip

    taken: int | tuple[int, list[Prepared]] | None
    started = time.perf_counter()
    try:
        taken = await (group.run(rt, ahead, peek=limit, load=load_fronts) if group is not None
                       else write_ahead(rt, limit))  # fmt: skip
    except (leases.LeaseLost, queue.Fenced):
        raise
    except OperationalError as exc:  # deadlock, lock wait, lost connection: nothing claimed
        log.warning("write-ahead rolled back (%s); retrying", exc)
        await asyncio.sleep(TRANSIENT_PAUSE)
        return 1
    except Exception:
        # an error of one of the batch's sends: the head goes the classic way, which counts
        # its attempts (the cap holds) and gives it up past them
        log.exception("write-ahead of a batch failed; the head runs alone")
        return 0
    if taken is None or isinstance(taken, int):
        return taken
    count, prepared = taken
    placing = time.perf_counter()
    SEND_STAGE.labels("write_ahead").observe(placing - started)
    if prepared:
        answers = await place(rt, prepared)
        recording = time.perf_counter()
        SEND_STAGE.labels("place").observe(recording - placing)

        async def book(rec: Recorder) -> None:
            await record_in(rec, prepared, answers)

        try:
            await (group.run(rt, book) if group is not None else alone(rt, book))
        except (leases.LeaseLost, queue.Fenced):
            raise
        except Exception:
            # nothing recorded: the orders keep `outcome_unknown` and are looked up by client
            # order id in the next steps (what a crash here would leave too)
            log.exception("recording a batch failed; its orders will be looked up")
        SEND_STAGE.labels("record").observe(time.perf_counter() - recording)
    return count


async def write_ahead(rt: AccountRuntime, limit: int) -> int | tuple[int, list[Prepared]] | None:
    """`write_ahead_in` in a record transaction of the account's own, whose first round trip
    holds the lease row and reads the queue's head."""
    async with rt.record(held=True) as rec:
        limits = {rt.account_id: limit}
        rows, heads = await direct.fetch_each(rec.conn, [
            leases.hold_all_read([rt.lease], owner=rt.owner, now=rec.now),
            queue.peek_read(rec.conn, limits)])  # fmt: skip
        leases.held_or_lost([rt.lease], rows)
        return await write_ahead_in(rec, limit, queue.peeked(limits, heads)[rt.account_id])


async def write_ahead_in(
    rec: Recorder, limit: int, peeked: list[Peeked] | None = None, loaded: Loaded | None = None
) -> int | tuple[int, list[Prepared]] | None:
    """The write-ahead, in a record transaction whose lease row `rec` holds: claim the front
    sends, re-check them, finish those that may not go, and write ahead the others. Returns how
    many were claimed and the prepared sends, or what `run_batch` returns when there is
    nothing for this path. `peeked`: the queue's head, when the caller read it already;
    `loaded`: its sends' orders too (a group read both for all its members)."""
    rt = rec.rt
    if loaded is None:
        if peeked is None:
            peeked = (await queue.peek_batches(rec.conn, {rt.account_id: limit}))[rt.account_id]
        # the fronts' orders locked and the account's re-check state, in one round trip
        loaded = (await load_fronts(rec.conn, {rt.account_id: peeked}, rec.memo))[rt.account_id]
    sends = loaded.sends()
    if not sends:
        return sends if sends is None else 0
    sends = await _independent(rec, sends, loaded.orders)
    cmds = await queue.claim_rows(rec.conn, rt.account_id, sends, rt.lease.epoch, rec.now)
    prepared = [p for cmd in cmds
                if (p := await _prepare(rec, cmd, loaded.orders)) is not None]  # fmt: skip
    return len(cmds), prepared


async def _independent(
    rec: Recorder, sends: list[Peeked], orders: dict[int, OrderRow]
) -> list[Peeked]:
    """The sends whose re-checks need none of the others' outcomes: all of them, unless risk
    limits count open orders, positions or the day's loss for them (`reads_counters`). Such a
    send is re-checked after the sends before it were placed and booked, as it would be alone:
    the batch stops before it, and it leads the next one."""
    limits = (await recheck_state(rec)).limits
    if not limits:
        return sends
    taken = sends[:1]
    for row in sends[1:]:
        order_id = row["order_id"]
        assert order_id is not None  # noqa: S101 - `Loaded.sends` took sends with an order
        if reads_counters(limits, int(orders[order_id]["strategy_id"])):
            break
        taken.append(row)
    return taken


async def _prepare(rec: Recorder, cmd: Claimed, orders: dict[int, OrderRow]) -> Prepared | None:
    assert cmd.order_id is not None  # noqa: S101 - `Loaded.sends` took sends with an order
    row = orders[cmd.order_id]
    if cmd.attempts > dispatch.MAX_ATTEMPTS:  # never placed (its outcome is known): give up
        # with the venue's own failure when the attempts failed on an unreachable venue
        code, message = rec.rt.venue_failures.pop(cmd.command_id, ("internal_error", None))
        await dispatch.give_up_in(rec, cmd, code, message)
        return None
    if row["status"] != OrderStatus.PENDING_SUBMIT:
        await finish(rec, cmd, order=row)
        return None
    if is_due(row["time_in_force"], row["expire_at"], rec.now):
        await expire_unsent(rec, cmd, row)
        return None
    try:
        target = await recheck(rec, row)
    except DomainError as exc:
        await risk_reject(rec, cmd, row, exc)
        return None
    rec.rows.hold_venue_order(int(row["id"]), row["client_order_id"], None)
    deadline = send_deadline(epoch_ms(rec.now), rec.rt.settings.unknown_outcome_window_seconds)
    side = venue_position_side(rec.rt.account.position_mode, Side(row["side"]), target)
    rec.rt.expires_at(row["expire_at"])
    return Prepared(cmd, await write_order(rec, row, mark_outcome_unknown(state_of(row))),
                    deadline, side)  # fmt: skip


async def place(
    rt: AccountRuntime, prepared: list[Prepared]
) -> list[Structure | BaseException]:
    """The venue's answer to each prepared send, in order (no transaction is open)."""
    orders = [
        NewOrder(p.row["symbol"], p.row["order_type"], p.row["side"], Decimal(p.row["qty"]),
                 p.row["price"], venue_params(p.row, p.position_side), p.not_after_ms)
        for p in prepared
    ]  # fmt: skip
    return await place_orders(rt.venue, orders, rt.settings.venue_timeout_seconds)


async def record(
    rt: AccountRuntime, prepared: list[Prepared], answers: list[Structure | BaseException]
) -> None:
    """`record_in` in a record transaction of the account's own."""
    async with rt.record() as rec:
        await record_in(rec, prepared, answers)


async def record_in(
    rec: Recorder, prepared: list[Prepared], answers: list[Structure | BaseException]
) -> None:
    """The record: book each answer, reject each refusal, finish the commands; an unknown
    outcome stays for the lookup."""
    for p, answer in zip(prepared, answers, strict=True):
        if isinstance(answer, SendWindowPassed):  # certainly never placed: only we send it
            row = await reject(rec, p.row, "venue_unavailable", NOT_SENT)
            await finish(rec, p.cmd, order=row, error_code="venue_unavailable",
                         error_message=NOT_SENT)  # fmt: skip
            continue
        if isinstance(answer, UNKNOWN):
            continue
        if isinstance(answer, ccxt.BaseError):
            code = venue_code(answer)
            row = await reject(rec, p.row, code, str(answer))
            await finish(rec, p.cmd, order=row, error_code=code, error_message=str(answer))
        elif isinstance(answer, BaseException):
            continue  # not a venue answer: looked up by client order id, never re-sent
        else:
            row = await adopt(rec, p.row, answer, placed=True)
            await finish(rec, p.cmd, order=row)
