"""Funding of paper perpetuals (pure): when it is due and what it moves on the venue.

At every funding time (a multiple of the interval since the epoch) each open swap position of an
account pays `qty x contract size x mark x rate` in its settle currency: a long pays a positive
rate, a short receives it (negative rates the other way round). The venue is one-way, so its
wallet moves by the net position's payment; the books split the same rule over their positions
(`apps.oms.domain.funding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from apps.oms.domain.money import ZERO, money_context, quantize
from apps.oms.domain.paper.matching import Outcome, Venue
from apps.oms.domain.paper.state import AccountState


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """One position's payment at one funding time: `amount` < 0 is paid, > 0 received."""

    symbol: str
    funding_ms: int
    rate: Decimal
    mark: Decimal
    qty: Decimal  # signed contracts
    amount: Decimal
    currency: str


def last_funding_ms(now_ms: int, interval_seconds: int) -> int | None:
    """The latest funding time at or before `now_ms` (None when funding is off)."""
    if interval_seconds <= 0:
        return None
    interval_ms = interval_seconds * 1000
    return (now_ms // interval_ms) * interval_ms


def payment(signed_qty: Decimal, contract_size: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """What a position of `signed_qty` contracts receives (negative: pays), 18 places."""
    with money_context():
        return quantize(-signed_qty * contract_size * mark * rate)


def apply_funding(
    state: AccountState,
    venue: Venue,
    funding_ms: int,
    marks: Mapping[str, Decimal],
    rates: Mapping[str, Decimal],
) -> tuple[Outcome, tuple[FundingPayment, ...]]:
    """Charge or credit every open swap position with a mark and a rate; the rest unchanged."""
    balances = dict(state.balances)
    payments: list[FundingPayment] = []
    for symbol, position in sorted(state.positions.items()):
        market = venue.by_symbol.get(symbol)
        if market is None or not market.is_swap or position.qty == 0:
            continue
        if symbol not in marks or symbol not in rates:
            continue
        amount = payment(position.qty, market.contract_size, marks[symbol], rates[symbol])
        currency = market.settle or market.quote
        balances[currency] = balances.get(currency, ZERO) + amount
        payments.append(FundingPayment(symbol, funding_ms, rates[symbol], marks[symbol],
                                       position.qty, amount, currency))  # fmt: skip
    if not payments:
        return Outcome(state), ()
    return Outcome(replace(state, balances=balances)), tuple(payments)
