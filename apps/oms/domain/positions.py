"""Deals and positions: a position is the fold of its deals (quantity-weighted open price,
realised PnL at the unchanged average, contract size in every PnL, 18-place half-even rounding).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from apps.oms.domain.enums import DealEntry, PositionState, Reason, Side
from apps.oms.domain.errors import BookError
from apps.oms.domain.money import ZERO, money_context, quantize

ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Deal:
    """One immutable execution (domain.md → Deals); `pnl` is realised, gross of fee, in quote."""

    deal_id: int
    account_id: int
    order_id: int | None
    position_id: int
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str | None
    pnl: Decimal
    entry: DealEntry
    leg: int
    contract_size: Decimal
    strategy_id: int
    reason: str
    comment: str | None
    reconciled: bool
    exchange_trade_id: str | None
    executed_at: datetime
    created_at: datetime
    # the venue's side of the fill (`taker` / `maker`; None: not reported, or an internal deal)
    taker_or_maker: str | None = None

    @property
    def signed_qty(self) -> Decimal:
        return self.side.sign * self.qty

    @property
    def dedupe_key(self) -> tuple[str, int] | None:
        """`(exchange_trade_id, leg)`: unique per account; internal deals have none."""
        return None if self.exchange_trade_id is None else (self.exchange_trade_id, self.leg)

    @property
    def fee_in_quote(self) -> Decimal:
        """Fee valued in quote: a base-coin fee is worth fee × price; others count at face value."""
        if self.fee_currency is not None and self.fee_currency == base_currency(self.symbol):
            with money_context():
                return quantize(self.fee * self.price)
        return self.fee


@dataclass(frozen=True, slots=True)
class Position:
    """Open exposure; every economic field is the fold of the position's deals."""

    position_id: int
    account_id: int
    symbol: str
    strategy_id: int
    side: Side
    qty: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    fee: Decimal
    contract_size: Decimal
    state: PositionState
    reason: str
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    comment: str | None = None
    stop_loss: Decimal | None = None
    stop_gain: Decimal | None = None
    pending_close_qty: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        return self.state.is_open

    @property
    def is_external(self) -> bool:
        return self.reason == Reason.EXTERNAL

    @property
    def signed_qty(self) -> Decimal:
        return self.side.sign * self.qty

    @property
    def available_qty(self) -> Decimal:
        """Open qty not yet reserved by reduce orders (what a new close may still take)."""
        return self.qty - self.pending_close_qty

    def unrealized_pnl(self, price: Decimal) -> Decimal:
        """(price − avg) × signed qty × contract size, quantised."""
        with money_context():
            return quantize((price - self.avg_price) * self.signed_qty * self.contract_size)

    def notional(self, price: Decimal) -> Decimal:
        with money_context():
            return quantize(self.qty * price * self.contract_size)


def base_currency(symbol: str) -> str:
    """`BTC/USDT:USDT` → `BTC` (CCXT unified symbol)."""
    return symbol.split("/", 1)[0]


def realized_pnl(
    side: Side, avg_price: Decimal, price: Decimal, qty: Decimal, contract_size: Decimal
) -> Decimal:
    """PnL of reducing a `side` position by `qty` at `price`: (price − avg) × qty × cs, sign-flipped
    for a short; quantised to 18 places, half-even."""
    with money_context():
        return quantize((price - avg_price) * qty * contract_size * side.sign)


def average_price(qty: Decimal, avg_price: Decimal, add_qty: Decimal, price: Decimal) -> Decimal:
    """Quantity-weighted average after adding `add_qty` at `price`."""
    with money_context():
        return quantize((qty * avg_price + add_qty * price) / (qty + add_qty))


def open_position(deal: Deal) -> Position:
    """The position created by an opening (`in`) deal."""
    if deal.entry is not DealEntry.IN or deal.qty <= 0:
        raise BookError(f"deal {deal.deal_id} cannot open a position")
    if not deal.pnl.is_zero():
        raise BookError(f"opening deal {deal.deal_id} carries pnl {deal.pnl}")
    return Position(
        position_id=deal.position_id,
        account_id=deal.account_id,
        symbol=deal.symbol,
        strategy_id=deal.strategy_id,
        side=deal.side,
        qty=deal.qty,
        avg_price=quantize(deal.price),
        realized_pnl=ZERO,
        fee=deal.fee_in_quote,
        contract_size=deal.contract_size,
        state=PositionState.OPEN,
        reason=deal.reason,
        opened_at=deal.executed_at,
        updated_at=deal.executed_at,
        comment=deal.comment,
    )


def apply_deal(position: Position | None, deal: Deal) -> Position:
    """Apply one deal. Same side increases and re-averages; opposite side reduces at the unchanged
    average and realises pnl; reaching zero closes (or marks `merged` for a merge deal). A deal
    of quantity 0 is a cash deal (a funding payment): it adds its pnl and fee and nothing else.
    Raises BookError if the deal belongs elsewhere, crosses zero or its pnl disagrees."""
    if position is None:
        return open_position(deal)
    _check_belongs(position, deal)
    with money_context():
        fee = position.fee + deal.fee_in_quote
        if deal.qty.is_zero():  # a cash deal (funding): pnl and fee only, exposure unchanged
            return replace(position, realized_pnl=position.realized_pnl + deal.pnl, fee=fee,
                           updated_at=deal.executed_at)  # fmt: skip
        if deal.side is position.side:
            if not deal.pnl.is_zero():
                raise BookError(f"increasing deal {deal.deal_id} carries pnl {deal.pnl}")
            avg = average_price(position.qty, position.avg_price, deal.qty, deal.price)
            return replace(
                position,
                qty=position.qty + deal.qty,
                avg_price=avg,
                fee=fee,
                updated_at=deal.executed_at,
            )
        if deal.qty > position.qty:
            raise BookError(f"deal {deal.deal_id} crosses zero on position {position.position_id}")
        pnl = realized_pnl(
            position.side, position.avg_price, deal.price, deal.qty, position.contract_size
        )
        if pnl != deal.pnl:
            raise BookError(f"deal {deal.deal_id} pnl {deal.pnl} != fold {pnl}")
        qty = position.qty - deal.qty
        pending = min(position.pending_close_qty, qty)
        state, closed_at = _state_after(qty, pending, deal)
        return replace(
            position,
            qty=qty,
            realized_pnl=position.realized_pnl + pnl,
            fee=fee,
            pending_close_qty=pending,
            updated_at=deal.executed_at,
            state=state,
            closed_at=closed_at,
        )


def _check_belongs(position: Position, deal: Deal) -> None:
    if deal.position_id != position.position_id or deal.symbol != position.symbol:
        raise BookError(f"deal {deal.deal_id} does not belong to position {position.position_id}")
    if not position.is_open:
        raise BookError(f"position {position.position_id} is {position.state}")
    if deal.contract_size != position.contract_size:
        raise BookError(f"deal {deal.deal_id} contract size differs from its position")


def _state_after(
    qty: Decimal, pending: Decimal, deal: Deal
) -> tuple[PositionState, datetime | None]:
    if qty.is_zero():
        merged = deal.reason == Reason.MERGE
        return (PositionState.MERGED if merged else PositionState.CLOSED), deal.executed_at
    return (PositionState.CLOSE_REQUESTED if pending > 0 else PositionState.OPEN), None


def fold(deals: Iterable[Deal]) -> Position:
    """The position of one `position_id` rebuilt from its deals in booking order; a repeated
    `(exchange_trade_id, leg)` or `deal_id` is skipped (a duplicate changes nothing)."""
    position: Position | None = None
    seen: set[object] = set()
    for deal in deals:
        key = deal.dedupe_key or ("deal", deal.deal_id)
        if key in seen:
            continue
        seen.add(key)
        position = apply_deal(position, deal)
    if position is None:
        raise BookError("no deals to fold")
    return position


def rebuild(stored: Position, deals: Iterable[Deal]) -> Position:
    """Recompute `stored` from its deals, keeping the fields deals do not carry (targets,
    comment, pending close reservation, and `updated_at` when such a change came after the
    last deal); equal to `stored` when the cache is right."""
    folded = fold(deals)
    pending = min(stored.pending_close_qty, folded.qty)
    rebuilt = replace(
        folded,
        updated_at=max(folded.updated_at, stored.updated_at),
        comment=stored.comment,
        stop_loss=stored.stop_loss,
        stop_gain=stored.stop_gain,
        pending_close_qty=pending,
    )
    if rebuilt.is_open:
        state = PositionState.CLOSE_REQUESTED if pending > 0 else PositionState.OPEN
        rebuilt = replace(rebuilt, state=state)
    return rebuilt


def rebuild_all(
    deals: Iterable[Deal], stored: Mapping[int, Position] | None = None
) -> dict[int, Position]:
    """Every position of an account from its deal history (deals in booking order). With the
    stored cache, non-deal fields are kept (see `rebuild`): the result must equal the cache."""
    grouped: dict[int, list[Deal]] = {}
    for deal in deals:
        grouped.setdefault(deal.position_id, []).append(deal)
    cache = stored or {}
    return {
        pid: rebuild(cache[pid], group) if pid in cache else fold(group)
        for pid, group in grouped.items()
    }


def open_positions(positions: Mapping[int, Position]) -> list[Position]:
    return [p for p in positions.values() if p.is_open]
