"""Order rows through the domain's transition table: hold a new `OrderState` for the step's
write, emit the order event (rendered from the final row), and when a reserving close order
ends release its unfilled qty on the position.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Unpack

from apps.oms.domain import events
from apps.oms.domain.booking import reserves_close as domain_reserves
from apps.oms.domain.closing import release_close
from apps.oms.domain.enums import OrderStatus, PositionMode, Side
from apps.oms.domain.money import ZERO
from apps.oms.domain.orders import OrderState
from apps.oms.domain.positions import Position
from apps.oms.service.execution.runtime import Recorder
from apps.oms.store.order_rows import OrderChanges, OrderRow

STATUS_EVENTS = {
    OrderStatus.SUBMITTED: events.ORDER_SUBMITTED,
    OrderStatus.PARTIALLY_FILLED: events.ORDER_PARTIALLY_FILLED,
    OrderStatus.FILLED: events.ORDER_FILLED,
    OrderStatus.CANCELED: events.ORDER_CANCELED,
    OrderStatus.REJECTED: events.ORDER_REJECTED,
    OrderStatus.EXPIRED: events.ORDER_EXPIRED,
}


def state_of(row: OrderRow) -> OrderState:
    return OrderState(
        qty=row["qty"],
        status=OrderStatus(row["status"]),
        filled_qty=row["filled_qty"] or ZERO,
        avg_fill_price=row["avg_fill_price"],
        outcome_unknown=bool(row["outcome_unknown"]),
        reason=row["reason"],
        venue_filled_qty=row["filled_qty"] or ZERO,
    )


def reserves_close(row: OrderRow, position: Position | None, mode: PositionMode) -> bool:
    """`domain.booking.reserves_close` of an order row. An order the gateway holds reserves
    nothing (its child does, when it fires)."""
    if row.get("emulation") == "gateway":
        return False
    return domain_reserves(int(row["position_id"]), Side(row["side"]), bool(row["reduce_only"]),
                           position, mode)  # fmt: skip


async def write_order(
    rec: Recorder, row: OrderRow, state: OrderState, **extra: Unpack[OrderChanges]
) -> OrderRow:
    """Hold `state` (+ extra columns) for the step's write (`Recorder.wrote_order`); event on a
    status change; release on ending. Returns the row as it will be stored."""
    before = OrderStatus(row["status"])
    values: OrderChanges = {
        "status": state.status.value,
        "is_open": state.status.is_open,
        "filled_qty": state.filled_qty,
        "avg_fill_price": state.avg_fill_price,
        "outcome_unknown": state.outcome_unknown,
        "reason": state.reason,
        "updated_at": rec.now,
        **extra,
    }
    if before is OrderStatus.PENDING_SUBMIT and state.status is not before:
        values.setdefault("submitted_at", rec.now)
    if before.is_open and not state.status.is_open:
        values["closed_at"] = rec.now
    new = rec.rows.update_order(row, values)
    more = Decimal(new["filled_qty"]) != Decimal(row["filled_qty"] or ZERO)
    if state.status is not before or (more and state.status is OrderStatus.PARTIALLY_FILLED):
        event = STATUS_EVENTS.get(state.status)
        if event is not None:
            rec.hold_event(event, lambda: rec.order_view(new), strategy_id=int(new["strategy_id"]))
    if before.is_open and not state.status.is_open:
        await release_reservation(rec, new)
    return new


async def release_reservation(rec: Recorder, row: OrderRow) -> None:
    """The close order ended: give back its unfilled qty; the position returns to `open`."""
    # carried by this transaction as it is now, else read and locked (the update is written
    # at the end: an unlocked read could lose a reservation another transaction commits)
    position_id = rec.rows.real(int(row["position_id"]))
    if position_id <= 0:  # no stored position to give back to (nothing reserved on a new one)
        return
    book = await rec.rows.load_book(str(row["symbol"]), [position_id], all_open=False)
    position = book.positions.get(position_id)
    if position is None:
        return
    if not reserves_close(row, position, rec.rt.account.position_mode):
        return
    unfilled = max(ZERO, Decimal(row["qty"]) - Decimal(row["filled_qty"]))
    released = release_close(position, unfilled)
    if released == position:
        return
    rec.rows.wrote_position(released)
    rec.hold_event(
        events.POSITION_UPDATED, lambda: rec.position_view(released),
        strategy_id=released.strategy_id,
    )
