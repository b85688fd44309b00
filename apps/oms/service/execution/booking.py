"""Book venue trades: one CCXT trade → the allocation core → deals and positions with real ids,
the order's fills and state, raw payloads and events, all inside the caller's record transaction.

Ids: the core asks an `IdAllocator` synchronously, but rows get their ids from auto-increment at
insert. `PlaceholderIds` hands out negative ids; `persist` inserts new positions first, maps each
placeholder to the real id, then inserts the deals pointing at real positions. In a joined batch
a new position gets a stand-in id instead (`Recorder.stand_in`) and is inserted with the
batch's other new positions at its end, where every held row and event naming it gets the real
id.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from apps.oms.domain.book import Fill, OrderRef
from apps.oms.domain.enums import PositionState, Reason, Side
from apps.oms.domain.fills import FillResult, apply_fill, consults_open_positions
from apps.oms.domain.orders import apply_order_fill
from apps.oms.domain.positions import Position
from apps.oms.ports import Structure
from apps.oms.service.execution.order_state import reserves_close, state_of, write_order
from apps.oms.service.execution.runtime import STAND_IN_BASE, Recorder, from_ms
from apps.oms.service.views import position_view
from apps.oms.store import books
from apps.oms.store.positions import position_values

ZERO = Decimal(0)


@dataclass(slots=True)
class PlaceholderIds:
    """Negative stand-in ids, replaced by auto-increment ids in `persist`."""

    last: int = 0

    def next_position_id(self) -> int:
        self.last -= 1
        return self.last

    def next_deal_id(self) -> int:
        self.last -= 1
        return self.last


def fill_of(trade: Structure) -> Fill:
    fee = trade.get("fee") or {}
    return Fill(
        symbol=trade["symbol"],
        side=Side(trade["side"]),
        qty=Decimal(trade["amount"]),
        price=Decimal(trade["price"]),
        exchange_trade_id=str(trade["id"]),
        executed_at=from_ms(trade.get("timestamp")),
        fee=Decimal(fee.get("cost") or 0),
        fee_currency=fee.get("currency"),
    )


def order_ref(row: dict[str, Any], reserves: bool) -> OrderRef:
    return OrderRef(
        order_id=int(row["id"]),
        strategy_id=int(row["strategy_id"]),
        position_id=int(row["position_id"]),
        reason=row["reason"],
        comment=row["comment"],
        stop_loss=row["stop_loss"],
        stop_gain=row["stop_gain"],
        external=row["reason"] == Reason.EXTERNAL,
        reserves_close=reserves,
    )


async def book_trade(
    rec: Recorder, row: dict[str, Any], trade: Structure, *, fresh: bool = False
) -> dict[str, Any]:
    """Book one trade of order `row` (a duplicate trade id changes nothing); returns the row.
    `fresh`: the venue made the trade in this transaction, it cannot be booked already."""
    fill = fill_of(trade)
    acct = rec.rt.account
    external = row["reason"] == Reason.EXTERNAL
    book = await rec.load_book(
        fill.symbol, [int(row["position_id"])], () if fresh else [fill.exchange_trade_id],
        all_open=consults_open_positions(acct.position_mode, external),
    )  # fmt: skip
    if (fill.exchange_trade_id, 0) in book.booked_trades:
        return row
    rec.store_payload(kind="trade", object_id=fill.exchange_trade_id, payload=trade)
    target = book.positions.get(int(row["position_id"]))
    ref = order_ref(row, reserves_close(row, target, acct.position_mode))
    instrument = await rec.rt.instrument(fill.symbol)
    result = apply_fill(book, fill, ref, instrument, PlaceholderIds(), rec.now)
    real = await persist(rec, result, fill_role(trade))
    filled = apply_order_fill(state_of(row), fill.qty, fill.price)
    if filled.overfilled:
        await rec.emit(
            "order_overfilled", {"order_id": int(row["id"]), "qty": str(fill.qty)}, namespace="risk"
        )
    position_id = real.get(result.order_position_id or 0, result.order_position_id)
    return await write_order(
        rec,
        row,
        filled.order,
        fee=Decimal(row["fee"] or 0) + fill.fee,
        fee_currency=fill.fee_currency or row["fee_currency"],
        position_id=position_id or row["position_id"],
    )


def fill_role(trade: Structure) -> str | None:
    """CCXT's `takerOrMaker` of a venue trade: `taker`, `maker`, or None when not reported."""
    value = trade.get("takerOrMaker")
    return value if value in ("taker", "maker") else None


async def persist(
    rec: Recorder, result: FillResult, taker_or_maker: str | None = None
) -> dict[int, int]:
    """Insert new positions, update changed ones, insert deals (`taker_or_maker`: the venue
    fill's side, on every deal of it); emit their events. Returns placeholder id → real id."""
    real: dict[int, int] = {}
    for position in result.positions:
        if _opened(position):
            if rec.defer_orders:  # a joined batch: inserted with its other new ones at the end
                pid = real[position.position_id] = rec.stand_in(position)
            else:
                pid = real[position.position_id] = await books.insert_position(rec.conn, position)
            await rec.wrote_position(replace(position, position_id=pid), inserted=True)
        else:
            await rec.wrote_position(position)
    for deal in result.deals:
        values = replace(deal, position_id=real.get(deal.position_id, deal.position_id))
        await rec.wrote_deal(books.deal_values(values, taker_or_maker),
                             strategy_id=values.strategy_id)  # fmt: skip
    for position in result.positions:
        pid = real.get(position.position_id, position.position_id)
        await emit_position(rec, pid, opened=_opened(position), position=position)
    for alert in result.alerts:
        await rec.emit(
            alert.code,
            {
                "message": alert.message,
                "position_id": real.get(alert.position_id or 0, alert.position_id),
            },
            namespace="risk",
        )
    return real


def _opened(position: Position) -> bool:
    """A position the core opened for this fill (its placeholder id), not one the batch opened
    earlier (a stand-in id: `Recorder.stand_in`) or a stored one."""
    return STAND_IN_BASE < position.position_id < 0


async def emit_position(
    rec: Recorder, position_id: int, *, opened: bool = False, position: Position | None = None
) -> None:
    """`position_opened` / `_updated` / `_closed` with the row as stored: built from `position`
    when the caller has just written it (no read back), else read."""
    if position is not None:
        row: dict[str, Any] | None = {**position_values(position), "id": position_id}
    else:
        row = await books.get_position_row(rec.conn, position_id)
    if row is None:
        return
    if opened:
        event = "position_opened"
    elif row["state"] in (PositionState.CLOSED.value, PositionState.MERGED.value):
        event = "position_closed"
    else:
        event = "position_updated"
    await rec.emit(event, position_view(row), strategy_id=int(row["strategy_id"]))
