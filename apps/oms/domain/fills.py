"""Which position a venue fill goes to, per position mode, and the deals and position changes it
produces: open, increase, reduce, close, netting reversal (two legs) and hedge overfill.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from apps.oms.domain.book import AccountBook, Fill, IdAllocator, Instrument, OrderRef
from apps.oms.domain.enums import DealEntry, PositionMode, Reason, Side
from apps.oms.domain.errors import BookError, InvalidPositionId
from apps.oms.domain.money import ZERO, money_context, quantize
from apps.oms.domain.positions import Deal, Position, apply_deal, realized_pnl


@dataclass(frozen=True, slots=True)
class Alert:
    """Something an operator must see (emitted as an outbox event by the pipeline): a fill
    (`trade_id`) exceeded position `source_position_id` by `qty` and opened `position_id`.
    Its text names the positions by the ids the caller gives (`message`: a record
    transaction names positions it opened by their real ids only once they are written)."""

    code: str
    position_id: int
    trade_id: str
    source_position_id: int
    qty: Decimal

    def message(self, name: Callable[[int], int] = int) -> str:
        return (f"fill {self.trade_id} exceeds position {name(self.source_position_id)} by "
                f"{self.qty}; opened position {name(self.position_id)}")  # fmt: skip


@dataclass(frozen=True, slots=True)
class FillResult:
    """What one fill did. `positions` are the changed positions in their final state;
    `order_position_id` is the position the order now points at (store it on the order)."""

    book: AccountBook
    deals: tuple[Deal, ...] = ()
    positions: tuple[Position, ...] = ()
    order_position_id: int | None = None
    alerts: tuple[Alert, ...] = ()
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class _Booking:
    book: AccountBook
    fill: Fill
    order: OrderRef
    instrument: Instrument
    ids: IdAllocator
    now: datetime

    def deal(self, position_id: int, qty: Decimal, fee: Decimal, leg: int, **kw: object) -> Deal:
        fields: dict[str, object] = {
            "deal_id": self.ids.next_deal_id(),
            "account_id": self.book.account_id,
            "order_id": self.order.order_id,
            "position_id": position_id,
            "symbol": self.fill.symbol,
            "side": self.fill.side,
            "qty": qty,
            "price": self.fill.price,
            "fee": fee,
            "fee_currency": self.fill.fee_currency,
            "pnl": ZERO,
            "entry": DealEntry.IN,
            "leg": leg,
            "contract_size": self.instrument.contract_size,
            "strategy_id": 0 if self.order.external else self.order.strategy_id,
            "reason": self.order.reason,
            "comment": self.order.comment,
            "reconciled": self.fill.reconciled and not self.order.external,
            "exchange_trade_id": self.fill.exchange_trade_id,
            "executed_at": self.fill.executed_at,
            "created_at": self.now,
            "taker_or_maker": self.fill.taker_or_maker,
        }
        fields.update(kw)
        return Deal(**fields)  # type: ignore[arg-type]


def apply_fill(
    book: AccountBook,
    fill: Fill,
    order: OrderRef,
    instrument: Instrument,
    ids: IdAllocator,
    now: datetime,
) -> FillResult:
    """Book one venue trade. Duplicate `(exchange_trade_id, leg 0)` → no-op result.
    hedge / external orders: `order.position_id` (0 = a new position); an excess beyond that
    position opens an opposite one (reason `overfill`, alert). netting / strategy_netting: the
    key's managed position; crossing zero books leg 0 `out` + leg 1 `in` on a new position,
    fee split pro rata. The book must hold the order's position and, when
    `consults_open_positions`, every open position of the symbol."""
    instrument.check_supported()
    fill.validate()
    if fill.symbol != instrument.symbol:
        raise BookError(f"fill for {fill.symbol} given instrument {instrument.symbol}")
    if (fill.exchange_trade_id, 0) in book.booked_trades:
        return FillResult(book=book, duplicate=True)
    ctx = _Booking(book, fill, order, instrument, ids, now)
    target, reverses = _select_target(book, order, fill.symbol)
    qty = fill.booked_qty(instrument)
    if target is None:
        stale = book.positions.get(order.position_id)
        if stale is not None and stale.side is not fill.side and not reverses:
            # a reducing order whose position is already gone: its fill is all excess
            deal, alert = _excess(ctx, stale, qty, fill.fee, 0)
            return _finish(ctx, [(None, deal)], (alert,))
        return _finish(ctx, [(None, ctx.deal(ids.next_position_id(), qty, fill.fee, 0))], ())
    if target.side is fill.side:
        return _finish(ctx, [(target, ctx.deal(target.position_id, qty, fill.fee, 0))], ())
    if qty <= target.qty:
        return _finish(ctx, [(target, _reducing_deal(ctx, target, qty, fill.fee, 0))], ())
    return _cross(ctx, target, qty, reverses)


def consults_open_positions(mode: PositionMode, external: bool = False) -> bool:
    """Whether booking (or previewing) an order looks beyond the order's own position: only
    netting keys do. Hedge and external orders use `order.position_id` alone, so their book
    needs only that position; loading every open position of the symbol for them would cost
    O(open positions) per fill in hedge mode, where every trade opens one."""
    return not external and mode is not PositionMode.HEDGE


def _select_target(book: AccountBook, order: OrderRef, symbol: str) -> tuple[Position | None, bool]:
    """(target position or None for a new one, whether crossing zero is a netting reversal)."""
    # any id but 0 names a position: stored rows have positive ids, and a batch that has not
    # written a position yet knows it by a negative stand-in id
    explicit = book.positions.get(order.position_id) if order.position_id != 0 else None
    if explicit is not None and explicit.symbol != symbol:
        raise InvalidPositionId(f"position {order.position_id} is not on {symbol}")
    dedicated = not consults_open_positions(book.position_mode, order.external)
    if dedicated and order.position_id != 0 and explicit is None:
        raise InvalidPositionId(f"position {order.position_id} is not in the book")
    if explicit is not None and not explicit.is_open:
        explicit = None
    if dedicated or (explicit is not None and explicit.is_external):
        return explicit, False
    return book.net_position(symbol, order.strategy_id), True


def _reducing_deal(ctx: _Booking, target: Position, qty: Decimal, fee: Decimal, leg: int) -> Deal:
    pnl = realized_pnl(target.side, target.avg_price, ctx.fill.price, qty, target.contract_size)
    return ctx.deal(target.position_id, qty, fee, leg, pnl=pnl, entry=DealEntry.OUT)


def _cross(ctx: _Booking, target: Position, qty: Decimal, reverses: bool) -> FillResult:
    """Close `target` (leg 0) and open the remainder on a new position (leg 1)."""
    with money_context():
        fee_out = quantize(ctx.fill.fee * target.qty / qty)
        rest = qty - target.qty
    out = _reducing_deal(ctx, target, target.qty, fee_out, 0)
    if reverses:
        leg1 = ctx.deal(ctx.ids.next_position_id(), rest, ctx.fill.fee - fee_out, 1)
        return _finish(ctx, [(target, out), (None, leg1)], ())
    leg1, alert = _excess(ctx, target, rest, ctx.fill.fee - fee_out, 1)
    return _finish(ctx, [(target, out), (None, leg1)], (alert,))


def _excess(
    ctx: _Booking, source: Position, qty: Decimal, fee: Decimal, leg: int
) -> tuple[Deal, Alert]:
    """A fill beyond an explicitly targeted position opens an opposite position: reason
    `overfill` (or `external`, strategy 0, for an external position or order), with an alert."""
    external = source.is_external or ctx.order.external
    reason = Reason.EXTERNAL if external else Reason.OVERFILL
    new_id = ctx.ids.next_position_id()
    deal = ctx.deal(
        new_id, qty, fee, leg, reason=reason, strategy_id=0 if external else ctx.order.strategy_id
    )
    alert = Alert("position_overfill", new_id, ctx.fill.exchange_trade_id, source.position_id, qty)
    return deal, alert


def _finish(
    ctx: _Booking, steps: list[tuple[Position | None, Deal]], alerts: tuple[Alert, ...]
) -> FillResult:
    positions: list[Position] = []
    for before, deal in steps:
        after = apply_deal(_consume_reservation(ctx.order, before, deal), deal)
        if deal.entry is DealEntry.IN:
            after = _copy_targets(after, ctx.order)
        positions.append(after)
    deals = tuple(deal for _, deal in steps)
    trades = frozenset(k for k in (d.dedupe_key for d in deals) if k is not None)
    book = ctx.book.with_positions(tuple(positions), trades)
    return FillResult(book, deals, tuple(positions), positions[-1].position_id, alerts)


def _consume_reservation(order: OrderRef, position: Position | None, deal: Deal) -> Position | None:
    """A reserving close order's fill uses up its reservation on the position it reduces."""
    if position is None or not order.reserves_close or deal.entry is DealEntry.IN:
        return position
    return replace(position, pending_close_qty=max(ZERO, position.pending_close_qty - deal.qty))


def _copy_targets(position: Position, order: OrderRef) -> Position:
    """Targets given on the order overwrite the position's; absent ones stay."""
    if order.stop_loss is None and order.stop_gain is None:
        return position
    return replace(
        position,
        stop_loss=order.stop_loss if order.stop_loss is not None else position.stop_loss,
        stop_gain=order.stop_gain if order.stop_gain is not None else position.stop_gain,
    )


@dataclass(frozen=True, slots=True)
class Preview:
    target: Position | None
    position_qty: Decimal
    opens_position: bool


def preview_target(
    book: AccountBook, order: OrderRef, symbol: str, side: Side, qty: Decimal
) -> Preview:
    """Where an order of `side`/`qty` on `symbol` would book, for acceptance checks (risk,
    reduce-only): the current target (None = a new position), its signed qty, and whether a
    new position would be opened (no target, or an excess crossing zero)."""
    target, _ = _select_target(book, order, symbol)
    if target is None:
        return Preview(None, ZERO, opens_position=True)
    crosses = side is not target.side and qty > target.qty
    return Preview(target, target.signed_qty, opens_position=crosses)
