"""Paper accounts in one transaction: the account's queued sends, claimed, re-checked, placed on
the joined paper venue, booked and finished in the record transaction that holds the lease.

The paper venue's state lives in the OMS store, so placing, matching and booking can commit
together: no write-ahead, no separate venue transaction, and no unknown outcome (the order is on
the venue exactly when the command's record committed). The venue port stays the same: the
same CCXT call (`create_order` with our client order id) on the same adapter, whose store
writes go through the worker's connection while joined (`JoinableVenuePort`).

A batch takes the account's oldest unfinished commands, in acceptance order, up to a bound,
while they are sends whose orders have no unknown outcome; anything else ends the batch and
goes the classic path (claim -> execute) in the next step, so per-account order holds. An
error rolls the whole batch back (nothing of it reached the venue, because the venue is the
same transaction); the commands before the failing one are then recorded alone, and a command
that fails on its own counts an attempt in a transaction of its own (the attempt cap holds),
except for a store error (`OperationalError`: deadlock, lock wait, lost connection), which
claimed nothing and is retried without counting.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal
from itertools import takewhile
from typing import Any

from apps.oms.domain.enums import OrderStatus
from apps.oms.domain.errors import DomainError
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.ports import JoinableVenuePort
from apps.oms.service.execution import dispatch
from apps.oms.service.execution.recheck import recheck, remember
from apps.oms.service.execution.results import adopt, finish, reject
from apps.oms.service.execution.runtime import AccountRuntime, Recorder
from apps.oms.service.execution.send import risk_reject, venue_code, venue_params
from apps.oms.store import direct, leases, order_records, queue
from apps.oms.store import risk as risk_store
from apps.oms.store.boundary import Connection, OperationalError
from apps.oms.store.order_rows import OrderRow
from apps.oms.store.queue import Claimed, Peeked

log = logging.getLogger("apps.worker")
SENDS = frozenset({"send_order", "close_position"})
TRANSIENT_PAUSE = 0.05  # after a store error (deadlock, lock wait) before the batch is retried


class _Failed(Exception):
    """An error inside the batch; `index` = commands of the batch before the failing one."""

    def __init__(self, index: int, size: int) -> None:
        super().__init__(f"command {index + 1} of {size}")
        self.index, self.size = index, size


async def run_batch(rt: AccountRuntime, venue: JoinableVenuePort, limit: int) -> int | None:
    """Record up to `limit` sends of the account in one transaction. Returns how many were
    recorded: 0 when the oldest unfinished command is not one for this path (the caller runs
    it the classic way), None when the account has no unfinished command."""
    while True:
        try:
            return await _batch(rt, venue, limit)
        except (leases.LeaseLost, queue.Fenced):
            raise
        except _Failed as failed:
            cause = failed.__cause__
            if 0 < failed.index < failed.size:  # the commands before the failing one, alone
                limit = failed.index
            elif failed.size > 1:  # failed at the end (flush, commit): halve to find the culprit
                limit = failed.size // 2
            elif isinstance(cause, OperationalError):
                # deadlock, lock wait, lost connection: the transaction rolled back and nothing
                # was claimed; retry without counting an attempt (a dead store fails the next
                # transaction and ends the task)
                log.warning("batch rolled back (%s); retrying", cause)
                await asyncio.sleep(TRANSIENT_PAUSE)
                return 1
            else:
                log.error("command failed in its own batch; will retry", exc_info=cause)
                await _count_attempt(rt)
                return 1


@dataclass(slots=True)
class Progress:
    """How far a batch got: `size` commands claimed, `index` of them recorded so far."""

    index: int = 0
    size: int = 0


async def _batch(rt: AccountRuntime, venue: JoinableVenuePort, limit: int) -> int | None:
    progress = Progress()
    try:
        async with rt.record() as rec:
            return await batch_in(rec, venue, limit, progress)
    except (leases.LeaseLost, queue.Fenced):
        raise
    except Exception as exc:
        if progress.size == 0:
            raise
        raise _Failed(progress.index, progress.size) from exc


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


async def batch_in(
    rec: Recorder, venue: JoinableVenuePort, limit: int, progress: Progress | None = None
) -> int | None:
    """The body of a solo batch inside its record transaction, whose lease row `rec` holds:
    load, claim, place and finish. Returns as `run_batch`; the caller flushes `rec`, commits,
    and then calls `rec.committed()`. (A group commit runs the same steps for all its accounts
    at once: `group.py`.)"""
    progress = progress or Progress()
    rt = rec.rt
    loaded = (await load(rec.conn, {rt.account_id: limit}))[rt.account_id]
    sends = loaded.sends()
    if not sends:
        return sends if sends is None else 0
    progress.size = len(sends)
    cmds = await queue.claim_rows(rec.conn, rt.account_id, sends, rt.lease.epoch, rec.now)
    with venue.join(rec.conn) as joined:
        rec.before_commit.append(joined.flush)
        rec.after_commit.append(joined.publish)
        await joined.expect_client_ids(rt.account_id, client_ids(cmds, loaded.orders))
        await place_joined(rec, venue, cmds, loaded.orders, progress)
    return progress.size


async def place_joined(
    rec: Recorder,
    venue: JoinableVenuePort,
    cmds: list[Claimed],
    orders: dict[int, OrderRow],
    progress: Progress,
) -> None:
    """Place and record the claimed sends of one account (`orders`: their rows, locked) in
    order on its venue, which the caller has joined to `rec`'s transaction (and flushes);
    `progress.index` counts those done."""
    for cmd in cmds:
        assert cmd.order_id is not None  # noqa: S101 - `_is_send` checked it
        if cmd.attempts > dispatch.MAX_ATTEMPTS:  # never placed: give it up
            await dispatch.give_up_in(rec, cmd, "internal_error")
        else:
            await send_joined(rec, cmd, orders[cmd.order_id], venue)
        progress.index += 1


def client_ids(cmds: list[Claimed], orders: dict[int, OrderRow]) -> list[str]:
    """The client order ids the claimed sends will place with."""
    return [orders[c.order_id]["client_order_id"] for c in cmds if c.order_id]


def _is_send(row: Peeked) -> bool:
    return row["command_type"] in SENDS and row["order_id"] is not None


def _known(order: OrderRow | None) -> bool:
    """An order whose placement outcome is unknown (an earlier write-ahead attempt) is resolved
    by lookup on the classic path; a missing order row fails there too."""
    return order is not None and not order["outcome_unknown"]


async def send_joined(
    rec: Recorder, cmd: Claimed, row: OrderRow, venue: JoinableVenuePort
) -> None:
    """One send inside the joined transaction: re-check, place, adopt, finish."""
    if row["status"] != OrderStatus.PENDING_SUBMIT:
        await finish(rec, cmd, order=row)
        return
    try:
        await recheck(rec, row)
    except DomainError as exc:
        await risk_reject(rec, cmd, row, exc)
        return
    try:
        structure = await venue.create_order(
            row["symbol"], row["order_type"], row["side"], Decimal(row["qty"]), row["price"],
            venue_params(row),
        )  # fmt: skip
    except ccxt.NetworkError:
        raise  # never expected joined; the batch rolls back, nothing was placed
    except ccxt.BaseError as exc:
        code = venue_code(exc)
        row = await reject(rec, row, code, str(exc))
        await finish(rec, cmd, order=row, error_code=code, error_message=str(exc))
        return
    row = await adopt(rec, row, structure, placed=True)  # its venue-order row written with it
    await finish(rec, cmd, order=row)


async def _count_attempt(rt: AccountRuntime) -> None:
    """The head command failed alone: claim it in a transaction of its own (attempts + 1) and
    give it up past the attempt cap (its order never reached the venue: REJECTED)."""
    cmd = await dispatch.claim(rt)
    if cmd is None:
        return
    if cmd.attempts > dispatch.MAX_ATTEMPTS:
        await dispatch.give_up(rt, cmd, "internal_error")
        return
    await asyncio.sleep(min(5.0, 0.05 * 2**cmd.attempts))
