"""Book venue reports on their orders: load the order's book, decide once in the core
(`domain.booking.book_order`: each trade's deals and positions, the order's new state, then the
venue's status), then hold the writes and their events in the record transaction (`Recorder`),
which writes them once at its end.

Ids: the core asks the transaction's held rows (`HeldRows`) for the ids of the positions and
deals it creates (stand-in ids, the one scheme: `held_rows.STAND_IN_BASE`); rows get their
real ids when the held writes are written, and every view names them by those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Unpack

from apps.oms.domain.book import Fill
from apps.oms.domain.booking import BookedOrder, Booking
from apps.oms.domain.booking import book_order as decide
from apps.oms.domain.enums import OrderStatus, PositionState, Side
from apps.oms.domain.events import (
    ALERTS,
    ORDER_OVERFILLED,
    POSITION_CLOSED,
    POSITION_OPENED,
    POSITION_UPDATED,
    PositionOverfill,
)
from apps.oms.domain.fills import Alert
from apps.oms.domain.positions import Position
from apps.oms.ports import Structure
from apps.oms.service.execution.order_state import state_of, write_order
from apps.oms.service.execution.runtime import Recorder, from_ms
from apps.oms.store.held_rows import HeldRows
from apps.oms.store.order_rows import OrderChanges, OrderRow


def with_order_fields(trade: Structure, order: Structure | None) -> Structure:
    """A trade of an order report with the order's symbol, side, id and time where CCXT left
    them out (Binance spot's `fills` in an order response name none of them)."""
    if order is None:
        return trade
    defaults = {"symbol": order.get("symbol"), "side": order.get("side"), "order": order.get("id"),
                "timestamp": order.get("lastTradeTimestamp") or order.get("timestamp")}
    return {**trade, **{k: v for k, v in defaults.items() if trade.get(k) is None}}


def fill_of(trade: Structure, row: OrderRow) -> Fill:
    """A trade of order `row` as the books core takes it. What the venue's answer still leaves
    out comes from the order row (a trade of a report without its order structure): they are
    that order's fills."""
    fee = trade.get("fee") or {}
    role = trade.get("takerOrMaker")
    return Fill(
        symbol=trade.get("symbol") or row["symbol"],
        side=Side(trade.get("side") or row["side"]),
        qty=Decimal(trade["amount"]),
        price=Decimal(trade["price"]),
        exchange_trade_id=str(trade["id"]),
        executed_at=from_ms(trade.get("timestamp")),
        fee=Decimal(fee.get("cost") or 0),
        fee_currency=fee.get("currency"),
        taker_or_maker=role if role in ("taker", "maker") else None,
    )


def booked_order(row: OrderRow, position_id: int) -> BookedOrder:
    """The order row as the core takes it (`position_id`: its position by the id the
    transaction carries it under)."""
    return BookedOrder(
        order_id=int(row["id"]),
        strategy_id=int(row["strategy_id"]),
        position_id=position_id,
        side=Side(row["side"]),
        reduce_only=bool(row["reduce_only"]),
        state=state_of(row),
        reason=row["reason"],
        comment=row["comment"],
        stop_loss=row["stop_loss"],
        stop_gain=row["stop_gain"],
        fee=Decimal(row["fee"] or 0),
        fee_currency=row["fee_currency"],
    )


async def book_report(
    rec: Recorder,
    row: OrderRow,
    trades: Sequence[Structure],
    venue_status: OrderStatus | None = None,
    *,
    fresh: bool = False,
    venue_filled: Decimal | None = None,
    of_order: Structure | None = None,
    **extra: Unpack[OrderChanges],
) -> OrderRow:
    """Book a venue report on order `row`: its trades (a duplicate trade id changes nothing),
    then, given a `venue_status`, move the order by it (with the `extra` columns). Returns the
    row as it will be stored. `fresh`: the venue made the trades in this transaction, they
    cannot be booked already. `venue_filled`: what the report says the venue filled (FILLED
    beyond the booked trades keeps the order open); `of_order`: the order structure the trades
    came in, whose fields a trade lacks (`with_order_fields`; the trade's payload is stored as
    the venue sent it). Load -> decide (once, `domain.booking.book_order`) -> hold."""
    fills = [fill_of(with_order_fields(trade, of_order), row) for trade in trades]
    instrument = await rec.rt.instrument(fills[0].symbol) if fills else None
    rows: HeldRows = rec.rows
    order = booked_order(row, rows.real(int(row["position_id"])))
    book = None
    if fills:
        book = await rows.load_fill_book(
            fills[0].symbol, order.position_id,
            () if fresh else [f.exchange_trade_id for f in fills], external=order.external,
        )  # fmt: skip
    decided = decide(book, fills, order, venue_status, instrument, rows, rec.now,
                     venue_filled)
    for fill, trade, booking in zip(fills, trades, decided.trades, strict=True):
        if booking.duplicate:
            continue
        rows.hold_payload("trade", fill.exchange_trade_id, trade)
        hold(rec, booking)
        row = await write_order(rec, row, booking.order, fee=booking.fee,
                                fee_currency=booking.fee_currency,
                                position_id=booking.position_id or row["position_id"])  # fmt: skip
    if venue_status is not None:
        row = await write_order(rec, row, decided.order, **extra)
    return row


def hold(rec: Recorder, booking: Booking) -> None:
    """Hold the decided positions and deals and their events, in the order of today's stream:
    deals, positions, alerts (the overfill last)."""
    result = booking.fill
    opened = {p.position_id for p in result.positions if rec.rows.wrote_position(p)}
    for deal in result.deals:
        rec.wrote_deal(deal)
    for position in result.positions:
        emit_position(rec, position, opened=position.position_id in opened)
    for alert in result.alerts:
        rec.hold_event(ALERTS[alert.code], _alert_view(rec, alert))
    if booking.overfilled:
        rec.hold_event(ORDER_OVERFILLED, {"order_id": booking.order_id, "qty": str(booking.qty)})


def _alert_view(rec: Recorder, alert: Alert) -> Callable[[], PositionOverfill]:
    """An alert's payload, its positions named by their real ids."""

    def render() -> PositionOverfill:
        real = rec.rows.real_ids
        return {"message": alert.message(lambda pid: real.get(pid, pid)),
                "position_id": real.get(alert.position_id, alert.position_id)}  # fmt: skip

    return render


def emit_position(rec: Recorder, position: Position, *, opened: bool = False) -> None:
    """`position_opened` / `_updated` / `_closed`, rendered from `position` (as written) with
    its real id when the step's writes are."""
    if opened:
        event = POSITION_OPENED
    elif position.state in (PositionState.CLOSED, PositionState.MERGED):
        event = POSITION_CLOSED
    else:
        event = POSITION_UPDATED
    rec.hold_event(event, lambda: rec.position_view(position), strategy_id=position.strategy_id)
