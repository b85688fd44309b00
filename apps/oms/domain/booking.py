"""The one booking decision of a venue trade on an OMS order: which deals and position changes the
fill makes (`fills.apply_fill`) and what it does to the order (`orders.apply_order_fill`: filled
qty, average price, status, overfill), decided together from the loaded state, with no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from apps.oms.domain.book import AccountBook, Fill, IdAllocator, Instrument, OrderRef
from apps.oms.domain.enums import OrderStatus, PositionMode, Reason, Side
from apps.oms.domain.fills import FillResult, apply_fill
from apps.oms.domain.orders import OrderState, apply_order_fill, apply_venue_status
from apps.oms.domain.positions import Position


@dataclass(frozen=True, slots=True)
class BookedOrder:
    """The loaded order a trade belongs to: its attribution, lifecycle state and fees so far.
    `position_id` is its target (0 = none yet); `reduce_only` as accepted."""

    order_id: int
    strategy_id: int
    position_id: int
    side: Side
    reduce_only: bool
    state: OrderState
    reason: str = Reason.API
    comment: str | None = None
    stop_loss: Decimal | None = None
    stop_gain: Decimal | None = None
    fee: Decimal = Decimal(0)
    fee_currency: str | None = None

    @property
    def external(self) -> bool:
        return self.reason == Reason.EXTERNAL


@dataclass(frozen=True, slots=True)
class Booking:
    """What one trade does. `duplicate`: already booked, nothing changes (`order` is the order's
    state as loaded, `fill` empty). Otherwise `fill` holds the deals and changed positions,
    `order` the order's new state, `position_id` the position the order points at now (a new
    position's id as the allocator handed it out), `fee` / `fee_currency` the order's totals,
    `overfilled` whether the order is now filled beyond its qty (an operator alert) and `late`
    whether it had already ended (canceled, expired or rejected) when the trade came;
    `order_id` and `qty` name the order and the trade's qty on it."""

    fill: FillResult
    order: OrderState
    position_id: int
    fee: Decimal
    fee_currency: str | None
    order_id: int
    qty: Decimal
    overfilled: bool = False
    late: bool = False
    duplicate: bool = False


def reserves_close(
    order_position_id: int,
    side: Side,
    reduce_only: bool,
    position: Position | None,
    mode: PositionMode,
) -> bool:
    """Assumed acceptance rule (docs/worker.md): an order reserved qty on its position iff it
    targets one (`position_id > 0`), is on the opposite side, and is reduce-only or hedge."""
    if position is None or order_position_id <= 0:
        return False
    return side is not position.side and (reduce_only or mode is PositionMode.HEDGE)


def order_ref(order: BookedOrder, book: AccountBook) -> OrderRef:
    """The order's attribution as the allocation core takes it (its reservation per the
    acceptance rule, judged on the target as loaded)."""
    target = book.positions.get(order.position_id)
    return OrderRef(
        order_id=order.order_id,
        strategy_id=order.strategy_id,
        position_id=order.position_id,
        reason=order.reason,
        comment=order.comment,
        stop_loss=order.stop_loss,
        stop_gain=order.stop_gain,
        external=order.external,
        reserves_close=reserves_close(
            order.position_id, order.side, order.reduce_only, target, book.position_mode
        ),
    )


def book_trade(
    book: AccountBook,
    fill: Fill,
    order: BookedOrder,
    instrument: Instrument,
    ids: IdAllocator,
    now: datetime,
) -> Booking:
    """Book one venue trade of `order` against `book` (which holds the order's position and,
    for netting keys, every open position of the symbol: `fills.consults_open_positions`).
    Invariants: a duplicate trade id changes nothing; otherwise the order's filled qty grows by
    the trade's qty (never the booked net qty of a base-fee spot buy: the venue's qty is what
    the order asked for), its fee by the trade's fee, and the positions by the deals."""
    if (fill.exchange_trade_id, 0) in book.booked_trades:  # before any check of the market
        return Booking(
            FillResult(book=book, duplicate=True),
            order.state,
            order.position_id,
            order.fee,
            order.fee_currency,
            order.order_id,
            fill.qty,
            duplicate=True,
        )
    result = apply_fill(book, fill, order_ref(order, book), instrument, ids, now)
    filled = apply_order_fill(order.state, fill.qty, fill.price)
    return Booking(
        fill=result,
        order=filled.order,
        position_id=result.order_position_id or order.position_id,
        fee=order.fee + fill.fee,
        fee_currency=fill.fee_currency or order.fee_currency,
        order_id=order.order_id,
        qty=fill.qty,
        overfilled=filled.overfilled,
        late=filled.late,
    )


@dataclass(frozen=True, slots=True)
class OrderBooking:
    """What a venue order report does: each of its trades' `Booking`, in order (a duplicate's
    changes nothing), and `order`, the order's state after them and the venue's status (the
    last trade's state when there is no status to apply)."""

    trades: tuple[Booking, ...]
    order: OrderState


def book_order(
    book: AccountBook | None,
    fills: Sequence[Fill],
    order: BookedOrder,
    venue_status: OrderStatus | None,
    instrument: Instrument | None,
    ids: IdAllocator,
    now: datetime,
    venue_filled: Decimal | None = None,
) -> OrderBooking:
    """The one decision of a venue order report (a placement's answer, a lookup, a cancel's
    answer, a sync) on its OMS order: book its trades one after the other (`book_trade`, each
    against the book as the ones before it left it) and then apply the venue's status
    (`orders.apply_venue_status`; the outcome is known now). `book` and `instrument` are
    needed when there are fills (the order's position and, for netting keys, every open
    position of the symbol); `venue_status` None books the trades only (a replaced order's
    earlier venue order, a trade report). `venue_filled`: the qty the venue reports filled
    (a FILLED report beyond the booked trades keeps the order open)."""
    bookings: list[Booking] = []
    state = order.state
    for n, fill in enumerate(fills):
        if book is None or instrument is None:
            raise ValueError("trades are booked against a loaded book and instrument")
        booking = book_trade(book, fill, order, instrument, ids, now)
        bookings.append(booking)
        if booking.duplicate:
            continue
        book, state = booking.fill.book, booking.order
        if n + 1 < len(fills):  # the next trade books against the order as this one left it
            order = replace(order, state=state, position_id=booking.position_id,
                            fee=booking.fee, fee_currency=booking.fee_currency)  # fmt: skip
    if venue_status is not None:
        state = replace(apply_venue_status(state, venue_status, venue_filled),
                        outcome_unknown=False)
    return OrderBooking(tuple(bookings), state)
