"""`send_order` and `close_position`: re-check under the lease, write-ahead the venue order,
place it with a timeout outside any transaction, record the result in one transaction. A
timeout (or a worker that died mid-call) leaves `outcome_unknown`; it is resolved by looking the
order up by client order id, never by sending again.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from apps.oms.clock import utcnow
from apps.oms.domain.closing import venue_position_side
from apps.oms.domain.enums import OrderStatus, Reason, Side
from apps.oms.domain.errors import DomainError
from apps.oms.domain.events import RISK_REJECTED, RiskRejected
from apps.oms.domain.good_till_date import is_due, venue_time_in_force
from apps.oms.domain.orders import mark_outcome_unknown, resolve_not_found
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.ports import (
    GATEWAY_POSITION_SIDE,
    NewOrder,
    Params,
    SendWindowPassed,
    Structure,
    send_deadline,
    sendable,
)
from apps.oms.service.execution.held import arm, is_held
from apps.oms.service.execution.order_state import state_of, write_order
from apps.oms.service.execution.recheck import recheck
from apps.oms.service.execution.results import adopt, finish, reject
from apps.oms.service.execution.runtime import AccountRuntime, Recorder, epoch_ms
from apps.oms.service.views import order_view
from apps.oms.store import order_records
from apps.oms.store.order_rows import OrderRow
from apps.oms.store.queue import Claimed

UNKNOWN = (TimeoutError, ccxt.NetworkError)


async def execute_send(rt: AccountRuntime, cmd: Claimed, stop: asyncio.Event) -> None:
    if cmd.order_id is None:
        async with rt.record(cmd) as rec:
            await finish(rec, cmd, error_code="order_not_found", error_message="no order row")
        return
    step, row, position_side = await _prepare(rt, cmd, cmd.order_id)
    if step == "lookup":
        await resolve_unknown(rt, cmd, row, stop)
    elif step == "place":
        await _place(rt, cmd, row, stop, position_side)


async def _prepare(
    rt: AccountRuntime, cmd: Claimed, order_id: int
) -> tuple[str, OrderRow, str | None]:
    """In one record transaction: an order whose outcome is unknown goes to the lookup; one
    already past PENDING_SUBMIT just finishes the command; otherwise re-check and, on success,
    flag the outcome unknown and record the venue order (write-ahead) before placing it, with
    the venue position side a hedge account's order carries."""
    async with rt.record(cmd) as rec:
        row = await rec.rows.order_row(order_id)
        if row["outcome_unknown"]:
            return "lookup", row, None
        if row["status"] != OrderStatus.PENDING_SUBMIT:
            await finish(rec, cmd, order=row)
            return "done", row, None
        if is_held(row):  # the gateway holds it: armed, not sent (`execution/held.py`)
            return "done", await arm(rec, cmd, row), None
        if is_due(row["time_in_force"], row["expire_at"], rec.now):
            return "done", await expire_unsent(rec, cmd, row), None
        try:
            target = await recheck(rec, row)
        except DomainError as exc:
            return "done", await risk_reject(rec, cmd, row, exc), None
        await order_records.add_venue_order(
            rec.conn,
            order_id=order_id,
            account_id=rt.account_id,
            client_order_id=row["client_order_id"],
            now=rec.now,
        )
        side = venue_position_side(rt.account.position_mode, Side(row["side"]), target)
        rt.expires_at(row["expire_at"])
        return "place", await write_order(rec, row, mark_outcome_unknown(state_of(row))), side


async def expire_unsent(rec: Recorder, cmd: Claimed, row: OrderRow) -> OrderRow:
    """A queued good-till-date send whose date passed before it ran (a backlog, no worker for
    a while): never sent, it ends EXPIRED and its command completes with it."""
    expired = await write_order(rec, row, replace(state_of(row), status=OrderStatus.EXPIRED))
    await finish(rec, cmd, order=expired)
    return expired


async def risk_reject(
    rec: Recorder, cmd: Claimed, row: OrderRow, exc: DomainError
) -> OrderRow:
    """The re-check refused the order: REJECTED, `risk_rejected` event, command failed."""
    row = await reject(rec, row, exc.code, exc.message)
    rejected: RiskRejected = {**order_view(row), "code": exc.code, "details": exc.details}
    rec.hold_event(RISK_REJECTED, rejected)
    await finish(rec, cmd, order=row, error_code=exc.code, error_message=exc.message)
    return row


def venue_params(row: OrderRow, position_side: str | None = None) -> Params:
    """What the venue gets with the order: the accepted params, its client order id, trigger
    prices, a trailing stop the venue executes (acceptance chose the venue for it), time in
    force (a good-till-date rests as good-till-cancelled: the gateway keeps the date),
    post-only, and a hedge account's venue position side
    (`GATEWAY_POSITION_SIDE`, `closing.venue_position_side`)."""
    params: Params = dict(row["params"] or {})
    params["clientOrderId"] = row["client_order_id"]
    for key, value in (
        ("triggerPrice", row["trigger_price"]),
        ("stopPrice", row["stop_price"]),
        ("takeProfitPrice", row["take_profit_price"]),
        ("trailingAmount", row.get("trailing_amount")),
        ("trailingPercent", row.get("trailing_percent")),
        ("trailingTriggerPrice", row.get("trailing_trigger_price")),
        ("triggerPriceType", row.get("trigger_price_type")),
        ("timeInForce", venue_time_in_force(row["time_in_force"])),
    ):
        if value is not None:
            params[key] = value
    if row["post_only"]:
        params["postOnly"] = True
    if position_side is not None:
        params[GATEWAY_POSITION_SIDE] = position_side
    return params


def deadline_of(rt: AccountRuntime, written_ahead: datetime) -> int:
    """The send deadline (`ports.send_deadline`) of an order written ahead at `written_ahead`."""
    return send_deadline(epoch_ms(written_ahead), rt.settings.unknown_outcome_window_seconds)


async def place_one(rt: AccountRuntime, order: NewOrder) -> Structure:
    """One written-ahead order by `create_order`, unless its send deadline passed
    (`SendWindowPassed`: not sent). Checked just before the call; what remains is a stall
    inside the call itself (the batch path, `ports.place_orders`, also has the paper venue
    check it in its own transaction)."""
    if not sendable(order, epoch_ms(utcnow())):
        raise SendWindowPassed("not sent: its send deadline passed")
    result: Structure = await asyncio.wait_for(rt.venue.create_order(
        order.symbol, order.type, order.side, order.amount, order.price, order.params),
        rt.settings.venue_timeout_seconds)  # fmt: skip
    return result


#: an order its own worker did not send because its send deadline passed: certainly never
#: placed (only the worker that wrote it ahead sends it), so rejected at once under the lease
NOT_SENT = "not sent: its send deadline passed before the venue could be called (the worker stalled)"


async def _place(
    rt: AccountRuntime, cmd: Claimed, row: OrderRow, stop: asyncio.Event,
    position_side: str | None = None,
) -> None:
    order = NewOrder(row["symbol"], row["order_type"], row["side"], Decimal(row["qty"]),
                     row["price"], venue_params(row, position_side),
                     deadline_of(rt, row["updated_at"]))  # fmt: skip
    try:
        structure = await place_one(rt, order)
    except SendWindowPassed:
        await _rejected(rt, cmd, int(row["id"]), "venue_unavailable", NOT_SENT)
        return
    except UNKNOWN:
        await resolve_unknown(rt, cmd, row, stop)
        return
    except ccxt.BaseError as exc:
        await _rejected(rt, cmd, int(row["id"]), venue_code(exc), str(exc))
        return
    await record_adopted(rt, cmd, int(row["id"]), structure)


def venue_code(exc: Exception) -> str:
    if isinstance(exc, ccxt.InsufficientFunds):
        return "insufficient_funds"
    if isinstance(exc, ccxt.BadSymbol):
        return "unsupported_market"
    return "venue_rejected"


async def _rejected(
    rt: AccountRuntime,
    cmd: Claimed,
    order_id: int,
    code: str,
    message: str,
    reason: str | None = None,
) -> None:
    async with rt.record(cmd) as rec:
        row = await rec.rows.order_row(order_id)
        row = await reject(rec, row, code, message, reason=reason)
        await finish(rec, cmd, order=row, error_code=code, error_message=message)


async def record_adopted(
    rt: AccountRuntime, cmd: Claimed, order_id: int, structure: Structure
) -> None:
    async with rt.record(cmd) as rec:
        row = await rec.rows.order_row(order_id)
        row = await adopt(rec, row, structure)
        await finish(rec, cmd, order=row)


async def resolve_unknown(
    rt: AccountRuntime, cmd: Claimed, row: OrderRow, stop: asyncio.Event
) -> None:
    """Look the order up by client order id until found or the window passes (then REJECTED,
    reason `outcome_unknown_not_found`). On shutdown it returns with the command still running:
    the next lease holder continues the lookup."""
    window = timedelta(seconds=rt.settings.unknown_outcome_window_seconds)
    async with rt.store.read() as conn:
        started = await order_records.venue_order_started(conn, row["client_order_id"])
    deadline = (started or utcnow()) + window
    pause = min(1.0, rt.settings.unknown_outcome_window_seconds / 20)
    while not stop.is_set():
        try:
            found = await _lookup(rt, row)
        except UNKNOWN:
            found, absent = None, False
        else:
            absent = found is None
        if found is not None:
            await record_adopted(rt, cmd, int(row["id"]), found)
            return
        if absent and utcnow() >= deadline:
            await _not_found(rt, cmd, int(row["id"]))
            return
        await asyncio.sleep(pause)


async def _lookup(rt: AccountRuntime, row: OrderRow) -> Structure | None:
    try:
        return await asyncio.wait_for(
            rt.venue.fetch_order("", row["symbol"], {"clientOrderId": row["client_order_id"]}),
            rt.settings.venue_timeout_seconds,
        )
    except ccxt.OrderNotFound:
        return None


async def _not_found(rt: AccountRuntime, cmd: Claimed, order_id: int) -> None:
    async with rt.record(cmd) as rec:
        row = await rec.rows.order_row(order_id)
        state = resolve_not_found(state_of(row))
        code = Reason.OUTCOME_UNKNOWN_NOT_FOUND.value
        row = await write_order(
            rec,
            row,
            state,
            error_code=code,
            error_message="venue has no order with this client order id",
        )
        await finish(
            rec,
            cmd,
            order=row,
            error_code=code,
            error_message="venue has no order with this client order id",
        )
