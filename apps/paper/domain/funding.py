"""Funding of paper perpetuals (pure): when it is due and what it moves on the venue.

At every funding time (a multiple of the interval since the epoch) each open swap position of an
account pays `qty x contract size x mark x rate` in its settle currency: a long pays a positive
rate, a short receives it (negative rates the other way round). The venue is one-way, so its
wallet moves by the net position's payment; the books split the same rule over their positions
(`apps.oms.domain.funding`, which holds the payment rule both use).

A funding time is charged once: the account keeps the latest one it charged and its marks
(`VenueAccount.last_funding`). Asked again for that time, the venue charges nothing and answers
with the marks it used; asked for an earlier time, it charges nothing and answers with no
marks. So the books, which learn of a charge only from the venue's answer, can book it after a
crash between the venue's charge and their own record, at the marks really used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from apps.oms.domain.funding import payment
from apps.oms.domain.money import ZERO
from apps.paper.domain.matching import Outcome, Venue
from apps.paper.domain.state import FundingMark, VenueAccount


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


def apply_funding(
    state: VenueAccount,
    venue: Venue,
    funding_ms: int,
    marks: Mapping[str, Decimal],
    rates: Mapping[str, Decimal],
) -> tuple[Outcome, tuple[FundingPayment, ...], Mapping[str, Decimal]]:
    """Charge or credit every open swap position with a mark and a rate; the rest unchanged.
    Returns the outcome, the payments and the marks the funding time was charged at: the kept
    ones when `funding_ms` was charged before (no payment then), none when a later time was."""
    done = state.last_funding
    if done is not None and funding_ms <= done.funding_ms:
        return Outcome(state), (), (done.marks if funding_ms == done.funding_ms else {})
    balances = dict(state.balances)
    payments: list[FundingPayment] = []
    for _key, position in sorted(state.positions.items()):  # each side of a hedge on its own
        symbol = position.symbol
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
    kept = FundingMark(funding_ms, dict(marks))
    return Outcome(replace(state, balances=balances, last_funding=kept)), tuple(payments), marks
