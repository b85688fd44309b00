"""Position modes of the paper engine: one-way (one net position per swap) and hedge (a long
and a short position side by side, each with its own entry, margin, PnL and reduce-only
closing), and the refusals of switching while positions or orders exist."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.paper.domain import ledger
from apps.paper.domain.book import Quote, make_quote
from apps.paper.domain.errors import BadRequestError, PositionSideError
from apps.paper.domain.funding import apply_funding
from apps.paper.domain.leverage import set_leverage
from apps.paper.domain.matching import Venue, adjust_position, apply_price, place_order
from apps.paper.domain.position_mode import ORDERS_EXIST, POSITION_EXISTS, set_position_mode
from apps.paper.domain.rules import closes
from apps.paper.domain.state import (
    BOTH,
    CANCELED,
    CLOSED,
    HEDGE,
    LONG,
    ONE_WAY,
    OPEN,
    SHORT,
    OrderRequest,
    VenueAccount,
    new_account,
    position_key,
)

D = Decimal
SWAP = "BTC/USDT:USDT"
VENUE = Venue()  # no spread, unlimited levels: market orders fill at the price
MARKET = VENUE.markets.get(SWAP)


def quote(price: str, seq: int = 0) -> Quote:
    return make_quote(MARKET, D(price), VENUE.book, seq=seq)


def hedged() -> VenueAccount:
    return set_position_mode(new_account(1), VENUE, HEDGE).state


def market(state: VenueAccount, side: str, qty: str, position_side: str, price: str,
           reduce_only: bool = False) -> tuple[VenueAccount, str]:  # fmt: skip
    request = OrderRequest(SWAP, side, "market", D(qty), reduce_only=reduce_only,
                           position_side=position_side)  # fmt: skip
    outcome = place_order(state, request, VENUE, quote(price), 0)
    return outcome.state, outcome.orders[0].status


def test_hedge_mode_holds_a_long_and_a_short_side_by_side() -> None:
    state, _ = market(hedged(), "buy", "1", LONG, "50000")
    state, _ = market(state, "sell", "0.5", SHORT, "50000")
    long, short = state.position(SWAP, LONG), state.position(SWAP, SHORT)
    assert long is not None
    assert short is not None
    assert (long.qty, long.entry_price) == (D(1), D(50000))
    assert (short.qty, short.entry_price) == (D("-0.5"), D(50000))
    assert state.position(SWAP) is None  # no net position in hedge mode
    # margin per side, both held: (1 + 0.5) x 50,000 / 10
    assert ledger.used(state, "USDT", dict(VENUE.by_symbol)) == D(7500)


def test_each_side_closes_on_its_own_with_its_own_pnl() -> None:
    state, _ = market(hedged(), "buy", "1", LONG, "50000")
    state, _ = market(state, "sell", "0.5", SHORT, "50000")
    wallet = state.total("USDT")
    state, status = market(state, "sell", "1", LONG, "51000")  # closes the long: +1000
    assert status == CLOSED
    long, short = state.position(SWAP, LONG), state.position(SWAP, SHORT)
    assert long is not None
    assert short is not None
    assert (long.qty, long.realized_pnl) == (D(0), D(1000))
    assert short.qty == D("-0.5")  # untouched
    state, _ = market(state, "buy", "0.5", SHORT, "51000")  # closes the short: -500
    short = state.position(SWAP, SHORT)
    assert short is not None
    assert (short.qty, short.realized_pnl) == (D(0), D(-500))
    fees = D(51000) * D("1.5") * MARKET.taker_fee
    assert state.total("USDT") == wallet + D(500) - fees


def test_a_closing_order_is_reduce_only_and_never_flips_its_side() -> None:
    state, _ = market(hedged(), "buy", "1", LONG, "50000")
    state, status = market(state, "sell", "3", LONG, "50000")  # more than the long holds
    assert status == CANCELED  # the rest had nothing left to reduce
    long = state.position(SWAP, LONG)
    assert long is not None
    assert long.qty == 0
    assert state.position(SWAP, SHORT) is None  # no short opened by it
    state, status = market(state, "buy", "1", SHORT, "50000")  # no short to close
    assert status == CANCELED
    assert state.position(SWAP, SHORT) is None


def test_reduce_only_on_an_opening_direction_has_nothing_to_reduce() -> None:
    state, _ = market(hedged(), "buy", "1", LONG, "50000")
    state, status = market(state, "buy", "1", LONG, "50000", reduce_only=True)
    assert status == CANCELED
    long = state.position(SWAP, LONG)
    assert long is not None
    assert long.qty == 1


def test_one_way_mode_nets_and_honours_reduce_only() -> None:
    state, _ = market(new_account(1), "buy", "1", BOTH, "50000")
    state, _ = market(state, "sell", "3", BOTH, "50000", reduce_only=True)
    net = state.position(SWAP)
    assert net is not None
    assert net.qty == 0
    assert state.positions.keys() == {SWAP}  # the key of one-way mode is the symbol


def test_a_position_side_the_mode_does_not_take_is_refused() -> None:
    with pytest.raises(PositionSideError, match="oneway"):
        market(new_account(1), "buy", "1", LONG, "50000")
    with pytest.raises(PositionSideError, match="hedge"):
        market(hedged(), "buy", "1", BOTH, "50000")
    spot = OrderRequest("BTC/USDT", "buy", "market", D("0.1"), position_side=SHORT)
    with pytest.raises(PositionSideError, match="spot"):
        place_order(new_account(1), spot, VENUE, make_quote(VENUE.markets.get("BTC/USDT"),
                    D(50000), VENUE.book), 0)  # fmt: skip


def test_closes_names_the_closing_directions() -> None:
    assert closes("sell", LONG)
    assert closes("buy", SHORT)
    assert not closes("buy", LONG)
    assert not closes("sell", SHORT)
    assert not closes("sell", BOTH)
    assert not closes("buy", BOTH)


def test_switching_mode_is_refused_with_positions_or_open_orders() -> None:
    state = new_account(1)
    assert set_position_mode(state, VENUE, ONE_WAY).state is state  # the mode it has: no-op
    with pytest.raises(BadRequestError, match="oneway or hedge"):
        set_position_mode(state, VENUE, "both")
    held, _ = market(state, "buy", "1", BOTH, "50000")
    with pytest.raises(BadRequestError, match=POSITION_EXISTS):
        set_position_mode(held, VENUE, HEDGE)
    resting = place_order(state, OrderRequest(SWAP, "buy", "limit", D("0.1"), D(40000)), VENUE,
                          quote("50000"), 0).state  # fmt: skip
    with pytest.raises(BadRequestError, match=ORDERS_EXIST):
        set_position_mode(resting, VENUE, HEDGE)
    hedge_held, _ = market(hedged(), "sell", "1", SHORT, "50000")
    with pytest.raises(BadRequestError, match=POSITION_EXISTS):
        set_position_mode(hedge_held, VENUE, ONE_WAY)


def test_switching_when_flat_drops_the_flat_rows() -> None:
    state, _ = market(hedged(), "buy", "1", LONG, "50000")
    state, _ = market(state, "sell", "1", LONG, "50000")
    assert position_key(SWAP, LONG) in state.positions  # flat, kept until the switch
    back = set_position_mode(state, VENUE, ONE_WAY).state
    assert back.position_mode == ONE_WAY
    assert dict(back.positions) == {}


def test_a_resting_close_holds_nothing_and_fills_its_side() -> None:
    state, _ = market(hedged(), "buy", "1", LONG, "50000")
    state, _ = market(state, "sell", "1", SHORT, "50000")
    placed = place_order(state, OrderRequest(SWAP, "sell", "limit", D(1), D(52000),
                                             position_side=LONG), VENUE, quote("50000"), 0)  # fmt: skip
    order = placed.orders[0]
    assert order.status == OPEN
    assert order.reduce_only
    assert order.reserved == 0
    matched = apply_price(placed.state, VENUE, quote("52000", seq=1), 1)
    assert matched.fills
    assert matched.fills[0].position_side == LONG
    long, short = matched.state.position(SWAP, LONG), matched.state.position(SWAP, SHORT)
    assert long is not None
    assert long.qty == 0
    assert long.realized_pnl == D(2000)
    assert short is not None
    assert short.qty == -1


def test_leverage_applies_to_both_sides() -> None:
    state, _ = market(hedged(), "buy", "1", LONG, "50000")
    state, _ = market(state, "sell", "1", SHORT, "50000")
    after = set_leverage(state, VENUE, SWAP, 20).state
    assert {p.leverage for p in after.positions_of(SWAP)} == {20}


def test_funding_charges_each_side() -> None:
    state, _ = market(hedged(), "buy", "2", LONG, "50000")
    state, _ = market(state, "sell", "1", SHORT, "50000")
    outcome, payments, _ = apply_funding(state, VENUE, 1, {SWAP: D(50000)}, {SWAP: D("0.0001")})
    assert sorted(p.amount for p in payments) == [D(-10), D(5)]  # the long pays, the short gets
    assert outcome.state.total("USDT") == state.total("USDT") - D(5)


def test_adjust_position_sets_one_side() -> None:
    state = adjust_position(hedged(), VENUE, SWAP, D("-2"), D(50000), 0, SHORT).state
    short = state.position(SWAP, SHORT)
    assert short is not None
    assert short.qty == -2
    assert state.position(SWAP, LONG) is None
    with pytest.raises(PositionSideError):
        adjust_position(state, VENUE, SWAP, D(1), D(50000), 0)  # BOTH in hedge mode
