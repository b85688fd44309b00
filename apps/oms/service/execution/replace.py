"""`change_order` by cancel/replace, for venues without a native `edit_order`.

The OMS order keeps its id; it gains a venue order. Venue calls run outside any transaction and
every step is recorded in a fenced transaction, so a re-attempt continues from what is recorded:
1. begin: `edit_replace_state = replace_pending`, event `order_change_replace_pending`;
2. cancel the current venue order (after a fetch: one already closed is not cancelled again)
   and wait until the venue reports it terminal;
3. confirm (one transaction): book its last trades (fills always win), read `filled_qty`; if it
   filled completely, or nothing is left of the new qty, no replacement (`replace_failed`,
   reason `filled`); else write ahead the replacement's venue-order row under a client order id
   chained to the original;
4. place `new_qty − filled_qty`; a timeout is resolved by a lookup by that client id, never by
   sending again; a re-attempt that finds the written-ahead row goes straight to the lookup;
5. record: the order's exchange id, qty and price become the replacement's, `replaced`,
   `order_changed`.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from apps.oms.clock import utcnow
from apps.oms.domain.closing import venue_position_side
from apps.oms.domain.enums import OrderStatus, PositionMode, Side
from apps.oms.domain.events import (
    ORDER_CHANGE_REPLACE_FAILED,
    ORDER_CHANGE_REPLACE_PENDING,
    ORDER_CHANGED,
    ChangedOrderView,
    Event,
    OrderView,
    VenueOrderRef,
)
from apps.oms.domain.orders import transition
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.ports import NewOrder, Structure, VenuePort
from apps.oms.service.execution.order_state import state_of, write_order
from apps.oms.service.execution.results import absorb, adopt, finish
from apps.oms.service.execution.runtime import AccountRuntime, Recorder
from apps.oms.service.execution.send import (
    UNKNOWN,
    deadline_of,
    place_one,
    venue_code,
    venue_params,
)
from apps.oms.store import order_records
from apps.oms.store.order_rows import OrderChanges, OrderRow
from apps.oms.store.queue import Claimed
from apps.oms.store.records import CommandPayload

Row = OrderRow
PENDING, REPLACED, FAILED = "replace_pending", "replaced", "replace_failed"
TERMINAL = frozenset({"closed", "canceled", "cancelled", "expired", "rejected"})
MAX_CLIENT_ID = 32


@dataclass(frozen=True, slots=True)
class Change:
    order_id: int
    new_qty: Decimal | None
    new_price: Decimal | None

    @staticmethod
    def of(payload: CommandPayload) -> Change:
        qty, price = payload.get("new_qty"), payload.get("new_price")
        return Change(
            int(payload["order_id"]),
            None if qty is None else Decimal(qty),
            None if price is None else Decimal(price),
        )


def has_native_edit(venue: VenuePort) -> bool:
    """CCXT's `has['editOrder']`: only `True` is native; `'emulated'` (CCXT's own cancel +
    create, without our write-ahead and chained ids) and `False` go by cancel/replace. An
    adapter without `has` keeps the native path."""
    has = getattr(venue, "has", None)
    return not isinstance(has, dict) or has.get("editOrder") is True


def chained_client_order_id(original: str, n: int) -> str:
    """The n-th replacement's client order id: the original + `r{n}` (at most 32 characters of
    [A-Za-z0-9]; a long original is shortened and keeps a hash of itself)."""
    tail = f"r{n}"
    if len(original) + len(tail) <= MAX_CLIENT_ID:
        return original + tail
    digest = hashlib.sha256(original.encode()).hexdigest()[:6]
    return original[: MAX_CLIENT_ID - len(tail) - len(digest)] + digest + tail


def _terminal(structure: Structure) -> bool:
    return str(structure.get("status")) in TERMINAL


async def _venue(rt: AccountRuntime, call: Any) -> Structure:
    result: Structure = await asyncio.wait_for(call, rt.settings.venue_timeout_seconds)
    return result


async def execute_replace(rt: AccountRuntime, cmd: Claimed, stop: asyncio.Event) -> None:
    change = Change.of(cmd.payload)
    row = await _begin(rt, cmd, change)
    if row is None:
        return
    async with rt.store.read() as conn:
        pending = await order_records.pending_venue_order(conn, change.order_id)
    if pending is not None:  # written ahead by an earlier attempt: look it up, never resend
        await _resolve(rt, cmd, change, row, str(pending["client_order_id"]), stop)
        return
    final = await _cancel_confirmed(rt, row)
    if final is None:
        await _finish_failed(rt, cmd, change.order_id, "cancel_refused", "venue_rejected",
                             "the venue did not cancel the order", cancel=False)
        return
    placed = await _confirm(rt, cmd, change, final)
    if placed is not None:
        await _place(rt, cmd, change, *placed, stop)


async def _begin(rt: AccountRuntime, cmd: Claimed, change: Change) -> Row | None:
    """Check the order (unless a replace is already under way) and mark it `replace_pending`."""
    async with rt.record(cmd) as rec:
        row = await order_records.get_order(rec.conn, change.order_id)
        error = _error(rt, row, change)
        if row is None or error is not None:
            if row is not None and error == "invalid_order_state" and (
                row["edit_replace_state"] == PENDING
            ):
                row = rec.rows.update_order(row, _state(rec, FAILED))
                await _emit(rec, ORDER_CHANGE_REPLACE_FAILED, row, reason="order_closed")
            await finish(rec, cmd, error_code=error or "order_not_found", error_message=error)
            return None
        if row["edit_replace_state"] != PENDING:
            row = rec.rows.update_order(row, _state(rec, PENDING))
            await _emit(rec, ORDER_CHANGE_REPLACE_PENDING, row)
        return row


def _error(rt: AccountRuntime, row: Row | None, change: Change) -> str | None:
    if row is None or int(row["account_id"]) != rt.account_id:
        return "order_not_found"
    if not OrderStatus(row["status"]).is_open or row["exchange_order_id"] is None:
        return "invalid_order_state"
    if row["edit_replace_state"] == PENDING:
        return None  # continuing: fills booked since acceptance are the confirm step's concern
    if change.new_qty is not None and change.new_qty < Decimal(row["filled_qty"]):
        return "invalid_qty"
    return None


def _state(rec: Recorder, state: str) -> OrderChanges:
    return {"edit_replace_state": state, "edit_replace_at": rec.now}


async def _emit(
    rec: Recorder, event: Event[OrderView], row: Row, reason: str | None = None
) -> None:
    """The order with its venue orders (and a failure's `reason` as the order's)."""
    venue_orders = await order_records.venue_orders_of(rec.conn, int(row["id"]))
    listed: list[VenueOrderRef] = [
        {"client_order_id": v["client_order_id"], "exchange_order_id": v["exchange_order_id"]}
        for v in venue_orders]  # fmt: skip

    def render() -> ChangedOrderView:
        view: ChangedOrderView = {**rec.order_view(row), "venue_orders": listed}
        if reason is not None:
            view["reason"] = reason
        return view

    rec.hold_event(event, render, strategy_id=int(row["strategy_id"]))


async def _cancel_confirmed(rt: AccountRuntime, row: Row) -> Structure | None:
    """Cancel the current venue order unless the venue already reports it closed, then wait
    until it is terminal. None: the venue still lists it open (cancel refused). Network errors
    propagate: the command is re-attempted and starts again with the fetch."""
    exchange_order_id, symbol = str(row["exchange_order_id"]), str(row["symbol"])
    current = await _venue(rt, rt.venue.fetch_order(exchange_order_id, symbol))
    if _terminal(current):
        return current
    try:
        await _venue(rt, rt.venue.cancel_order(exchange_order_id, symbol))
    except UNKNOWN:
        raise
    except ccxt.BaseError:  # refused: closed meanwhile (filled), or really refused
        final = await _venue(rt, rt.venue.fetch_order(exchange_order_id, symbol))
        return final if _terminal(final) else None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + rt.settings.unknown_outcome_window_seconds
    while True:
        final = await _venue(rt, rt.venue.fetch_order(exchange_order_id, symbol))
        if _terminal(final):
            return final
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(min(0.5, rt.settings.unknown_outcome_window_seconds / 20))


async def _confirm(
    rt: AccountRuntime, cmd: Claimed, change: Change, final: Structure
) -> tuple[Row, str, Decimal, datetime, str | None] | None:
    """Record the cancelled venue order and write ahead the replacement (see module doc)."""
    async with rt.record(cmd) as rec:
        row = await rec.rows.order_row(change.order_id)
        row = await absorb(rec, row, final)
        wanted = change.new_qty if change.new_qty is not None else Decimal(row["qty"])
        remaining = wanted - Decimal(row["filled_qty"])
        if str(final.get("status")) == "closed" or remaining <= 0:
            await _filled(rec, cmd, row, final, wanted)
            return None
        n = await order_records.count_venue_orders(rec.conn, change.order_id)
        client_order_id = chained_client_order_id(str(row["client_order_id"]), n)
        while await order_records.client_id_taken(rec.conn, client_order_id):
            n += 1
            client_order_id = chained_client_order_id(str(row["client_order_id"]), n)
        await order_records.add_venue_order(
            rec.conn, order_id=change.order_id, account_id=rt.account_id,
            client_order_id=client_order_id, now=rec.now,
        )
        return row, client_order_id, remaining, rec.now, await _position_side(rec, row)


async def _position_side(rec: Recorder, row: Row) -> str | None:
    """The venue position side a hedge account's replacement carries, as the original did
    (`closing.venue_position_side`; netting modes read nothing)."""
    mode = rec.rt.account.position_mode
    if mode is not PositionMode.HEDGE:
        return None
    position_id = int(row["position_id"])
    book = await rec.rows.load_fill_book(row["symbol"], position_id, external=False)
    return venue_position_side(mode, Side(row["side"]), book.positions.get(position_id))


async def _filled(
    rec: Recorder, cmd: Claimed, row: Row, final: Structure, wanted: Decimal
) -> None:
    """No replacement: the venue order filled completely (the OMS order takes its final state),
    or its fills already cover the new qty (the order is FILLED at that qty)."""
    if str(final.get("status")) == "closed":
        row = await adopt(rec, row, final)
    else:
        row = rec.rows.update_order(row, {"qty": wanted})
        state = state_of(row)
        status = transition(state.status, OrderStatus.FILLED, by_fill=True)
        row = await write_order(rec, row, replace(state, status=status))
    row = rec.rows.update_order(row, _state(rec, FAILED))
    await _emit(rec, ORDER_CHANGE_REPLACE_FAILED, row, reason="filled")
    await finish(rec, cmd, order=row, result={"reason": "filled"},
                 error_code="invalid_order_state",
                 error_message="the order filled before it could be replaced")


async def _place(
    rt: AccountRuntime, cmd: Claimed, change: Change, row: Row, client_order_id: str,
    qty: Decimal, written_ahead: datetime, position_side: str | None, stop: asyncio.Event,
) -> None:
    price = change.new_price if change.new_price is not None else row["price"]
    params = {**venue_params(row, position_side), "clientOrderId": client_order_id}
    order = NewOrder(row["symbol"], row["order_type"], row["side"], qty, price, params,
                     deadline_of(rt, written_ahead))  # past it, not sent: looked up  # fmt: skip
    try:
        structure = await place_one(rt, order)
    except UNKNOWN:
        await _resolve(rt, cmd, change, row, client_order_id, stop)
        return
    except ccxt.BaseError as exc:
        await _finish_failed(rt, cmd, change.order_id, "venue_rejected", venue_code(exc),
                             str(exc))
        return
    await _replaced(rt, cmd, change, client_order_id, structure)


async def _resolve(
    rt: AccountRuntime, cmd: Claimed, change: Change, row: Row, client_order_id: str,
    stop: asyncio.Event,
) -> None:
    """Look the replacement up by its client order id until found or the window passes. On
    shutdown it returns with the command running: the next lease holder continues."""
    window = rt.settings.unknown_outcome_window_seconds
    async with rt.store.read() as conn:
        started = await order_records.venue_order_started(conn, client_order_id)
    deadline = (started or utcnow()) + timedelta(seconds=window)
    params = {"clientOrderId": client_order_id}
    while not stop.is_set():
        try:
            found: Structure | None = await _venue(rt, rt.venue.fetch_order(
                "", row["symbol"], params))
        except ccxt.OrderNotFound:
            found, absent = None, True
        except UNKNOWN:
            found, absent = None, False
        else:
            absent = False
        if found is not None:
            await _replaced(rt, cmd, change, client_order_id, found)
            return
        if absent and utcnow() >= deadline:
            await _finish_failed(rt, cmd, change.order_id, "not_placed",
                                 "outcome_unknown_not_found",
                                 "venue has no order with the replacement's client order id")
            return
        await asyncio.sleep(min(1.0, window / 20))


async def _replaced(
    rt: AccountRuntime, cmd: Claimed, change: Change, client_order_id: str, placed: Structure
) -> None:
    async with rt.record(cmd) as rec:
        row = await rec.rows.order_row(change.order_id)
        exchange_order_id = str(placed["id"])
        await order_records.link_exchange_id(
            rec.conn, change.order_id, exchange_order_id, client_order_id)
        values: OrderChanges = {"exchange_order_id": exchange_order_id, **_state(rec, REPLACED)}
        if change.new_qty is not None:
            values["qty"] = change.new_qty
        if change.new_price is not None and row["price"] is not None:
            values["price"] = change.new_price
        row = rec.rows.update_order(row, values)
        row = await adopt(rec, row, {**placed, "clientOrderId": client_order_id})
        await _emit(rec, ORDER_CHANGED, row)
        await finish(rec, cmd, order=row)


async def _finish_failed(
    rt: AccountRuntime, cmd: Claimed, order_id: int, reason: str, code: str, message: str,
    *, cancel: bool = True,
) -> None:
    """The replace failed. With `cancel`, the old venue order is cancelled and nothing replaced
    it: the OMS order ends CANCELED (with the fills it has)."""
    async with rt.record(cmd) as rec:
        row = await rec.rows.order_row(order_id)
        if cancel and OrderStatus(row["status"]).is_open:
            state = state_of(row)
            state = replace(state, status=transition(state.status, OrderStatus.CANCELED))
            row = await write_order(rec, row, state, error_code=code,
                                    error_message=message[:2000])
        row = rec.rows.update_order(row, _state(rec, FAILED))
        await _emit(rec, ORDER_CHANGE_REPLACE_FAILED, row, reason=reason)
        await finish(rec, cmd, order=row, result={"reason": reason},
                     error_code=code, error_message=message)
