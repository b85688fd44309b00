"""Order lifecycle: the one transition table of domain.md, fill accumulation (fills always win,
overfills booked with an alert) and the unknown-outcome flag.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from apps.oms.domain.enums import OrderStatus, Reason
from apps.oms.domain.errors import InvalidOrderState, InvalidQty
from apps.oms.domain.money import ZERO, money_context, quantize

S = OrderStatus

# from-state -> reachable states. `None` is "new". Self-loops on terminal states and the
# CANCELED/EXPIRED -> FILLED edges exist only for fills (fills always win).
TRANSITIONS: dict[OrderStatus | None, frozenset[OrderStatus]] = {
    None: frozenset({S.PENDING_SUBMIT}),
    S.PENDING_SUBMIT: frozenset(
        {S.SUBMITTED, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.CANCELED, S.EXPIRED}
    ),
    S.SUBMITTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.REJECTED: frozenset({S.PARTIALLY_FILLED, S.FILLED}),
    S.CANCELED: frozenset({S.CANCELED, S.FILLED}),
    S.EXPIRED: frozenset({S.EXPIRED, S.FILLED}),
    S.FILLED: frozenset({S.FILLED}),
}
_FILL_ONLY = frozenset(
    {
        (S.CANCELED, S.CANCELED),
        (S.CANCELED, S.FILLED),
        (S.EXPIRED, S.EXPIRED),
        (S.EXPIRED, S.FILLED),
        (S.FILLED, S.FILLED),
    }
)


def can_transition(current: OrderStatus | None, new: OrderStatus, *, by_fill: bool = False) -> bool:
    """Is `current → new` in the table? Edges marked fill-only need `by_fill`."""
    if new not in TRANSITIONS.get(current, frozenset()):
        return False
    return by_fill or (current, new) not in _FILL_ONLY


def transition(
    current: OrderStatus | None, new: OrderStatus, *, by_fill: bool = False
) -> OrderStatus:
    """The only way an order status changes; anything outside the table is `invalid_order_state`."""
    if not can_transition(current, new, by_fill=by_fill):
        raise InvalidOrderState(f"order cannot go from {current} to {new}")
    return new


@dataclass(frozen=True, slots=True)
class OrderState:
    """The lifecycle part of an order: status, cumulative fills and the unknown-outcome flag."""

    qty: Decimal
    status: OrderStatus = S.PENDING_SUBMIT
    filled_qty: Decimal = ZERO
    avg_fill_price: Decimal | None = None
    outcome_unknown: bool = False
    reason: str = Reason.API
    venue_filled_qty: Decimal = ZERO

    @property
    def remaining_qty(self) -> Decimal:
        return max(ZERO, self.qty - self.filled_qty)

    @property
    def unbooked_qty(self) -> Decimal:
        """Qty the venue reports filled for which no trade record was booked yet."""
        return max(ZERO, self.venue_filled_qty - self.filled_qty)


@dataclass(frozen=True, slots=True)
class OrderFillResult:
    order: OrderState
    overfilled: bool
    late: bool


def new_order(qty: Decimal, reason: str = Reason.API) -> OrderState:
    """A command accepted: (new) → PENDING_SUBMIT; qty must be > 0."""
    if qty <= 0:
        raise InvalidQty("qty must be > 0")
    return OrderState(qty=qty, status=transition(None, S.PENDING_SUBMIT), reason=reason)


def apply_order_fill(order: OrderState, qty: Decimal, price: Decimal) -> OrderFillResult:
    """Accumulate one trade: filled_qty += qty, avg_fill_price re-weighted (18 places).
    Full → FILLED; partial → PARTIALLY_FILLED, except CANCELED/EXPIRED keep their state.
    `late` = the order was terminal; `overfilled` = filled beyond qty (raise `order_overfilled`)."""
    if qty <= 0 or price <= 0:
        raise InvalidQty("fill qty and price must be > 0")
    with money_context():
        filled = order.filled_qty + qty
        previous = order.avg_fill_price or ZERO
        avg = quantize((order.filled_qty * previous + qty * price) / filled)
    if filled >= order.qty:
        status = S.FILLED
    elif order.status in (S.CANCELED, S.EXPIRED, S.FILLED):
        status = order.status
    else:
        status = S.PARTIALLY_FILLED
    late = order.status in (S.CANCELED, S.EXPIRED, S.REJECTED)
    new = replace(
        order,
        status=transition(order.status, status, by_fill=True),
        filled_qty=filled,
        avg_fill_price=avg,
        outcome_unknown=False,
    )
    return OrderFillResult(new, overfilled=filled > order.qty, late=late)


def apply_venue_status(
    order: OrderState, status: OrderStatus, cum_filled_qty: Decimal | None = None
) -> OrderState:
    """A venue order-status report. It moves the state and records the venue's cumulative
    filled qty (`venue_filled_qty`, monotonic) but never `filled_qty`, which only booked trades
    raise, so an execution is never counted twice. FILLED with more filled at the venue than
    booked keeps the order open (the sync books the missing trades, then FILLED comes again).
    Reports the table refuses (stale or out of order, such as SUBMITTED after
    PARTIALLY_FILLED) leave the state unchanged."""
    venue_filled = order.venue_filled_qty
    if cum_filled_qty is not None:
        venue_filled = max(venue_filled, cum_filled_qty)
    if status is S.FILLED and venue_filled > order.filled_qty:
        # filled at the venue, its trades not booked yet (an answer without them: Binance
        # USDⓈ-M's order response has none): open until the sync books them, then FILLED
        status = S.PARTIALLY_FILLED if order.filled_qty > ZERO else S.SUBMITTED
    if status is not order.status and can_transition(order.status, status):
        return replace(order, status=status, outcome_unknown=False, venue_filled_qty=venue_filled)
    return replace(order, venue_filled_qty=venue_filled)


def cancel_before_send(order: OrderState) -> OrderState:
    """The queued send was cancelled: PENDING_SUBMIT → CANCELED, otherwise invalid_order_state."""
    if order.status is not S.PENDING_SUBMIT:
        raise InvalidOrderState(f"order is {order.status}, not queued")
    return replace(order, status=transition(order.status, S.CANCELED))


def check_cancellable(order: OrderState) -> None:
    """A cancel of a terminal order is an error item (`invalid_order_state`), never skipped."""
    if not order.status.is_open:
        raise InvalidOrderState(f"order is {order.status}")


def mark_outcome_unknown(order: OrderState) -> OrderState:
    """The placement call timed out or its worker died: stays PENDING_SUBMIT, flagged."""
    if order.status is not S.PENDING_SUBMIT:
        raise InvalidOrderState(f"order is {order.status}, not PENDING_SUBMIT")
    return replace(order, outcome_unknown=True)


def resolve_not_found(order: OrderState) -> OrderState:
    """The lookup window passed with nothing found: REJECTED, reason outcome_unknown_not_found."""
    if not order.outcome_unknown:
        raise InvalidOrderState("order outcome is not unknown")
    return replace(
        order,
        status=transition(order.status, S.REJECTED),
        outcome_unknown=False,
        reason=Reason.OUTCOME_UNKNOWN_NOT_FOUND,
    )
