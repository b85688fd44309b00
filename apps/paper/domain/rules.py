"""Order validation and trigger rules of the paper venue (pure)."""

from __future__ import annotations

from decimal import Decimal

from apps.oms.domain.markets import Market
from apps.paper.domain.book import Quote
from apps.paper.domain.errors import InvalidOrderError, PositionSideError
from apps.paper.domain.markets import check_cost, check_price, check_qty
from apps.paper.domain.state import (
    BOTH,
    BUY,
    FALL,
    HEDGE,
    LIMIT,
    LONG,
    MARKET,
    ONE_WAY,
    RISE,
    SELL,
    SHORT,
    TIME_IN_FORCE,
    OrderRequest,
)

TRIGGER_KINDS = ("stop_loss", "take_profit", "trigger")


def validate(
    request: OrderRequest,
    market: Market,
    quote: Quote,
    amend: bool = False,
    position_qty: Decimal | None = None,
) -> None:
    """Refuse malformed orders: side/type/time in force, qty and price steps, minimums.

    `position_qty` is the account's signed position in the market (swaps): a reduce-only order
    that closes all of it is exempt from the minimum cost, as on real derivative venues, so a
    remainder below the minimum (left by a netting reversal) can always be closed."""
    if request.side not in (BUY, SELL) or request.type not in (MARKET, LIMIT):
        raise InvalidOrderError(f"unsupported side/type {request.side}/{request.type}")
    if request.time_in_force not in TIME_IN_FORCE:
        raise InvalidOrderError(f"unsupported timeInForce {request.time_in_force}")
    check_qty(market, request.qty)
    if request.type == LIMIT:
        if request.price is None:
            raise InvalidOrderError("a limit order needs a price")
        check_price(market, request.price)
    elif request.post_only or request.time_in_force == "PO":
        raise InvalidOrderError("a market order cannot be post-only")
    if request.reduce_only and not market.is_swap:
        raise InvalidOrderError("reduceOnly is only supported on swaps")
    if request.trigger_price is not None:
        validate_trigger(request, market, quote, amend)
    if closes_whole_position(request, position_qty):
        return
    reference = request.price or request.trigger_price or quote.last
    check_cost(market, request.qty, reference)


def closes_whole_position(request: OrderRequest, position_qty: Decimal | None) -> bool:
    """A reduce-only order on the opposite side of the position, at least as large as it."""
    if not request.reduce_only or not position_qty:
        return False
    opposite = (position_qty > 0) == (request.side == SELL)
    return opposite and request.qty >= abs(position_qty)


def validate_trigger(request: OrderRequest, market: Market, quote: Quote, amend: bool) -> None:
    assert request.trigger_price is not None  # noqa: S101 - checked by the caller
    check_price(market, request.trigger_price, "triggerPrice")
    if request.trigger_kind not in TRIGGER_KINDS:
        raise InvalidOrderError(f"unsupported trigger kind {request.trigger_kind}")
    direction = trigger_direction(request, quote.last)
    if crossed(direction, request.trigger_price, quote.last) and not amend:
        raise InvalidOrderError(
            f"triggerPrice {request.trigger_price} would trigger immediately at {quote.last}"
        )


def trigger_direction(request: OrderRequest, last: Decimal) -> str:
    """Which way the price must move to fire: stops follow the adverse move, take-profits the
    favourable one, a plain trigger whichever side of the current price it was placed on."""
    if request.trigger_kind == "stop_loss":
        return RISE if request.side == BUY else FALL
    if request.trigger_kind == "take_profit":
        return FALL if request.side == BUY else RISE
    assert request.trigger_price is not None  # noqa: S101 - only called for trigger orders
    return RISE if request.trigger_price > last else FALL


def crossed(direction: str | None, trigger: Decimal | None, last: Decimal) -> bool:
    if trigger is None:
        return False
    return last >= trigger if direction == RISE else last <= trigger


def check_position_side(position_mode: str, position_side: str, is_swap: bool) -> None:
    """Refuse a position side the account's mode does not take (`PositionSideError`): BOTH in
    one-way mode and on spot, LONG or SHORT in hedge mode."""
    wanted = (LONG, SHORT) if is_swap and position_mode == HEDGE else (BOTH,)
    if position_side not in wanted:
        mode = HEDGE if wanted != (BOTH,) else ONE_WAY if is_swap else "spot"
        raise PositionSideError(
            f"position side {position_side} does not match the {mode} position mode "
            f"(expected {' or '.join(wanted)})")


def closes(side: str, position_side: str) -> bool:
    """Whether an order of `side` closes its hedge-mode `position_side` (sell LONG, buy
    SHORT); never for BOTH, where the direction decides against the net position."""
    return (position_side == LONG and side == SELL) or (position_side == SHORT and side == BUY)
