"""Gross and net exposure across a user's accounts (issue 53, the credit limit), pure.

A user's **exposure** is what their accounts (those a key of the user may trade on) hold and
are working: each open position at its notional at the mark (qty × mark × contract size; the
average entry price stands in for a symbol without a mark) and each working order that is not
reduce-only at its remaining notional (remaining qty × its price × contract size), signed by
side (buy +, sell −).

    gross          = Σ |notional|                   over every position and working order
    net(symbol)    = Σ signed notional              over those of the symbol

An order that opens or increases exposure is refused when, with it, the gross exceeds
`max_gross_exposure` (`gross_exposure`), or the symbol's net exceeds `max_net_exposure` in
size and the order moves it away from zero (`net_exposure`): an order that brings the net back
towards zero always passes the net rule. Closing orders meet neither. A change of a working
order (`check_change`) meets them only when it raises the order's notional, and is then judged
as the order it becomes: the exposure without the order as it was, with it as it will be.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from apps.oms.domain.enums import Side
from apps.oms.domain.errors import RiskBlocked
from apps.oms.domain.money import ZERO, money_context, quantize
from apps.oms.domain.risk import plain


@dataclass(frozen=True, slots=True)
class ExposureLimits:
    """A user's limits (None: no limit)."""

    max_gross: Decimal | None = None
    max_net: Decimal | None = None

    @property
    def checks_nothing(self) -> bool:
        return self.max_gross is None and self.max_net is None


@dataclass(frozen=True, slots=True)
class Holding:
    """A position or a working order, as exposure counts it."""

    symbol: str
    side: Side
    notional: Decimal  # ≥ 0


@dataclass(frozen=True, slots=True)
class Exposure:
    gross: Decimal = ZERO
    net: Mapping[str, Decimal] = field(default_factory=dict)

    def with_order(self, symbol: str, side: Side, notional: Decimal) -> Exposure:
        """The exposure once an order of `notional` (≥ 0) is working too."""
        net = dict(self.net)
        net[symbol] = net.get(symbol, ZERO) + side.sign * notional
        return replace(self, gross=self.gross + notional, net=net)


def exposure_of(holdings: Iterable[Holding]) -> Exposure:
    exposure = Exposure()
    for h in holdings:
        exposure = exposure.with_order(h.symbol, h.side, h.notional)
    return exposure


def notional(qty: Decimal, price: Decimal, contract_size: Decimal) -> Decimal:
    with money_context():
        return quantize(abs(qty) * price * contract_size)


def check_exposure(
    limits: ExposureLimits, exposure: Exposure, symbol: str, side: Side, order_notional: Decimal
) -> None:
    """Raise `RiskBlocked` (scope `user`) when the order takes the user over a limit."""
    after = exposure.with_order(symbol, side, order_notional)
    if limits.max_gross is not None and after.gross > limits.max_gross:
        raise _refusal("gross_exposure", limits.max_gross, after.gross, symbol)
    if limits.max_net is not None:
        before, now = abs(exposure.net.get(symbol, ZERO)), abs(after.net[symbol])
        if now > limits.max_net and now > before:
            raise _refusal("net_exposure", limits.max_net, now, symbol)


def check_change(
    limits: ExposureLimits, exposure: Exposure, symbol: str, side: Side, before: Decimal,
    after: Decimal,
) -> None:  # fmt: skip
    """Raise `RiskBlocked` when changing a working order from notional `before` to `after`
    (both ≥ 0, `before` as `exposure` counts it) takes the user over a limit; a change that
    does not raise the notional always passes (a user over a lowered limit may still shrink)."""
    if after <= before:
        return
    check_exposure(limits, exposure.with_order(symbol, side, -before), symbol, side, after)


def _refusal(rule: str, limit: Decimal, value: Decimal, symbol: str) -> RiskBlocked:
    return RiskBlocked(
        rule, f"order refused by risk rule {rule} (user): {plain(value)} against the limit "
        f"{plain(limit)}", "user", limit=plain(limit), value=plain(value), symbol=symbol,
    )  # fmt: skip
