"""Margin modes of paper perpetuals (pure): cross or isolated per account and symbol, what a
position's collateral is under each, its maintenance margin (by tier) and liquidation price.

Cross (the default): the settle wallet backs every position. Isolated: a position is backed by
its own margin only, |qty| x contract size x entry / leverage. Used margin (what `free` excludes)
is the same sum in both modes (`ledger.used`); the modes differ in the collateral a position's
liquidation price and margin ratio are computed from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from types import MappingProxyType

from apps.oms.domain.markets import Market
from apps.oms.domain.money import ZERO, money_context, quantize
from apps.paper.domain.errors import BadRequestError
from apps.paper.domain.matching import Outcome, Venue
from apps.paper.domain.state import CROSS, ISOLATED, MARGIN_MODES, VenueAccount, VenuePosition
from apps.paper.domain.tiers import Tier, maintenance_margin, tier_for


def set_margin_mode(state: VenueAccount, venue: Venue, symbol: str, mode: str) -> Outcome:
    """Set a swap's margin mode (`cross` / `isolated`) for this account. Setting the mode it
    already has changes nothing (and succeeds); changing it while the symbol has a position or
    open orders raises BadRequestError, as Binance refuses it (-4047, -4048)."""
    market = venue.markets.get(symbol)
    if not market.is_swap:
        raise BadRequestError(f"margin modes apply to swaps, not {symbol}")
    wanted = mode.lower() if isinstance(mode, str) else mode
    if wanted not in MARGIN_MODES:
        raise BadRequestError(f"margin mode must be cross or isolated, got {mode!r}")
    if state.margin_mode_for(symbol) == wanted:
        return Outcome(state)
    if any(p.qty != 0 for p in state.positions_of(symbol)):
        raise BadRequestError(
            f"margin mode of {symbol} cannot be changed while a position is open")
    if any(o.symbol == symbol for o in state.open_orders.values()):
        raise BadRequestError(
            f"margin mode of {symbol} cannot be changed while it has open orders")
    modes = dict(state.margin_modes)
    modes[symbol] = wanted
    return Outcome(replace(state, margin_modes=MappingProxyType(modes)))


def isolated_margin(position: VenuePosition, market: Market) -> Decimal:
    """An isolated position's own margin: |qty| x contract size x entry / leverage, 18 places."""
    with money_context():
        return quantize(abs(position.qty) * market.contract_size * position.entry_price
                        / position.leverage)  # fmt: skip


def collateral(position: VenuePosition, market: Market, mode: str, wallet: Decimal) -> Decimal:
    """What backs the position: its own margin when isolated, the settle wallet when cross."""
    return isolated_margin(position, market) if mode == ISOLATED else wallet


@dataclass(frozen=True, slots=True)
class Margins:
    """A position's margin figures at a mark (settle currency; `ratio` None when equity <= 0)."""

    mode: str
    collateral: Decimal
    initial: Decimal
    maintenance: Decimal
    maintenance_rate: Decimal  # the rate of the notional's tier
    unrealized: Decimal
    ratio: Decimal | None
    liquidation_price: Decimal | None


def margins(
    position: VenuePosition,
    market: Market,
    mark: Decimal,
    mode: str,
    wallet: Decimal,
    tiers: tuple[Tier, ...],
) -> Margins:
    """Initial margin (notional / leverage), maintenance by the tier of the notional at `mark`,
    margin ratio = maintenance / (collateral + unrealised) and the liquidation price."""
    with money_context():
        notional = abs(position.qty) * market.contract_size * mark
        unrealized = (mark - position.entry_price) * position.qty * market.contract_size
        backing = collateral(position, market, mode, wallet)
        maintenance = maintenance_margin(tiers, notional)
        equity = backing + unrealized
        return Margins(
            mode=mode if mode in MARGIN_MODES else CROSS,
            collateral=backing,
            initial=notional / position.leverage,
            maintenance=maintenance,
            maintenance_rate=tier_for(tiers, notional).maintenance_rate,
            unrealized=unrealized,
            ratio=quantize(maintenance / equity) if equity > 0 else None,
            liquidation_price=liquidation_price(position, market, backing, tiers),
        )


def liquidation_price(
    position: VenuePosition, market: Market, backing: Decimal, tiers: tuple[Tier, ...]
) -> Decimal | None:
    """The mark at which `backing` (the wallet when cross, the position's own margin when
    isolated) plus the position's unrealised PnL falls to its maintenance margin, the tier
    taken at the notional of that mark. Long: P = (S x entry - backing - cum) / (S x (1 - rate));
    short: P = (backing + S x entry + cum) / (S x (1 + rate)), S = |qty| x contract size.
    Quantised to 18 places; None when flat or when no positive price reaches it."""
    if position.qty == 0:
        return None
    with money_context():
        size = abs(position.qty) * market.contract_size
        best: tuple[Decimal, Decimal] | None = None  # (distance to its tier, price)
        for index, tier in enumerate(tiers):
            if position.qty > 0:
                if tier.maintenance_rate >= 1:
                    continue
                price = ((size * position.entry_price - backing - tier.maintenance_amount)
                         / (size * (1 - tier.maintenance_rate)))  # fmt: skip
            else:
                price = ((backing + size * position.entry_price + tier.maintenance_amount)
                         / (size * (1 + tier.maintenance_rate)))  # fmt: skip
            notional = size * price
            cap = None if index == len(tiers) - 1 else tier.max_notional
            distance = max(tier.min_notional - notional,
                           ZERO if cap is None else notional - cap, ZERO)  # fmt: skip
            if best is None or distance < best[0]:
                best = (distance, price)
        if best is None or best[1] <= 0:
            return None
        return quantize(best[1])
