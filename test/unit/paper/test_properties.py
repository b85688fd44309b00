"""Hypothesis properties of the matching core: balances never negative, fills bounded by order
qty and book volume, fees follow the schedule, the same seed gives the same fills."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.oms.domain.money import quantize
from apps.paper.domain import ledger
from apps.paper.domain.book import BookConfig, make_quote
from apps.paper.domain.errors import PaperError
from apps.paper.domain.matching import Venue, apply_price, cancel_order, place_order
from apps.paper.domain.prices import random_walk_step
from apps.paper.domain.state import OrderRequest, PaperOrder, VenueAccount, VenueFill, new_account

D = Decimal
SYMBOLS = ("BTC/USDT", "ETH/USDT", "BTC/USDT:USDT")
VENUES = (
    Venue(),
    Venue(book=BookConfig(spread_bps=D(8), level_volume=D("0.3"), resting_volume=D("0.2"))),
)

place = st.tuples(
    st.just("place"), st.sampled_from(SYMBOLS), st.sampled_from(("buy", "sell")),
    st.sampled_from(("market", "limit")), st.integers(1, 40), st.integers(-30, 30),
    st.sampled_from(("GTC", "GTC", "IOC", "FOK", "PO")),
)
move = st.tuples(st.just("price"), st.sampled_from(SYMBOLS), st.integers(0, 10**6))
cancel = st.tuples(st.just("cancel"), st.integers(0, 20))
events = st.lists(st.one_of(place, move, cancel), min_size=1, max_size=40)


@dataclass
class Run:
    state: VenueAccount
    fills: list[VenueFill]
    orders: dict[str, PaperOrder]


def run(venue: Venue, seed: int, script: list[tuple[object, ...]]) -> Run:
    """Apply a script of events to a fresh account; prices move by a seeded random walk."""
    state = new_account(1, {"USDT": D(20000), "BTC": D("0.5"), "ETH": D(3)})
    prices = {s: venue.markets.default_price(s) for s in SYMBOLS}
    seqs = dict.fromkeys(SYMBOLS, 1)
    result = Run(state, [], {})
    for step, event in enumerate(script):
        outcome = _step(result.state, venue, seed, step, event, prices, seqs)
        if outcome is None:
            continue
        result.state = outcome.state
        result.fills.extend(outcome.fills)
        result.orders.update({o.order_id: o for o in outcome.orders})
        _check_balances(result.state, venue)
    return result


def _step(state, venue, seed, step, event, prices, seqs):  # type: ignore[no-untyped-def]
    kind = event[0]
    now = 1_760_000_000_000 + step
    try:
        if kind == "price":
            symbol = str(event[1])
            market = venue.markets.get(symbol)
            prices[symbol] = random_walk_step(
                prices[symbol], seed, symbol, step, D(60), market.price_step
            )
            seqs[symbol] += 1
            q = make_quote(market, prices[symbol], venue.book, seq=seqs[symbol], timestamp_ms=now)
            return apply_price(state, venue, q, now)
        if kind == "cancel":
            open_ids = sorted(state.open_orders)
            if not open_ids:
                return None
            return cancel_order(state, open_ids[int(event[1]) % len(open_ids)], now)
        _, symbol, side, type_, units, offset, tif = event
        market = venue.markets.get(str(symbol))
        q = make_quote(market, prices[str(symbol)], venue.book, seq=seqs[str(symbol)])
        price = None
        if type_ == "limit":
            price = q.last + market.price_step * 10 * int(offset)  # type: ignore[call-overload]
        post_only = tif == "PO"
        request = OrderRequest(
            str(symbol), str(side), str(type_), market.amount_step * 10 * int(units),  # type: ignore[call-overload]
            price, None, "GTC" if type_ == "market" else str(tif), post_only and type_ == "limit",
        )
        return place_order(state, request, venue, q, now)
    except PaperError:
        return None


def _check_balances(state: VenueAccount, venue: Venue) -> None:
    markets = dict(venue.by_symbol)
    for currency in ("BTC", "ETH"):
        assert state.total(currency) >= 0
        assert state.total(currency) - ledger.used(state, currency, markets) >= 0
    if not state.positions:
        # Perpetual losses can take the wallet below zero: liquidation is not modelled.
        assert state.total("USDT") >= 0
        assert state.total("USDT") - ledger.used(state, "USDT", markets) >= 0


@settings(max_examples=60, deadline=None)
@given(venue=st.sampled_from(VENUES), seed=st.integers(0, 2**32), script=events)
def test_balances_never_negative_and_fills_bounded(
    venue: Venue, seed: int, script: list[tuple[object, ...]]
) -> None:
    result = run(venue, seed, script)
    filled: dict[str, Decimal] = {}
    for fill in result.fills:
        filled[fill.order_id] = filled.get(fill.order_id, D(0)) + fill.qty
        order = result.orders[fill.order_id]
        assert fill.qty > 0
        if venue.book.level_volume is not None and fill.taker_or_maker == "taker":
            assert fill.qty <= venue.book.level_volume
        if venue.book.resting_volume is not None and fill.taker_or_maker == "maker":
            assert fill.qty <= venue.book.resting_volume
        assert filled[fill.order_id] <= order.qty
    for order_id, qty in filled.items():
        assert result.orders[order_id].filled == qty


@settings(max_examples=40, deadline=None)
@given(venue=st.sampled_from(VENUES), seed=st.integers(0, 2**32), script=events)
def test_fees_match_the_schedule(venue: Venue, seed: int, script: list[tuple[object, ...]]) -> None:
    for fill in run(venue, seed, script).fills:
        market = venue.markets.get(fill.symbol)
        rate = market.taker_fee if fill.taker_or_maker == "taker" else market.maker_fee
        assert fill.cost == fill.qty * fill.price * market.contract_size
        assert fill.fee == quantize(fill.cost * rate)
        assert fill.fee_currency == "USDT"


@settings(max_examples=25, deadline=None)
@given(venue=st.sampled_from(VENUES), seed=st.integers(0, 2**32), script=events)
def test_same_seed_same_fills(venue: Venue, seed: int, script: list[tuple[object, ...]]) -> None:
    first = run(venue, seed, script)
    second = run(venue, seed, script)
    assert first.fills == second.fills
    assert first.state == second.state
