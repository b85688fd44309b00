"""Leverage of a paper account per swap (pure): what `set_leverage` changes and checks."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from apps.oms.domain.paper import ledger
from apps.oms.domain.paper.errors import InvalidOrderError
from apps.oms.domain.paper.matching import Outcome, Venue
from apps.oms.domain.paper.state import AccountState

MAX_LEVERAGE = 125


def set_leverage(state: AccountState, venue: Venue, symbol: str, leverage: int) -> Outcome:
    """Set a swap's leverage (1..MAX_LEVERAGE) for this account: new reservations and the
    open position's margin use it. InvalidOrderError for a spot market or a value out of range;
    InsufficientFundsError when the position's margin would no longer be covered."""
    market = venue.markets.get(symbol)
    if not market.is_swap:
        raise InvalidOrderError(f"leverage applies to swaps, not {symbol}")
    if not 1 <= leverage <= MAX_LEVERAGE:
        raise InvalidOrderError(f"leverage must be 1 to {MAX_LEVERAGE}, got {leverage}")
    leverages = dict(state.leverages)
    leverages[symbol] = leverage
    after = replace(state, leverages=MappingProxyType(leverages))
    position = state.positions.get(symbol)
    if position is not None:
        positions = dict(state.positions)
        positions[symbol] = replace(position, leverage=leverage)
        after = replace(after, positions=MappingProxyType(positions))
    ledger.check_solvent(state, after, market, dict(venue.by_symbol))
    return Outcome(after)
