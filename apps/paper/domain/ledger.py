"""Balances, reservations and positions of one paper account.

Spot: `used` of a currency is what its open orders reserve, the orders of one reservation
group (the legs of an order list, of which at most one executes) once: the largest of their
reservations. Swaps (linear, cross or isolated margin, `margin.py`): `used` of the settle
currency also holds each position's margin, |qty| x contract size x entry / leverage (in both
modes).
Free = total - used. Fees are charged in the quote currency.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from apps.oms.domain.markets import Market
from apps.oms.domain.money import ZERO, quantize, to_plain
from apps.paper.domain.errors import InsufficientFundsError
from apps.paper.domain.state import BUY, PaperOrder, VenueAccount, VenueFill, VenuePosition


def used(state: VenueAccount, currency: str, markets: dict[str, Market]) -> Decimal:
    """Reserved by open orders plus position margin, in `currency`. A reservation group holds
    the largest reservation of its open orders (they share it: only one of them executes)."""
    held = ZERO
    groups: dict[str, Decimal] = {}
    for o in state.open_orders.values():
        if o.reserve_currency != currency:
            continue
        if o.reserve_group is None:
            held += o.reserved
        else:
            groups[o.reserve_group] = max(groups.get(o.reserve_group, ZERO), o.reserved)
    if groups:
        held += sum(groups.values(), ZERO)
    for position in state.positions.values():
        market = markets.get(position.symbol)
        if market is not None and market.settle == currency and position.qty != 0:
            held += position_margin(position, market)
    return held


def position_margin(position: VenuePosition, market: Market) -> Decimal:
    return abs(position.qty) * market.contract_size * position.entry_price / position.leverage


def reservation(
    market: Market, side: str, qty: Decimal, price: Decimal, leverage: int, reduce_only: bool
) -> tuple[Decimal, str]:
    """What a resting order of `qty` at `price` holds: amount and currency.

    Covers the worst case of its fills (limit price, highest fee rate), so a later fill can never
    take a balance below zero.
    """
    notional = qty * market.contract_size * price
    if market.is_swap:
        if reduce_only:
            return ZERO, market.quote
        return notional / leverage + notional * market.max_fee_rate, market.quote
    if side == BUY:
        return notional * (1 + market.max_fee_rate), market.quote
    return qty, market.base


def release(order: PaperOrder) -> PaperOrder:
    return replace(order, reserved=ZERO)


def apply_fill(state: VenueAccount, market: Market, fill: VenueFill) -> VenueAccount:
    """Move money for one fill: spot swaps base and quote; swaps update the position of the
    fill's position side (the net one in one-way mode, its own side in hedge mode)."""
    balances = dict(state.balances)
    balances[market.quote] = balances.get(market.quote, ZERO) - fill.fee
    if not market.is_swap:
        signed = fill.qty if fill.side == BUY else -fill.qty
        balances[market.base] = balances.get(market.base, ZERO) + signed
        cash = -fill.cost if fill.side == BUY else fill.cost
        balances[market.quote] = balances[market.quote] + cash
        return replace(state, balances=balances)
    leverage = state.leverage_for(market.symbol)
    old = state.position(market.symbol, fill.position_side) or VenuePosition(
        market.symbol, leverage=leverage, position_side=fill.position_side)
    position, pnl = fold_position(old, market, fill)
    balances[market.quote] = balances[market.quote] + pnl
    positions = dict(state.positions)
    positions[position.key] = position
    return replace(state, balances=balances, positions=positions)


def fold_position(old: VenuePosition, market: Market, fill: VenueFill) -> tuple[VenuePosition, Decimal]:
    """Apply a fill to a net position; returns the new position and the realised PnL.

    Same direction re-averages the entry by qty; the opposite direction realises
    (price - entry) x closed qty x contract size (sign of the old position) and any excess opens
    a new position at the fill price.
    """
    signed = fill.qty if fill.side == BUY else -fill.qty
    if old.qty == 0 or (old.qty > 0) == (signed > 0):
        qty = old.qty + signed
        entry = quantize((abs(old.qty) * old.entry_price + fill.qty * fill.price) / abs(qty))
        return replace(old, qty=qty, entry_price=entry, updated_ms=fill.timestamp_ms), ZERO
    closing = min(abs(signed), abs(old.qty))
    direction = 1 if old.qty > 0 else -1
    pnl = quantize((fill.price - old.entry_price) * closing * market.contract_size * direction)
    qty = old.qty + signed
    entry = old.entry_price if qty != 0 and (qty > 0) == (old.qty > 0) else fill.price
    if qty == 0:
        entry = ZERO
    new = replace(
        old,
        qty=qty,
        entry_price=entry,
        realized_pnl=old.realized_pnl + pnl,
        updated_ms=fill.timestamp_ms,
    )
    return new, pnl


def check_solvent(
    before: VenueAccount, after: VenueAccount, market: Market, markets: dict[str, Market]
) -> None:
    """Refuse a change that leaves a spot balance or a grown swap margin uncovered."""
    currencies = (market.quote,) if market.is_swap else (market.base, market.quote)
    for currency in currencies:
        free = after.total(currency) - used(after, currency, markets)
        if market.is_swap:
            grew = used(after, currency, markets) > used(before, currency, markets)
            if grew and free < 0:
                raise InsufficientFundsError(
                    f"insufficient {currency} margin: free {to_plain(quantize(free))}")
        elif after.total(currency) < 0 or free < 0:
            raise InsufficientFundsError(
                f"insufficient {currency}: needs {to_plain(quantize(-free))} more than the free "
                "balance"
            )

