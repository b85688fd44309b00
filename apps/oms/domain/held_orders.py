"""Orders the gateway holds because the venue lacks them: the pure decisions.

A held order (the parent) is an OMS order that is armed, not on the venue. Each round, the
worker that owns its account reads a reference price (`last` or `mark`) from the venue and asks
`observe` what to do: nothing, persist a moved trailing trigger, fire (send the child order) or
expire. The worker writes the answer in one transaction (the child's command with the firing),
so everything here is a value in and a value out: no I/O, `Decimal` only.

Trigger directions (NautilusTrader's, and the venues'):

- stop (`trigger_price` / `stop_price`): a buy fires when the price rises to the trigger
  (price >= trigger), a sell when it falls to it (price <= trigger);
- if-touched (`take_profit_price`): a buy fires when the price falls to the trigger, a sell when
  it rises to it;
- trailing stop: a stop whose trigger follows the price at a distance (`trailing_amount`, or
  `trailing_percent` of the price) and never moves back: a sell's trigger is the highest price
  seen minus the distance, a buy's the lowest plus it (NautilusTrader's
  `TrailingStopCalculator`, offset types PRICE and BASIS_POINTS). With an activation price
  (CCXT's `trailingTriggerPrice`) it starts trailing only once the price reaches it (a sell when
  price >= activation, a buy when price <= activation).
- time limit (a bracket's `time_limit` exit): the clock fires it, at its `fire_at`, whatever
  the price (Hummingbot's triple barrier: a position is closed after N seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from apps.oms.domain.enums import OrderStatus, Reason, Side
from apps.oms.domain.orders import OrderState

HUNDRED = Decimal(100)


class HeldKind(StrEnum):
    STOP = "stop"  # stop-market / stop-limit
    IF_TOUCHED = "if_touched"  # market-if-touched / limit-if-touched
    TRAILING = "trailing"  # trailing stop (market or limit child)
    TIME = "time"  # a time limit: fires at its `fire_at`, whatever the price


class HeldState(StrEnum):
    ARMED = "armed"  # watching prices (a time limit: the clock)
    #: its trigger was crossed; its child waits until the sibling resting on the venue (an
    #: OCO's limit leg) has ended, so that both never fill
    FIRING = "firing"
    FIRED = "fired"  # the child order is enqueued; the parent follows it
    DONE = "done"  # the parent ended with its child
    CANCELED = "canceled"  # cancelled before firing
    EXPIRED = "expired"  # its good-till-date passed before firing


class Reference(StrEnum):
    LAST = "last"
    MARK = "mark"


class Emulation(StrEnum):
    """Who executes an order's conditional part: the venue, or the gateway holding it."""

    VENUE = "venue"
    GATEWAY = "gateway"


class Decision(StrEnum):
    NONE = "none"
    MOVED = "moved"  # a trailing trigger moved or activated: persist before anything else
    FIRE = "fire"
    EXPIRE = "expire"


@dataclass(frozen=True, slots=True)
class Held:
    """The armed state of a held order (one `held_orders` row)."""

    kind: HeldKind
    side: Side
    #: the price that fires it; a trailing stop's moves (None until it is activated)
    trigger_price: Decimal | None = None
    trailing_amount: Decimal | None = None
    trailing_percent: Decimal | None = None
    activation_price: Decimal | None = None
    activated: bool = True
    expire_at: datetime | None = None
    #: a trailing trigger's rounding (the market's price increment); None: exact
    price_increment: Decimal | None = None
    state: HeldState = HeldState.ARMED
    #: when a time limit fires (None for the price-triggered kinds)
    fire_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Step:
    decision: Decision
    held: Held


def new_trailing(
    side: Side, amount: Decimal | None, percent: Decimal | None,
    activation_price: Decimal | None = None, price_increment: Decimal | None = None,
    expire_at: datetime | None = None,
) -> Held:  # fmt: skip
    """A trailing stop as accepted: not trailing yet (its first price sets the trigger, or
    its activation price does)."""
    if (amount is None) == (percent is None):
        raise ValueError("a trailing stop trails by an amount or by a percent, one of them")
    return Held(HeldKind.TRAILING, side, None, amount, percent, activation_price,
                activated=activation_price is None, expire_at=expire_at,
                price_increment=price_increment)  # fmt: skip


def trailing_trigger(held: Held, price: Decimal) -> Decimal:
    """The trigger a trailing stop would have at `price`: price ∓ the offset (a percent is of
    `price`), rounded to the price increment (half-even, as Nautilus's `Price` does)."""
    if held.trailing_amount is not None:
        offset = held.trailing_amount
    else:
        assert held.trailing_percent is not None  # noqa: S101 - new_trailing checks it
        offset = price * held.trailing_percent / HUNDRED
    raw = price - offset if held.side is Side.SELL else price + offset
    if held.price_increment is None:
        return raw
    steps = (raw / held.price_increment).to_integral_value(rounding=ROUND_HALF_EVEN)
    return steps * held.price_increment


def _improves(side: Side, old: Decimal | None, new: Decimal) -> bool:
    """A sell's trigger only rises, a buy's only falls."""
    return old is None or (new > old if side is Side.SELL else new < old)


def _activates(held: Held, price: Decimal) -> bool:
    assert held.activation_price is not None  # noqa: S101 - only asked when one is set
    if held.side is Side.SELL:
        return price >= held.activation_price
    return price <= held.activation_price


def crossed(kind: HeldKind, side: Side, trigger: Decimal, price: Decimal) -> bool:
    """Whether `price` fires a trigger of this kind and side (see the module docstring)."""
    rising = (side is Side.BUY) == (kind is not HeldKind.IF_TOUCHED)
    return price >= trigger if rising else price <= trigger


def expired(held: Held, now: datetime) -> bool:
    return held.expire_at is not None and now >= held.expire_at


def new_time_limit(side: Side, fire_at: datetime) -> Held:
    """A time limit as armed: it fires at `fire_at`."""
    return Held(HeldKind.TIME, side, fire_at=fire_at)


def observe(held: Held, price: Decimal | None, now: datetime) -> Step:
    """What an armed order does at `price` (None: no price now) and `now`: its expiry first,
    then a time limit's time, a trailing stop's activation and trigger move, then the crossing
    of its trigger."""
    if held.state is not HeldState.ARMED:
        return Step(Decision.NONE, held)
    if expired(held, now):
        return Step(Decision.EXPIRE, replace(held, state=HeldState.EXPIRED))
    if held.kind is HeldKind.TIME:
        due = held.fire_at is not None and now >= held.fire_at
        return Step(Decision.FIRE, replace(held, state=HeldState.FIRED)) if due \
            else Step(Decision.NONE, held)
    if price is None:
        return Step(Decision.NONE, held)
    moved = held
    if held.kind is HeldKind.TRAILING:
        moved = _trail(held, price)
    if moved.trigger_price is not None and crossed(moved.kind, moved.side, moved.trigger_price,
                                                   price):
        return Step(Decision.FIRE, replace(moved, state=HeldState.FIRED))
    return Step(Decision.MOVED if moved != held else Decision.NONE, moved)


def _trail(held: Held, price: Decimal) -> Held:
    if not held.activated:
        if not _activates(held, price):
            return held
        held = replace(held, activated=True)
    candidate = trailing_trigger(held, price)
    if _improves(held.side, held.trigger_price, candidate):
        return replace(held, trigger_price=candidate)
    return held


def fire_request_id(parent_order_id: int, n: int = 1) -> str:
    """Idempotency key of a held order's `n`th child: one child per firing (the unique
    `(account_id, request_id)` of the commands makes a second firing write nothing). A parent
    has a second child only when its first never reached the venue (`refires`)."""
    return f"held:{parent_order_id}:fire" if n == 1 else f"held:{parent_order_id}:fire:{n}"


def refires(child: OrderState) -> bool:
    """Whether a fired parent sends a new child instead of ending with this one: the child
    ended REJECTED as never placed (its outcome unknown after a crash or a timeout, then not
    found by client order id for the whole lookup window) and filled nothing.

    The trigger was crossed and nothing reached the venue, so following the child would lose
    the trigger (a stop-loss left unarmed by a worker's crash). Sending again is safe: an
    order written ahead goes out only within the first half of the lookup window (its send
    deadline, `ports.send_deadline`), so once the window has passed with nothing found the
    first child can no longer be placed; the new child is a new order with a client order id
    of its own. Any other end (a venue's refusal, a cancel, an expiry, a fill) ends the parent
    as its child."""
    return (child.status is OrderStatus.REJECTED
            and child.reason == Reason.OUTCOME_UNKNOWN_NOT_FOUND
            and child.filled_qty == 0)  # fmt: skip


def expiry_request_id(order_id: int) -> str:
    """Idempotency key of the cancel a good-till-date order gets at its expiry."""
    return f"held:{order_id}:expire"


def kind_of(trigger_price: Decimal | None, stop_price: Decimal | None,
            take_profit_price: Decimal | None, trailing: bool) -> HeldKind | None:
    """The conditional kind of a new order's fields (None: a plain order)."""
    if trailing:
        return HeldKind.TRAILING
    if take_profit_price is not None:
        return HeldKind.IF_TOUCHED
    if trigger_price is not None or stop_price is not None:
        return HeldKind.STOP
    return None


def follow_child(parent: OrderState, child: OrderState) -> OrderState:
    """The parent's state as its child's: a held parent is SUBMITTED while armed and while its
    child is working, then shows its child's fills and final status (FILLED, CANCELED,
    EXPIRED, REJECTED). A projection of the child, so it is set whole, not walked through the
    transition table (a parent that was SUBMITTED shows a child REJECTED by the venue)."""
    if child.status in (OrderStatus.PENDING_SUBMIT, OrderStatus.SUBMITTED):
        return parent
    if not parent.status.is_open:
        return parent  # it ended already (a cancel recorded first)
    return replace(parent, status=child.status, filled_qty=child.filled_qty,
                   avg_fill_price=child.avg_fill_price, outcome_unknown=False)


def child_qty(qty: Decimal, reserves: bool, available: Decimal) -> Decimal:
    """The child's qty: the parent's, or what is left to reduce when the child reserves on a
    position (a reduce-only exit never opens the other side); 0: nothing to send."""
    if not reserves:
        return qty
    return max(Decimal(0), min(qty, available))
