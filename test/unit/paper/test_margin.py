"""Margin modes, leverage tiers and liquidation prices of paper perpetuals (pure core): the pinned
tier table and worked examples of docs/paper-venue.md, hypothesis properties of the arithmetic,
and the rules of `set_margin_mode` / `set_leverage`."""

from __future__ import annotations

import itertools
from decimal import Decimal
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.oms.domain.money import money_context, quantize
from apps.paper.domain.book import make_quote
from apps.paper.domain.errors import BadRequestError, InvalidOrderError
from apps.paper.domain.leverage import set_leverage
from apps.paper.domain.margin import (
    isolated_margin,
    liquidation_price,
    margins,
    set_margin_mode,
)
from apps.paper.domain.matching import Venue, place_order
from apps.paper.domain.state import (
    CROSS,
    ISOLATED,
    OrderRequest,
    VenueAccount,
    VenuePosition,
    new_account,
)
from apps.paper.domain.tiers import (
    DEFAULT_TIERS,
    leverage_tiers,
    maintenance_margin,
    max_leverage_for,
    tier_for,
)

D = Decimal
SWAP = "BTC/USDT:USDT"
MARKET = Venue().markets.get(SWAP)


def position(qty: str, entry: str, leverage: int = 10) -> VenuePosition:
    return VenuePosition(SWAP, qty=D(qty), entry_price=D(entry), leverage=leverage)


# --- the tier table -------------------------------------------------------------------------

def test_default_tier_table_is_pinned() -> None:
    """The table of docs/paper-venue.md (maintenance rate 0.5 %, max leverage 100)."""
    rows = [(t.tier, t.min_notional, t.max_notional, t.maintenance_rate, t.max_leverage,
             t.maintenance_amount) for t in DEFAULT_TIERS]  # fmt: skip
    assert rows == [
        (1, D(0), D(250_000), D("0.005"), 100, D(0)),
        (2, D(250_000), D(1_000_000), D("0.010"), 50, D(1_250)),
        (3, D(1_000_000), D(5_000_000), D("0.025"), 20, D(16_250)),
        (4, D(5_000_000), D(20_000_000), D("0.050"), 10, D(141_250)),
        (5, D(20_000_000), D(100_000_000), D("0.125"), 4, D(1_641_250)),
    ]
    assert tier_for(DEFAULT_TIERS, D(249_999)).tier == 1
    assert tier_for(DEFAULT_TIERS, D(250_000)).tier == 2  # floor inclusive, cap exclusive
    assert tier_for(DEFAULT_TIERS, D(10) ** 12).tier == 5  # beyond the last cap: the last tier
    assert max_leverage_for(DEFAULT_TIERS, D(300_000)) == 50


@given(rate=st.decimals(D("0.001"), D("0.02"), places=4))
def test_maintenance_is_continuous_at_every_tier_boundary(rate: Decimal) -> None:
    tiers = leverage_tiers(rate)
    for below, above in itertools.pairwise(tiers):
        edge = above.min_notional
        assert below.maintenance(edge) == above.maintenance(edge)
        assert above.maintenance_rate > below.maintenance_rate
        assert above.max_leverage < below.max_leverage


@given(a=st.integers(0, 10**9), b=st.integers(0, 10**9))
def test_maintenance_never_decreases_with_notional(a: int, b: int) -> None:
    low, high = sorted((D(a), D(b)))
    assert D(0) <= maintenance_margin(DEFAULT_TIERS, low) <= maintenance_margin(DEFAULT_TIERS, high)


def test_every_tier_needs_less_maintenance_than_its_initial_margin() -> None:
    """At a tier's max leverage the initial margin exceeds the maintenance margin."""
    for tier in DEFAULT_TIERS:
        assert tier.maintenance_rate < D(1) / tier.max_leverage


# --- margins and liquidation prices: worked examples ----------------------------------------

def test_isolated_long_worked_example() -> None:
    """1 BTC long at 50,000, leverage 10, isolated: margin 5,000, liquidation at
    (50,000 - 5,000) / (1 - 0.005) = 45,226.13..., whatever the wallet holds."""
    p = position("1", "50000")
    assert isolated_margin(p, MARKET) == D(5000)
    figures = margins(p, MARKET, D(48000), ISOLATED, D(100_000), DEFAULT_TIERS)
    assert figures.collateral == D(5000)
    assert figures.initial == D(4800)
    assert figures.maintenance == D(240)  # 48,000 x 0.5 %
    assert figures.unrealized == D(-2000)
    assert figures.ratio == quantize(D(240) / D(3000))
    assert figures.liquidation_price == D("45226.130653266331658291")
    cross = margins(p, MARKET, D(48000), CROSS, D(100_000), DEFAULT_TIERS)
    assert cross.collateral == D(100_000)
    assert cross.liquidation_price is None  # a long smaller than the wallet is never liquidated


def test_isolated_short_worked_example() -> None:
    """1 BTC short at 50,000, leverage 10: (5,000 + 50,000) / (1 + 0.005) = 54,726.37..."""
    p = position("-1", "50000")
    assert liquidation_price(p, MARKET, isolated_margin(p, MARKET), DEFAULT_TIERS) == D(
        "54726.368159203980099502")


def test_tier_two_worked_example() -> None:
    """10 BTC long at 50,000 (500,000 notional), leverage 20, isolated: margin 25,000; at the
    liquidation price the notional is in tier 2 (1 %, cum 1,250):
    (500,000 - 25,000 - 1,250) / (10 x 0.99) = 47,853.53..."""
    p = position("10", "50000", leverage=20)
    price = liquidation_price(p, MARKET, isolated_margin(p, MARKET), DEFAULT_TIERS)
    assert price == D("47853.535353535353535354")
    assert tier_for(DEFAULT_TIERS, 10 * price).tier == 2
    figures = margins(p, MARKET, D(50000), ISOLATED, D(0), DEFAULT_TIERS)
    assert figures.maintenance == D(3750)  # 500,000 x 1 % - 1,250
    assert figures.maintenance_rate == D("0.010")


def test_cross_is_unchanged_within_tier_one() -> None:
    """Cross uses the wallet; within tier 1 the price is the flat-rate formula of before."""
    p = position("2", "50000")
    wallet = D(20000)
    before = quantize((2 * D(50000) - wallet) / (2 * (1 - D("0.005"))))
    assert liquidation_price(p, MARKET, wallet, DEFAULT_TIERS) == before


# --- liquidation price properties -------------------------------------------------------------

def allowed(qty: Decimal, entry: int, leverage: int, short: bool) -> VenuePosition:
    """A position at a leverage its tier allows (what `set_leverage` enforces)."""
    top = max_leverage_for(DEFAULT_TIERS, qty * entry)
    return position(str(-qty if short else qty), str(entry), min(leverage, top))


positions = st.builds(allowed, st.decimals(D("0.0001"), D(2000), places=4),
                      st.integers(100, 200_000), st.integers(1, 100), st.booleans())


@given(p=positions, wallet=st.integers(0, 10**7), cross=st.booleans())
def test_liquidation_price_is_where_equity_meets_maintenance(
    p: VenuePosition, wallet: int, cross: bool
) -> None:
    """At the reported price the backing plus unrealised PnL equals the maintenance margin of
    that price's tier (up to the 18-place rounding); a little further in the adverse direction
    it is below, a little on the other side above."""
    backing = D(wallet) if cross else isolated_margin(p, MARKET)
    price = liquidation_price(p, MARKET, backing, DEFAULT_TIERS)
    if price is None:
        assert p.qty > 0  # only a long backed by more than it can lose has none
        return
    with money_context():
        size = abs(p.qty)

        def gap(mark: Decimal) -> Decimal:
            equity = backing + (mark - p.entry_price) * p.qty
            return equity - maintenance_margin(DEFAULT_TIERS, size * mark)

        assert abs(gap(price)) <= size * D("1e-17")
        step = price * D("1e-9")
        adverse = -step if p.qty > 0 else step
        assert gap(price + adverse) < 0 < gap(price - adverse)


@given(p=positions, a=st.integers(0, 10**7), b=st.integers(0, 10**7))
def test_isolated_liquidation_ignores_the_wallet(p: VenuePosition, a: int, b: int) -> None:
    """An isolated position's figures depend on its own margin only."""
    mark = p.entry_price
    one = margins(p, MARKET, mark, ISOLATED, D(a), DEFAULT_TIERS)
    other = margins(p, MARKET, mark, ISOLATED, D(b), DEFAULT_TIERS)
    assert one == other
    assert one.collateral == isolated_margin(p, MARKET)


@given(p=positions)
def test_isolated_long_liquidates_below_entry_and_short_above(p: VenuePosition) -> None:
    price = liquidation_price(p, MARKET, isolated_margin(p, MARKET), DEFAULT_TIERS)
    if p.qty > 0:
        assert price is None or price < p.entry_price
    else:
        assert price is not None
        assert price > p.entry_price


# --- set_margin_mode and set_leverage -----------------------------------------------------------

def with_position(state: VenueAccount, qty: str, entry: str = "50000") -> VenueAccount:
    positions = {SWAP: position(qty, entry)}
    return VenueAccount(state.account_id, state.balances, {}, positions, state.next_seq,
                        state.leverage, state.leverages, state.margin_modes)  # fmt: skip


def test_set_margin_mode_when_flat_and_the_no_op() -> None:
    venue, state = Venue(), new_account(1)
    assert state.margin_mode_for(SWAP) == CROSS
    same = set_margin_mode(state, venue, SWAP, "cross")
    assert same.state is state  # the mode it has: nothing to write
    isolated = set_margin_mode(state, venue, SWAP, "ISOLATED").state
    assert isolated.margin_mode_for(SWAP) == ISOLATED
    assert isolated.margin_mode_for("ETH/USDT:USDT") == CROSS  # per symbol
    assert set_margin_mode(isolated, venue, SWAP, "isolated").state is isolated


def test_set_margin_mode_refusals() -> None:
    venue, state = Venue(), new_account(1)
    with pytest.raises(BadRequestError, match="swaps"):
        set_margin_mode(state, venue, "BTC/USDT", "isolated")
    with pytest.raises(BadRequestError, match="cross or isolated"):
        set_margin_mode(state, venue, SWAP, "portfolio")
    held = with_position(state, "0.5")
    with pytest.raises(BadRequestError, match="position is open"):
        set_margin_mode(held, venue, SWAP, "isolated")
    assert set_margin_mode(held, venue, SWAP, "cross").state is held  # same mode: fine
    assert set_margin_mode(held, venue, "ETH/USDT:USDT", "isolated").state.margin_modes == {
        "ETH/USDT:USDT": "isolated"}  # another symbol is free
    quote = make_quote(MARKET, D(50000), venue.book)
    resting = place_order(state, OrderRequest(SWAP, "buy", "limit", D("0.1"), D(40000)), venue,
                          quote, 0).state  # fmt: skip
    with pytest.raises(BadRequestError, match="open orders"):
        set_margin_mode(resting, venue, SWAP, "isolated")


def test_an_isolated_position_uses_the_same_used_margin() -> None:
    """Opening under isolated margin holds |qty| x entry / leverage, as cross does."""
    venue = Venue()
    quote = make_quote(MARKET, D(50000), venue.book)
    request = OrderRequest(SWAP, "buy", "market", D(1))
    cross = place_order(new_account(1), request, venue, quote, 0).state
    isolated_state = new_account(1)
    isolated_state = set_margin_mode(isolated_state, venue, SWAP, "isolated").state
    isolated = place_order(isolated_state, request, venue, quote, 0).state
    assert cross.balances == isolated.balances
    assert cross.positions == isolated.positions
    assert isolated.margin_modes == MappingProxyType({SWAP: "isolated"})


def test_set_leverage_is_bounded_by_the_tier_of_the_position() -> None:
    venue, state = Venue(), new_account(1, {"USDT": D(10**7)})
    with pytest.raises(InvalidOrderError, match="1 to 100"):
        set_leverage(state, venue, SWAP, 101)
    assert set_leverage(state, venue, SWAP, 100).state.leverage_for(SWAP) == 100
    big = with_position(state, "6")  # 300,000 at entry: tier 2, at most 50x
    with pytest.raises(InvalidOrderError, match="1 to 50"):
        set_leverage(big, venue, SWAP, 51)
    assert set_leverage(big, venue, SWAP, 50).state.positions[SWAP].leverage == 50
