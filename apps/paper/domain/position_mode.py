"""Position modes of a paper account (pure): one net position per swap (one-way) or a long and
a short position side by side (hedge), and which position side an order opens or closes.

The mode is the account's, as Binance's `dualSidePosition` is (Bybit's `switch-mode` is per
symbol or coin there; the served dialect applies it to the account). Changing it is refused
while any swap position or open order exists, as both exchanges refuse it; setting the mode
the account already has changes nothing (the dialects answer it with their own "no change").

In hedge mode an order names its side: buy LONG / sell SHORT open (or add to) that side,
sell LONG / buy SHORT close it and are reduce-only by construction (they never flip the side):
`rules.check_position_side` and `rules.closes`, which matching applies.
"""

from __future__ import annotations

from dataclasses import replace

from apps.paper.domain.errors import BadRequestError
from apps.paper.domain.matching import Outcome, Venue
from apps.paper.domain.state import POSITION_MODES, VenueAccount

POSITION_EXISTS = "position mode cannot be changed while a position is open"
ORDERS_EXIST = "position mode cannot be changed while there are open orders"


def set_position_mode(state: VenueAccount, venue: Venue, mode: str) -> Outcome:
    """Switch the account between `oneway` and `hedge`. BadRequestError for an unknown mode,
    and while any swap position is open (`POSITION_EXISTS`) or any swap order is open
    (`ORDERS_EXIST`); the mode it already has is a no-op."""
    if mode not in POSITION_MODES:
        raise BadRequestError(f"position mode must be oneway or hedge, got {mode!r}")
    if state.position_mode == mode:
        return Outcome(state)
    if any(p.qty != 0 for p in state.positions.values()):
        raise BadRequestError(POSITION_EXISTS)
    swaps = {s for s, m in venue.by_symbol.items() if m.is_swap}
    if any(o.symbol in swaps for o in state.open_orders.values()):
        raise BadRequestError(ORDERS_EXIST)
    flat = {k: p for k, p in state.positions.items() if p.qty != 0}
    return Outcome(replace(state, position_mode=mode, positions=flat))
