"""Closing rules: close_position planning and the pending-close reservation, reduce-only checks
(gateway and venue `reduceOnly`), MetaTrader close-by and merge of two positions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from apps.oms.domain.book import IdAllocator
from apps.oms.domain.enums import DealEntry, PositionMode, PositionState, Reason, Side
from apps.oms.domain.errors import (
    InvalidPositionId,
    InvalidQty,
    InvalidStrategyId,
    PositionCloseInProgress,
)
from apps.oms.domain.money import ZERO
from apps.oms.domain.positions import Deal, Position, apply_deal, realized_pnl
from apps.oms.domain.targets import validate_targets


@dataclass(frozen=True, slots=True)
class ClosePlan:
    """The reduce-only order a `close_position` command sends."""

    position_id: int
    symbol: str
    side: Side
    qty: Decimal
    strategy_id: int
    reduce_only: bool = True


def plan_close(
    position: Position,
    qty: Decimal | None = None,
    strategy_id: int | None = None,
    mode: PositionMode = PositionMode.HEDGE,
) -> ClosePlan:
    """Side opposite the position; qty defaults to open qty − pending close qty and may not
    exceed it (`invalid_qty`); nothing unreserved left → `position_close_in_progress`.
    strategy defaults to the position's (in strategy_netting it must be the position's)."""
    _require_open(position)
    if position.available_qty <= 0:
        raise PositionCloseInProgress(f"position {position.position_id} is fully reserved")
    qty = position.available_qty if qty is None else qty
    _check_reduce_qty(position, qty)
    strategy = position.strategy_id if strategy_id is None else strategy_id
    if mode is PositionMode.STRATEGY_NETTING and strategy != position.strategy_id:
        raise InvalidStrategyId(
            f"position {position.position_id} belongs to strategy {position.strategy_id}"
        )
    return ClosePlan(position.position_id, position.symbol, position.side.opposite, qty, strategy)


def reserve_close(position: Position, qty: Decimal) -> Position:
    """Reserve `qty` of an accepted reduce order: pending += qty, state `close_requested`.
    The store applies it as a conditional update (`qty - pending_close_qty >= :qty`)."""
    _require_open(position)
    _check_reduce_qty(position, qty)
    return replace(
        position,
        pending_close_qty=position.pending_close_qty + qty,
        state=PositionState.CLOSE_REQUESTED,
    )


def release_close(position: Position, qty: Decimal) -> Position:
    """Release the unfilled `qty` of a reduce order that ended; back to `open` when nothing is
    reserved and qty remains. Closed or merged positions are returned unchanged."""
    if not position.is_open:
        return position
    pending = max(ZERO, position.pending_close_qty - qty)
    state = PositionState.CLOSE_REQUESTED if pending > 0 else PositionState.OPEN
    return replace(position, pending_close_qty=pending, state=state)


def validate_reduce(position: Position, side: Side, qty: Decimal) -> None:
    """A reducing order on `position` (hedge `position_id = N`, opposite side) may not exceed its
    open qty minus pending close qty (`invalid_qty`)."""
    _require_open(position)
    if side is position.side:
        raise InvalidQty(f"a {side} order does not reduce {position.side} position")
    _check_reduce_qty(position, qty)


def check_reduce_only(target: Position | None, side: Side, qty: Decimal) -> None:
    """A `reduce_only` order must actually reduce the gateway target position."""
    if target is None:
        raise InvalidPositionId("reduce_only order has no open position to reduce")
    validate_reduce(target, side, qty)


def venue_reduce_only(spot: bool, side: Side, qty: Decimal, venue_net_qty: Decimal) -> bool:
    """May the venue's own `reduceOnly` flag be sent? Never on spot; otherwise only when the
    order also reduces the venue-side signed net position (sum of all open positions)."""
    if spot or venue_net_qty.is_zero():
        return False
    return side.sign * venue_net_qty < 0 and qty <= abs(venue_net_qty)


def venue_position_side(mode: PositionMode, side: Side, target: Position | None) -> str | None:
    """The venue position side (`long` / `short`) a hedge account's order opens or closes: the
    side of the gateway position it books to, its target's when it closes one (a sell on a long
    closes the venue's long side), its own direction's when it opens or adds. None in netting
    modes, where the venue nets as the books do and takes no side."""
    if mode is not PositionMode.HEDGE:
        return None
    booked = target.side if target is not None and target.is_open else side
    return "long" if booked is Side.BUY else "short"


def _require_open(position: Position) -> None:
    if not position.is_open:
        raise InvalidPositionId(f"position {position.position_id} is {position.state}")


def _check_reduce_qty(position: Position, qty: Decimal) -> None:
    if qty <= 0:
        raise InvalidQty("qty must be > 0")
    if qty > position.available_qty:
        raise InvalidQty(
            f"qty {qty} exceeds position {position.position_id} open qty {position.qty} "
            f"minus pending close {position.pending_close_qty}"
        )


@dataclass(frozen=True, slots=True)
class InternalResult:
    """Deals and the two positions after a close-by or a merge (a, b order as given)."""

    deals: tuple[Deal, Deal]
    positions: tuple[Position, Position]


def _internal_deal(
    position: Position,
    deal_id: int,
    qty: Decimal,
    price: Decimal,
    pnl: Decimal,
    entry: DealEntry,
    reason: Reason,
    at: datetime,
    side: Side,
) -> Deal:
    return Deal(
        deal_id=deal_id,
        account_id=position.account_id,
        order_id=None,
        position_id=position.position_id,
        symbol=position.symbol,
        side=side,
        qty=qty,
        price=price,
        fee=ZERO,
        fee_currency=None,
        pnl=pnl,
        entry=entry,
        leg=0,
        contract_size=position.contract_size,
        strategy_id=position.strategy_id,
        reason=reason,
        comment=None,
        reconciled=True,
        exchange_trade_id=None,
        executed_at=at,
        created_at=at,
    )


def _check_pair(a: Position, b: Position) -> None:
    if a.position_id == b.position_id:
        raise InvalidPositionId("the two positions must differ")
    _require_open(a)
    _require_open(b)
    same = (a.account_id, a.symbol, a.contract_size) == (b.account_id, b.symbol, b.contract_size)
    if not same:
        raise InvalidPositionId("positions must share account, symbol and contract size")


def close_by(
    a: Position, b: Position, at: datetime, ids: IdAllocator, qty: Decimal | None = None
) -> InternalResult:
    """MetaTrader close-by: two `out_by` deals at B's average. A realises
    (avg_B − avg_A) × qty × cs (negated for a short A) on A's strategy, B realises 0; remainders
    keep their averages. qty defaults to the smaller unreserved qty and may not exceed either."""
    _check_pair(a, b)
    if a.side is b.side:
        raise InvalidPositionId("close_by needs opposite sides")
    qty = min(a.available_qty, b.available_qty) if qty is None else qty
    _check_reduce_qty(a, qty)
    _check_reduce_qty(b, qty)
    price = b.avg_price
    pnl = realized_pnl(a.side, a.avg_price, price, qty, a.contract_size)
    deal_a = _internal_deal(
        a,
        ids.next_deal_id(),
        qty,
        price,
        pnl,
        DealEntry.OUT_BY,
        Reason.CLOSE_BY,
        at,
        a.side.opposite,
    )
    deal_b = _internal_deal(
        b,
        ids.next_deal_id(),
        qty,
        price,
        ZERO,
        DealEntry.OUT_BY,
        Reason.CLOSE_BY,
        at,
        b.side.opposite,
    )
    return InternalResult((deal_a, deal_b), (apply_deal(a, deal_a), apply_deal(b, deal_b)))


class StopMode(StrEnum):
    KEEP = "keep"
    CLEAR = "clear"
    SET = "set"


def merge_positions(
    source: Position,
    target: Position,
    at: datetime,
    ids: IdAllocator,
    stop_mode: StopMode = StopMode.KEEP,
    stop_loss: Decimal | None = None,
    stop_gain: Decimal | None = None,
) -> InternalResult:
    """Move all of `source` into `target` (same side): an `out` deal closing the source at its
    average (pnl 0) and an `in` deal adding that qty at that price to the target, both reason
    `merge`. The source becomes `merged`; its reservations move to the target with its orders.
    stop_mode: keep the target's targets, clear them, or set the given ones (validated)."""
    _check_pair(source, target)
    if source.side is not target.side:
        raise InvalidPositionId("merge needs positions on the same side")
    qty, price = source.qty, source.avg_price
    out = _internal_deal(
        source,
        ids.next_deal_id(),
        qty,
        price,
        ZERO,
        DealEntry.OUT,
        Reason.MERGE,
        at,
        source.side.opposite,
    )
    add = _internal_deal(
        target, ids.next_deal_id(), qty, price, ZERO, DealEntry.IN, Reason.MERGE, at, target.side
    )
    merged = apply_deal(replace(source, pending_close_qty=ZERO), out)
    grown = apply_deal(target, add)
    pending = grown.pending_close_qty + source.pending_close_qty
    state = PositionState.CLOSE_REQUESTED if pending > 0 else PositionState.OPEN
    grown = replace(grown, pending_close_qty=pending, state=state)
    if stop_mode is StopMode.CLEAR:
        grown = replace(grown, stop_loss=None, stop_gain=None)
    elif stop_mode is StopMode.SET:
        validate_targets(grown.side, stop_loss, stop_gain)
        grown = replace(grown, stop_loss=stop_loss, stop_gain=stop_gain)
    return InternalResult((out, add), (merged, grown))
