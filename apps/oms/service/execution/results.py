"""Record helpers shared by the executors: finish a command (fenced) with its event, adopt a
venue order structure onto an OMS order, and reject an order that never reached the venue.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from apps.oms import metrics
from apps.oms.domain.enums import OrderStatus
from apps.oms.domain.events import CommandView
from apps.oms.domain.good_till_date import venue_end
from apps.oms.domain.orders import transition
from apps.oms.ports import Structure
from apps.oms.service.execution.booking import book_report
from apps.oms.service.execution.order_state import state_of, write_order
from apps.oms.service.execution.runtime import CommandResult, HeldFinish, Recorder
from apps.oms.service.views import command_view
from apps.oms.store import order_records
from apps.oms.store.order_rows import OrderChanges, OrderRow, changed
from apps.oms.store.queue import Claimed

CCXT_STATUS = {
    "open": OrderStatus.SUBMITTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


async def finish(
    rec: Recorder,
    cmd: Claimed,
    *,
    order: OrderRow | None = None,
    result: CommandResult | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> None:
    """`completed` (no error code) or `failed`, then `command_completed` / `command_failed`;
    held to the end of the step. The result is `result`, with `order` (a row) as its `order`
    view, rendered from the final row."""
    status = "failed" if error_code else "completed"
    # counted once committed: a rolled-back batch that runs again must not count twice
    rec.after_commit.append(
        lambda: metrics.command_finished(cmd.command_type, status, cmd.created_at, rec.now)
    )
    extra = dict(result) if result is not None else None
    order = order.copy() if order is not None else None  # as it is now

    done: list[CommandResult | None] = []  # rendered once, for the row and for the event

    def rendered() -> CommandResult | None:
        if not done:
            done.append(extra if order is None else {"order": rec.order_view(order),
                                                      **(extra or {})})  # fmt: skip
        return done[0]

    def view() -> CommandView:
        return command_view({
            "id": cmd.command_id, "account_id": cmd.account_id,
            "command_type": cmd.command_type, "request_id": cmd.request_id,
            "client_order_id": cmd.client_order_id, "status": status,
            "error_code": error_code, "error_message": error_message, "result": rendered(),
            "order_id": cmd.order_id, "payload": cmd.payload, "attempts": cmd.attempts,
            "created_at": cmd.created_at, "started_at": cmd.started_at,
            "finished_at": rec.now, "updated_at": rec.now,
        })  # the row as `queue.finish_many` leaves it, without reading it back  # fmt: skip

    rec.finish(
        HeldFinish(cmd.command_id, cmd.epoch, status, rendered, error_code, error_message), view
    )


async def adopt(
    rec: Recorder, row: OrderRow, structure: Structure, *, placed: bool = False
) -> OrderRow:
    """Apply a venue order (placement result, lookup, cancel or sync): link the exchange id,
    store the raw payload, book its trades and move the state by the venue status, decided
    together (`booking.book_report`). `placed`: the structure is the venue's answer to this
    step's own placement (`sends.py`): its venue-order row, written ahead, gets the exchange
    id with the step's other writes, and its trades are new (no dedupe lookup). A
    good-till-date order the venue reports cancelled after its date ended by the date."""
    status = CCXT_STATUS.get(str(structure.get("status")), OrderStatus.SUBMITTED)
    status = venue_end(status, row["time_in_force"], row["expire_at"], rec.now)
    return await _apply(rec, row, structure, status, placed=placed)


async def absorb(
    rec: Recorder, row: OrderRow, structure: Structure, *, placed: bool = False
) -> OrderRow:
    """Link the venue order's exchange id to its venue-order row, store the raw payload and
    book its trades on the OMS order, without moving the order's status (a replaced order's
    earlier venue order is cancelled while the OMS order lives on)."""
    return await _apply(rec, row, structure, None, placed=placed)


async def _apply(
    rec: Recorder,
    row: OrderRow,
    structure: Structure,
    status: OrderStatus | None,
    *,
    placed: bool,
) -> OrderRow:
    exchange_order_id = str(structure["id"])
    extra: OrderChanges = {}
    if status is not None and row["exchange_order_id"] is None:
        extra["exchange_order_id"] = exchange_order_id
        # linked before its trades are booked: their order events carry the exchange id
        # (stored by the final write, in the same transaction)
        row = changed(row, extra)
    echoed = structure.get("clientOrderId")
    if placed and echoed is not None and echoed == row["client_order_id"]:
        rec.rows.hold_venue_link(int(row["id"]), echoed, exchange_order_id)
    else:
        await order_records.link_exchange_id(
            rec.conn, int(row["id"]), exchange_order_id, structure.get("clientOrderId")
        )
    filled = structure.get("filled")
    row = await book_report(rec, row, structure.get("trades") or (), status, fresh=placed,
                            venue_filled=filled if isinstance(filled, Decimal) else None,
                            of_order=structure, **extra)  # fmt: skip
    # after the trades: the ones held now are stored once, in their own rows
    rec.rows.hold_payload("order", exchange_order_id, structure)
    return row


async def reject(
    rec: Recorder, row: OrderRow, code: str, message: str, *, reason: str | None = None
) -> OrderRow:
    """PENDING_SUBMIT → REJECTED with a stable error code (and reason, if given)."""
    state = replace(
        state_of(row),
        status=transition(OrderStatus(row["status"]), OrderStatus.REJECTED),
        outcome_unknown=False,
        reason=reason or row["reason"],
    )
    return await write_order(rec, row, state, error_code=code, error_message=message[:2000])
