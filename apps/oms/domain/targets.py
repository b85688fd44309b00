"""Stop-loss / take-profit targets: validation against a side and a reference price, the trigger
decision (a long watches the bid, a short the ask) and the idempotent trigger request id.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

# UNSET and Unset are named here too: importers of the targets' change take them from here
from apps.oms.domain.changes import UNSET as UNSET
from apps.oms.domain.changes import Unset as Unset
from apps.oms.domain.enums import Side, TriggerKind
from apps.oms.domain.errors import InvalidTargets
from apps.oms.domain.positions import Position


def validate_targets(
    side: Side,
    stop_loss: Decimal | None,
    stop_gain: Decimal | None,
    reference_price: Decimal | None = None,
) -> None:
    """Both > 0; for a long stop < target, and with a reference price stop < ref < target;
    mirrored for a short. Without a reference price only the ordering is checked (the worker
    re-checks at fill, where a crossed target fires at once)."""
    for name, value in (("stop_loss", stop_loss), ("stop_gain", stop_gain)):
        if value is not None and value <= 0:
            raise InvalidTargets(f"{name} must be > 0")
    low, high = (stop_loss, stop_gain) if side is Side.BUY else (stop_gain, stop_loss)
    if low is not None and high is not None and low >= high:
        raise InvalidTargets(f"stop_loss and stop_gain are on the wrong sides for a {side}")
    if reference_price is None:
        return
    if low is not None and low >= reference_price:
        raise InvalidTargets(f"{_name(side, low=True)} must be below the reference price")
    if high is not None and high <= reference_price:
        raise InvalidTargets(f"{_name(side, low=False)} must be above the reference price")


def _name(side: Side, *, low: bool) -> str:
    return "stop_loss" if (side is Side.BUY) == low else "stop_gain"


def trigger(position: Position, bid: Decimal | None, ask: Decimal | None) -> TriggerKind | None:
    """Which target fires now, if any: a long on the bid (stop when bid ≤ stop_loss, target when
    bid ≥ stop_gain), a short on the ask (stop when ask ≥ stop_loss, target when ask ≤
    stop_gain). Stop-loss wins if both would fire. Closed or empty positions never fire."""
    price = bid if position.side is Side.BUY else ask
    if price is None or not position.is_open or position.qty <= 0:
        return None
    sign = position.side.sign
    if position.stop_loss is not None and sign * (price - position.stop_loss) <= 0:
        return TriggerKind.STOP_LOSS
    if position.stop_gain is not None and sign * (price - position.stop_gain) >= 0:
        return TriggerKind.TAKE_PROFIT
    return None


def trigger_request_id(position_id: int, kind: TriggerKind, n: int) -> str:
    """Idempotency key of the n-th trigger of a kind on a position."""
    return f"trg:{position_id}:{kind}:{n}"


def change_targets(
    position: Position,
    stop_loss: Decimal | Unset | None = UNSET,
    stop_gain: Decimal | Unset | None = UNSET,
    reference_price: Decimal | None = None,
) -> Position:
    """`position_change`: given values overwrite (None clears), UNSET leaves; validated."""
    new_loss = position.stop_loss if isinstance(stop_loss, Unset) else stop_loss
    new_gain = position.stop_gain if isinstance(stop_gain, Unset) else stop_gain
    validate_targets(position.side, new_loss, new_gain, reference_price)
    return replace(position, stop_loss=new_loss, stop_gain=new_gain)
