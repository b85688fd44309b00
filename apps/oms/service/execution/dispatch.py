"""Claim the next command of a held account and run the executor of its type."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from apps.oms.clock import utcnow
from apps.oms.domain.enums import OrderStatus
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.service.execution import venue_oco
from apps.oms.service.execution.cancel import execute_cancel, execute_cancel_all, execute_change
from apps.oms.service.execution.ccxt_call import execute_ccxt_call
from apps.oms.service.execution.funding import execute_funding
from apps.oms.service.execution.internal import execute_internal
from apps.oms.service.execution.reassign import execute_reassign
from apps.oms.service.execution.reconcile import execute_reconcile
from apps.oms.service.execution.results import finish, reject
from apps.oms.service.execution.runtime import AccountRuntime, Recorder
from apps.oms.service.execution.send import execute_send
from apps.oms.store import leases, order_records, queue
from apps.oms.store.queue import Claimed

log = logging.getLogger("apps.worker")
Executor = Callable[[AccountRuntime, Claimed, asyncio.Event], Awaitable[None]]
MAX_ATTEMPTS = 5



async def execute_send_order(rt: AccountRuntime, cmd: Claimed, stop: asyncio.Event) -> None:
    """A send; an OCO the venue holds places both its legs in one request."""
    if cmd.order_id is not None and venue_oco.asks_venue_oco(cmd.payload):
        await venue_oco.execute_send(rt, cmd, stop)
    else:
        await execute_send(rt, cmd, stop)


EXECUTORS: dict[str, Executor] = {
    "send_order": execute_send_order,
    "close_position": execute_send,
    "cancel_order": execute_cancel,
    "cancel_all_orders": execute_cancel_all,
    "change_order": execute_change,
    "close_by": execute_internal,
    "merge_positions": execute_internal,
    "position_change": execute_internal,
    "ccxt_call": execute_ccxt_call,  # /ccxt gateway trade and granted restricted functions
    "reconcile": execute_reconcile,  # POST /oms/reconcile and the schedule
    "reassign": execute_reassign,  # POST /oms/reassign (applied, not previewed)
    "funding": execute_funding,  # paper perpetual funding, enqueued by the price scheduler
}


async def claim(rt: AccountRuntime) -> Claimed | None:
    """Short transaction: hold the lease row, mark the oldest unfinished command running."""
    async with rt.store.transaction() as conn:
        now = utcnow()
        await leases.hold(conn, rt.lease, owner=rt.owner, now=now)
        return await queue.claim_next(conn, rt.account_id, rt.lease.epoch, now)


async def execute(rt: AccountRuntime, cmd: Claimed, stop: asyncio.Event) -> None:
    """Run one claimed command. Fencing errors propagate (the lease is gone); an unexpected
    error leaves the command running for a re-attempt, up to `MAX_ATTEMPTS`."""
    executor = EXECUTORS.get(cmd.command_type)
    if executor is None or (cmd.attempts > MAX_ATTEMPTS and not await _may_be_placed(rt, cmd)):
        code = "unsupported_command" if executor is None else "internal_error"
        code, message = rt.venue_failures.pop(cmd.command_id, (code, f"{cmd.command_type}: {code}"))
        await give_up(rt, cmd, code, message)
        return
    try:
        await executor(rt, cmd, stop)
        rt.venue_failures.pop(cmd.command_id, None)
    except (leases.LeaseLost, queue.Fenced):
        raise
    except Exception as exc:
        failure = venue_failure(exc)
        if failure is None:
            log.exception("command %s (%s) failed; will retry", cmd.command_id, cmd.command_type)
        else:  # the venue is unreachable: one line per attempt, no traceback
            rt.venue_failures[cmd.command_id] = failure
            log.warning("command %s (%s) attempt %s of %s: %s; will retry", cmd.command_id,
                        cmd.command_type, cmd.attempts, MAX_ATTEMPTS + 1, failure[1])
        await asyncio.sleep(min(5.0, 0.05 * 2**cmd.attempts))


async def give_up(rt: AccountRuntime, cmd: Claimed, code: str, message: str | None = None) -> None:
    """Fail the command with `code`; a send's order that never reached the venue ends
    REJECTED in the same transaction."""
    async with rt.record(cmd) as rec:
        await give_up_in(rec, cmd, code, message)


async def give_up_in(rec: Recorder, cmd: Claimed, code: str, message: str | None = None) -> None:
    """`give_up` inside an open record transaction."""
    message = message or f"{cmd.command_type}: {code}"
    await reject_unsent_order(rec, cmd, code, message)
    await finish(rec, cmd, error_code=code, error_message=message)


def venue_failure(exc: BaseException) -> tuple[str, str] | None:
    """`("venue_unavailable", one-line message)` for any CCXT network error (unreachable
    exchange, timeout, DDoS protection...) or a timeout; None for any other error."""
    if not isinstance(exc, ccxt.NetworkError | TimeoutError):
        return None
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    return "venue_unavailable", f"venue unavailable: {type(exc).__name__} {first_line}".rstrip()


async def _may_be_placed(rt: AccountRuntime, cmd: Claimed) -> bool:
    """A send whose order may be on the venue (outcome unknown: its workers died mid-call), or a
    change whose written-ahead replacement may be, is never given up by the attempt cap: the
    executor resolves it by lookup within its window."""
    if cmd.command_type == "change_order":
        async with rt.store.read() as conn:
            pending = await order_records.pending_venue_order(conn, int(cmd.payload["order_id"]))
        return pending is not None
    if cmd.order_id is None or cmd.command_type not in ("send_order", "close_position"):
        return False
    async with rt.store.read() as conn:
        return await order_records.outcome_unknown(conn, cmd.order_id)


async def reject_unsent_order(rec: Recorder, cmd: Claimed, code: str, message: str) -> None:
    """A send given up before it reached the venue must not leave its order open."""
    if cmd.order_id is None or cmd.command_type not in ("send_order", "close_position"):
        return
    row = await rec.rows.order_row(cmd.order_id)
    if row["status"] == OrderStatus.PENDING_SUBMIT and not row["outcome_unknown"]:
        await reject(rec, row, code, message)
