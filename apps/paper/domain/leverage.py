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
    use it. InvalidOrderError for a spot market or a value outside 1..the maximum of the tier
    of the open position's notional at entry (tier 1's, 100, when flat); InsufficientFundsError
    when the position's margin would no longer be covered."""
    market = venue.markets.get(symbol)
    if not market.is_swap:
        raise InvalidOrderError(f"leverage applies to swaps, not {symbol}")
    position = state.positions.get(symbol)
    notional = ZERO if position is None else (
        abs(position.qty) * market.contract_size * position.entry_price)
    highest = max_leverage_for(tiers, notional)
    if not 1 <= leverage <= highest:
        raise InvalidOrderError(f"leverage must be 1 to {highest}, got {leverage}")
    leverages = dict(state.leverages)
    leverages[symbol] = leverage
    after = replace(state, leverages=MappingProxyType(leverages))
    if position is not None:
        positions = dict(state.positions)
        positions[symbol] = replace(position, leverage=leverage)
        after = replace(after, positions=MappingProxyType(positions))
    ledger.check_solvent(state, after, market, dict(venue.by_symbol))
    return Outcome(after)
