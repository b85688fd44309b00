"""Leverage tiers of the paper perpetuals (pure): maintenance margin by position notional.

One table for every paper swap, derived from the maintenance rate `r` (`paper.maintenance_margin_rate`,
0.5 %) and the venue's maximum leverage (100). Tier k covers notionals `floor_k <= N < cap_k`
(quote currency) with rate `r x multiplier_k`, maximum leverage `100 / multiplier_k` and a
maintenance amount `cum_k` (Binance's `cum`) that keeps the maintenance margin continuous:

    maintenance(N) = N x rate_k - cum_k,   cum_1 = 0,
    cum_k = cum_(k-1) + floor_k x (rate_k - rate_(k-1))

A notional beyond the last cap stays in the last tier. Units: notional and amounts in the settle
currency, rates as fractions.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from apps.oms.domain.money import ZERO

MAX_LEVERAGE = 100
DEFAULT_MAINTENANCE_RATE = Decimal("0.005")
#: (floor, cap, multiplier of the maintenance rate); max leverage = MAX_LEVERAGE / multiplier
TABLE: tuple[tuple[int, int, int], ...] = (
    (0, 250_000, 1),
    (250_000, 1_000_000, 2),
    (1_000_000, 5_000_000, 5),
    (5_000_000, 20_000_000, 10),
    (20_000_000, 100_000_000, 25),
)


@dataclass(frozen=True, slots=True)
class Tier:
    """One notional bracket: `min_notional <= N < max_notional`."""

    tier: int
    min_notional: Decimal
    max_notional: Decimal
    maintenance_rate: Decimal
    max_leverage: int
    maintenance_amount: Decimal  # `cum`: subtracted from N x rate

    def maintenance(self, notional: Decimal) -> Decimal:
        return notional * self.maintenance_rate - self.maintenance_amount


def leverage_tiers(
    maintenance_rate: Decimal = DEFAULT_MAINTENANCE_RATE, max_leverage: int = MAX_LEVERAGE
) -> tuple[Tier, ...]:
    """The tier table for a base maintenance rate (see the module docstring). Invariants: tiers
    are contiguous from 0, rates rise and max leverages fall with the tier, and
    `maintenance` is continuous at every boundary."""
    tiers: list[Tier] = []
    cum, previous_rate = ZERO, ZERO
    for index, (floor, cap, multiplier) in enumerate(TABLE, start=1):
        rate = maintenance_rate * multiplier
        cum += Decimal(floor) * (rate - previous_rate)
        tiers.append(Tier(index, Decimal(floor), Decimal(cap), rate,
                          max(1, max_leverage // multiplier), cum))  # fmt: skip
        previous_rate = rate
    return tuple(tiers)


DEFAULT_TIERS = leverage_tiers()


def tier_for(tiers: tuple[Tier, ...], notional: Decimal) -> Tier:
    """The tier of an absolute notional (the last one beyond its cap)."""
    size = abs(notional)
    for tier in tiers:
        if size < tier.max_notional:
            return tier
    return tiers[-1]


def maintenance_margin(tiers: tuple[Tier, ...], notional: Decimal) -> Decimal:
    """Maintenance margin of a position of absolute `notional` (at the mark): N x rate - cum of
    its tier; never negative, continuous and non-decreasing in N."""
    size = abs(notional)
    return max(ZERO, tier_for(tiers, size).maintenance(size))


def max_leverage_for(tiers: tuple[Tier, ...], notional: Decimal) -> int:
    """The highest leverage allowed for a position of `notional` (its tier's)."""
    return tier_for(tiers, notional).max_leverage
