"""Leverage of a paper account per swap (pure): what `set_leverage` changes and checks."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from apps.oms.domain.money import ZERO
from apps.paper.domain import ledger
from apps.paper.domain.errors import InvalidOrderError
from apps.paper.domain.matching import Outcome, Venue
from apps.paper.domain.state import VenueAccount
from apps.paper.domain.tiers import DEFAULT_TIERS, Tier, max_leverage_for

MAX_LEVERAGE = DEFAULT_TIERS[0].max_leverage  # tier 1's, what the markets advertise (100)


def set_leverage(
    state: VenueAccount,
    venue: Venue,
    symbol: str,
    leverage: int,
    tiers: tuple[Tier, ...] = DEFAULT_TIERS,
) -> Outcome:
    """Set a swap's leverage for this account: new reservations and the open position's margin
    use it (both sides in hedge mode). InvalidOrderError for a spot market or a value outside 1..the maximum of the tier
    of the open position's notional at entry (tier 1's, 100, when flat); InsufficientFundsError
    when the position's margin would no longer be covered."""
    market = venue.markets.get(symbol)
    if not market.is_swap:
        raise InvalidOrderError(f"leverage applies to swaps, not {symbol}")
    held = state.positions_of(symbol)  # the net position, or both sides in hedge mode
    notional = sum((abs(p.qty) * market.contract_size * p.entry_price for p in held), ZERO)
    highest = max_leverage_for(tiers, notional)
    if not 1 <= leverage <= highest:
        raise InvalidOrderError(f"leverage must be 1 to {highest}, got {leverage}")
    leverages = dict(state.leverages)
    leverages[symbol] = leverage
    after = replace(state, leverages=MappingProxyType(leverages))
    if held:
        positions = dict(state.positions)
        positions.update((p.key, replace(p, leverage=leverage)) for p in held)
        after = replace(after, positions=MappingProxyType(positions))
    ledger.check_solvent(state, after, market, dict(venue.by_symbol))
    return Outcome(after)
