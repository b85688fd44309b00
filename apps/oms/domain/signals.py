"""Signals from alerting tools, the pure part: the order size from a notional, stop-loss and
take-profit prices from percentages, and the freshness window of a signal's timestamp.

Prices and quantities are Decimal; percentages are percent (`2.5` = 2.5 %), not fractions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from apps.oms.domain.enums import Side
from apps.oms.domain.errors import DomainError, InvalidQty
from apps.oms.domain.money import money_context, quantize

HUNDRED = Decimal(100)
#: quantity step used when the venue's step is not known at intake (CCXT venues round again)
DEFAULT_QTY_STEP = Decimal("0.00000001")


class SignalRefused(DomainError):
    """A signal that cannot become an order as sent (422 with this code)."""

    code = "validation_error"


@dataclass(frozen=True, slots=True)
class Targets:
    stop_gain: Decimal | None
    stop_loss: Decimal | None


def qty_from_notional(
    notional: Decimal, price: Decimal, contract_size: Decimal, step: Decimal | None
) -> Decimal:
    """Quantity worth at most `notional` (quote currency) at `price`: notional / (price ×
    contract size), rounded down to the quantity step, so the order never exceeds the notional."""
    if notional <= 0 or price <= 0 or contract_size <= 0:
        raise InvalidQty("notional, price and contract size must be > 0")
    unit = step if step is not None and step > 0 else DEFAULT_QTY_STEP
    with money_context():
        raw = notional / (price * contract_size)
        qty = (raw / unit).to_integral_value(rounding=ROUND_DOWN) * unit
    if qty <= 0:
        raise InvalidQty(
            f"notional {notional} buys less than one quantity step ({unit}) at {price}"
        )
    return qty


def _to_tick(value: Decimal, tick: Decimal | None) -> Decimal:
    """Half-even to the tick; without a tick, to the stored 18 decimals."""
    if tick is None or tick <= 0:
        return quantize(value)
    with money_context():
        return (value / tick).to_integral_value(rounding=ROUND_HALF_EVEN) * tick


def targets_from_pct(
    side: Side,
    reference: Decimal,
    tp_pct: Decimal | None,
    sl_pct: Decimal | None,
    tick: Decimal | None = None,
) -> Targets:
    """Take-profit and stop-loss prices `tp_pct` / `sl_pct` percent away from `reference` (the
    limit price, or the market quote for a market order), rounded half-even to the price tick.

    A buy (long) takes profit above and stops below: gain = ref × (1 + tp/100), loss =
    ref × (1 − sl/100); a sell mirrors it. `sl_pct` must be below 100 (a stop at or below 0 is
    no stop); both must be > 0. A target that rounds onto the reference is refused later by
    `targets.validate_targets`."""
    if reference <= 0:
        raise SignalRefused("the reference price must be > 0")
    for name, pct in (("tp_pct", tp_pct), ("sl_pct", sl_pct)):
        if pct is not None and pct <= 0:
            raise SignalRefused(f"{name} must be > 0", field=name)
    if sl_pct is not None and sl_pct >= HUNDRED:
        raise SignalRefused("sl_pct must be below 100", field="sl_pct")
    sign = side.sign
    with money_context():
        gain = None if tp_pct is None else reference * (1 + sign * tp_pct / HUNDRED)
        loss = None if sl_pct is None else reference * (1 - sign * sl_pct / HUNDRED)
    return Targets(
        None if gain is None else _to_tick(gain, tick),
        None if loss is None else _to_tick(loss, tick),
    )


def freshness(sent_at: datetime, now: datetime, window: timedelta) -> str | None:
    """None when the signal's timestamp is within `window` of `now` (either side, to allow for
    clock skew); otherwise `signal_expired` (too old) or `signal_from_future` (too far ahead)."""
    if sent_at < now - window:
        return "signal_expired"
    if sent_at > now + window:
        return "signal_from_future"
    return None
